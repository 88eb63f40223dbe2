/**
 * Member 0 of the rendered dev stack as real containers: the image's own entrypoint (mariadb-docker 10.11) on a
 * root filesystem built like the official image, as uid 999 with a read-only root filesystem, no capabilities, the
 * rendered volumes, env and probes. What the local "pods" of the demo cannot show: that the manifests work in a
 * container as the image runs them (first start of an empty datadir, accounts, readiness on first create).
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { renderStack } from "../../offline/render";
import { ContainerPod } from "../../local/containers/pod";
import { sleep } from "../../local/mariadbd";

const run = promisify(execFile);
const BUILD = path.join(__dirname, "..", "..", "local", "containers", "build-rootfs.sh");

describe("member 0 in real containers (podman, the image's entrypoint)", () => {
  let pod: ContainerPod | undefined;
  afterAll(async () => pod?.remove());

  it("starts from an empty datadir as the image does, ready as the primary, root only on loopback, its accounts made", async () => {
    const rootfs = (await run("bash", [BUILD], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 })).stdout.trim().split("\n").pop()!;
    // Certificates under mocks are placeholders, so this pod runs without TLS.
    const rendered = await renderStack({ stack: "dev", set: { tls: "off" } });
    const byType = (type: string) => rendered.resources.filter((r) => r.type === type);
    const statefulSet = byType("kubernetes:apps/v1:StatefulSet")[0].inputs;
    const template = statefulSet.spec.template;
    const configMaps: Record<string, Record<string, string>> = Object.fromEntries(
      byType("kubernetes:core/v1:ConfigMap").map((r) => [r.inputs.metadata.name, r.inputs.data ?? {}]),
    );
    // On first create the placement names member 0 in the topology ConfigMap before any pod starts.
    const topology = template.spec.volumes.find((v: any) => v.name === "topology").configMap.name;
    configMaps[topology] = { primary: "0" };
    // The Secret's values are generated (the render redacts them): every key any container reads.
    const secrets: Record<string, Record<string, string>> = {};
    for (const c of [...template.spec.initContainers, ...template.spec.containers]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) (secrets[ref.name] ??= {})[ref.key] ??= randomBytes(18).toString("base64url").replace(/[-_]/g, "x");
      }
    }
    const podName = `${statefulSet.metadata.name}-0`;
    pod = new ContainerPod({
      rootfs, template, podName, configMaps, secrets,
      claims: statefulSet.spec.volumeClaimTemplates.map((c: any) => c.metadata.name),
      dir: fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-container-pod-")),
    });

    expect(await pod.runInit("init-server")).toMatch(/read_only=OFF \(primary ordinal: 0\)/);
    // No peer has a name in this pod's network: member 0 starts empty, as on a stack's first start.
    expect(await pod.runInit("seed")).toMatch(/member 0 starts empty/);
    await pod.start("mariadb");

    let readiness = "";
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(1000)) {
      readiness = await pod.probe("mariadb", "readinessProbe").catch((e) => String(e.stdout ?? e.message));
      if (/^ready/.test(readiness)) break;
    }
    const log = await pod.logs("mariadb");
    expect({ readiness, log: /^ready/.test(readiness) ? "" : log }).toEqual({ readiness: "ready: primary (writable)\n", log: "" });
    expect(await pod.probe("mariadb", "livenessProbe")).toBe("");
    // The entrypoint ran our initdb script, after securing root.
    expect(log).toMatch(/running \/docker-entrypoint-initdb.d\/50-init-accounts.sh/);

    const sql = (query: string) => pod!.exec("mariadb", ["bash", "-c", `MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -B -e "${query}"`]);
    expect((await sql("SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User IN ('root') ORDER BY 1")).split("\n").filter(Boolean))
      .toEqual(["root@127.0.0.1", "root@localhost"]);
    const users = (await sql("SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY 1")).split("\n");
    for (const u of ["mysql_ha_operator@%", "mysql_ha_backup@127.0.0.1", "mysql_ha_archiver@127.0.0.1", "mysql_ha_probe@127.0.0.1", "mysql_ha_metrics@127.0.0.1", "replication@%", "app@%"]) {
      expect(users).toContain(u);
    }
    // The entrypoint's accounts were written with the binlog on (finding 1): the member has history and is still Ready.
    expect((await sql("SELECT @@gtid_binlog_pos")).trim()).toMatch(/^0-1000-\d+$/);

    // The security context holds: uid 999, read-only root filesystem.
    expect((await pod.exec("mariadb", ["id", "-u"])).trim()).toBe("999");
    await expect(pod.exec("mariadb", ["touch", "/etc/mysql-ha-written"])).rejects.toThrow(/Read-only file system/);

    // The donor sidecar starts in the pod's network and passes its liveness check.
    await pod.start("clone-donor");
    for (const deadline = Date.now() + 30_000; ; await sleep(500)) {
      const ok = await pod.probe("clone-donor", "livenessProbe").then(() => true, () => false);
      if (ok || Date.now() > deadline) {
        expect({ donorLive: ok, log: ok ? "" : await pod.logs("clone-donor") }).toEqual({ donorLive: true, log: "" });
        break;
      }
    }
  });
});
