/**
 * The stand-in pods' network: per-pod loopback addresses, and cluster names that resolve only inside the pods'
 * processes, as long as the pod exists.
 */
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { PodNetwork } from "../../local/pod-network";

const run = promisify(execFile);

describe("pod network", () => {
  const network = new PodNetwork();
  let server: net.Server | undefined;
  afterAll(() => {
    server?.close();
    network.close();
  });

  it("a pod's name reaches its own address from inside a pod, is unknown outside, and goes with the pod", async () => {
    const address = network.address(1);
    expect(address).toMatch(/^127\.\d+\.\d+\.2$/);
    server = net.createServer((socket) => socket.end("hello\n"));
    await new Promise<void>((resolve) => server!.listen(4444, address, resolve));
    const name = "mysql-1.mysql-headless.db.svc";
    network.add(name, address);

    const inPod = (script: string) => {
      const { command, args } = network.wrap("bash", ["-c", script]);
      return run(command, args);
    };
    const { stdout } = await inPod(`exec 3<>/dev/tcp/${name}/4444 && head -n1 <&3`);
    expect(stdout).toBe("hello\n");
    await expect(run("getent", ["hosts", name])).rejects.toMatchObject({ code: 2 });

    // A process that was already running sees the name go too (the file is rewritten in place, under its bind mount).
    // It resolves the name, says so (a file), and looks it up again once told the pod is gone: no guessed delays.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-podnet-"));
    const [seen, gone] = [path.join(dir, "seen"), path.join(dir, "gone")];
    const { command, args } = network.wrap("bash", [
      "-c",
      `getent hosts ${name} >/dev/null || exit 9; touch ${seen}; until [ -e ${gone} ]; do sleep 0.02; done; getent hosts ${name}`,
    ]);
    const running = run(command, args);
    for (let i = 0; !fs.existsSync(seen) && i < 500; i++) await new Promise((r) => setTimeout(r, 20));
    network.remove(name);
    fs.writeFileSync(gone, "");
    await expect(running).rejects.toMatchObject({ code: 2 });
    fs.rmSync(dir, { recursive: true, force: true });
    await expect(inPod(`getent hosts ${name}`)).rejects.toMatchObject({ code: 2 });
    // Other pods' addresses are distinct; the host's own names still resolve inside.
    expect(new Set([0, 1, 2].map((i) => network.address(i))).size).toBe(3);
    expect((await inPod("getent hosts localhost")).stdout).toMatch(/^127\.0\.0\.1\s+localhost/);
  });
});
