/**
 * The agent bundle as the cluster runs it: built from the sources (scripts/agent-bundle.ts), carried compressed in
 * the ConfigMap, unpacked by the Deployment's own init container command, then run by plain `node` in a directory
 * with no node_modules anywhere above it (os.tmpdir()).
 */
import { execFile, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as zlib from "node:zlib";
import { validateConfig } from "../../components/config";
import { AGENT_BUNDLE_KEY, buildAgentDeployment } from "../../components/kubernetes/agent";
import { objectNames } from "../../components/kubernetes/names";
import { applyProgramObjects, memberStandin } from "../connectors/program-objects";
import { AgentBundle, agentBundle, buildBundle, CONFIGMAP_LIMIT_BYTES } from "../../scripts/agent-bundle";
import { TLS_PATHS } from "../../components/kubernetes/tls";
import { makeCa } from "../replication/certificates";

function run(
  file: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [file, ...args],
      { cwd: options.cwd, env: { PATH: process.env.PATH!, ...options.env } },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe("the agent bundle", () => {
  let bundle: AgentBundle;
  let dir: string;
  let script: string;

  beforeAll(async () => {
    bundle = await agentBundle();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-bundle-"));
    fs.mkdirSync(path.join(dir, "configmap"));
    fs.mkdirSync(path.join(dir, "app"));
    fs.writeFileSync(path.join(dir, "configmap", AGENT_BUNDLE_KEY), Buffer.from(bundle.brotliBase64, "base64"));
    script = path.join(dir, "app", "mysql-ha.js");
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  const podSpec = (sha256: string) => {
    const { settings } = validateConfig({ namespace: "db" });
    return (
      buildAgentDeployment({
        name: "mysql",
        names: objectNames("mysql"),
        settings: settings!,
        bundleSha256: sha256,
      }) as any
    ).spec.template.spec;
  };

  /** The Deployment's init container, run as the pod runs it with its paths moved into `dir`. */
  function unpack(sha256: string) {
    const [init] = podSpec(sha256).initContainers;
    const env = {
      BUNDLE_IN: path.join(dir, "configmap", AGENT_BUNDLE_KEY),
      BUNDLE_OUT: script,
      BUNDLE_SHA256: init.env.find((e: any) => e.name === "BUNDLE_SHA256").value,
    };
    expect(init.command.slice(0, 2)).toEqual(["node", "-e"]);
    return new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        init.command.slice(1),
        { cwd: dir, env: { PATH: process.env.PATH!, ...env } },
        (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
  }

  test("fits a ConfigMap: its base64 is under 1 MiB, and it is the bundle its sha256 names", () => {
    expect(bundle.brotliBase64.length).toBeLessThan(CONFIGMAP_LIMIT_BYTES);
    const js = zlib.brotliDecompressSync(Buffer.from(bundle.brotliBase64, "base64"));
    expect(js.length).toBe(bundle.bytes);
    expect(createHash("sha256").update(js).digest("hex")).toBe(bundle.sha256);
  });

  test("the init container refuses a bundle other than the one the pod template names", async () => {
    const r = await unpack("0".repeat(64));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`agent bundle sha256 ${bundle.sha256}, expected ${"0".repeat(64)}`);
    expect(fs.existsSync(script)).toBe(false);
  });

  test("unpacked by the init container, it runs `--help` and `agent --help` with no node_modules", async () => {
    expect((await unpack(bundle.sha256)).code).toBe(0);
    const help = await run(script, ["--help"], { cwd: dir });
    expect(help).toMatchObject({ code: 0, stderr: "" });
    expect(help.stdout).toMatch(/^\s+agent\s+\S/m);
    const agentHelp = await run(script, ["agent", "--help"], { cwd: dir });
    expect(agentHelp).toMatchObject({ code: 0, stderr: "" });
    expect(agentHelp.stdout).toContain("Usage: mysql-ha agent");
    expect(agentHelp.stdout).toContain("--metrics-port");
  });

  test("the bundled agent accepts the Deployment's command; outside a pod it stops only for want of the in-cluster API", async () => {
    const [container] = podSpec(bundle.sha256).containers;
    expect(container.command.slice(0, 2)).toEqual(["node", "/opt/mysql-ha/mysql-ha.js"]);
    // The CA the pod mounts from the TLS Secret, here a real one in the test's directory.
    const ca = await makeCa("bundle");
    const command = container.command.slice(2).map((a: string) => (a === TLS_PATHS.ca ? ca.caPath : a));
    expect(command.filter((a: string) => a === ca.caPath)).toHaveLength(2);
    const r = await run(script, command, {
      cwd: dir,
      env: { MYSQL_HA_PASSWORD: "x", MYSQL_HA_REPLICATION_PASSWORD: "y" },
    }).finally(() => ca.remove());
    expect(r.code).toBe(1); // 2 would be a usage error
    expect(r.stderr).toMatch(/not running in a pod: KUBERNETES_SERVICE_HOST/);
  });

  test("the bundled agent starts and answers /healthz on --metrics-port", async () => {
    const port = await freePort();
    const agent = spawn(
      process.execPath,
      [
        script,
        "agent",
        "--members",
        "127.0.0.1:9,127.0.0.1:10",
        "--interval-ms",
        "200",
        "--metrics-port",
        String(port),
      ],
      {
        cwd: dir,
        env: {
          PATH: process.env.PATH!,
          MYSQL_HA_USER: "root",
          MYSQL_HA_PASSWORD: "x",
          MYSQL_HA_REPLICATION_USER: "replication",
          MYSQL_HA_REPLICATION_PASSWORD: "y",
        },
      },
    );
    let stdout = "";
    let stderr = "";
    agent.stdout.on("data", (d) => (stdout += d));
    agent.stderr.on("data", (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => agent.on("exit", resolve));
    try {
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect([status, stderr]).toEqual([200, ""]);
    } finally {
      agent.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    const events = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line).event);
    expect(events[0]).toBe("started");
    expect(events).toContain("stopped");
  });

  test("commands that need a checkout fail naming what the bundle leaves out", async () => {
    const demo = await run(script, ["demo"], { cwd: dir });
    expect(demo.code).toBe(1);
    expect(demo.stderr).toContain("local/demo/scenario is not in the agent bundle");
  });
});

describe("bundled code", () => {
  test("reaches the Kubernetes API through the bundled @kubernetes/client-node (an ES module loaded at run time in the sources)", async () => {
    const api = memberStandin();
    await api.start();
    await applyProgramObjects(api);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "agent-bundle-probe-"));
    try {
      const { js, metafile } = await buildBundle("test/kubernetes/fixtures/point-primary.ts");
      expect(Object.keys(metafile.inputs).some((f) => f.includes("node_modules/@kubernetes/client-node/"))).toBe(true);
      fs.writeFileSync(path.join(dir, "probe.js"), js);
      const r = await run(path.join(dir, "probe.js"), [], { cwd: dir, env: { KUBECONFIG_JSON: api.kubeconfig() } });
      expect(r).toMatchObject({
        code: 0,
        stdout: "pointed at 2; labelled mysql-0 replica, mysql-1 replica, mysql-2 primary\n",
      });
      expect(api.configMaps.get("mysql-topology")).toEqual({ primary: "2" });
      expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-2"]);
    } finally {
      await api.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
