/**
 * Members of the rendered dev stack as real containers: the image's own entrypoint (mariadb-docker 10.11) on a root
 * filesystem built like the official image, as uid 999 with a read-only root filesystem and no capabilities, with
 * the rendered volumes, env and probes, on a pod network where each pod's headless-Service name resolves. What the
 * demo's local "pods" cannot show: that the manifests work in containers as the image runs them (first start of an
 * empty datadir, accounts, readiness on first create), that member 1 seeds itself by cloning member 0 through its
 * donor sidecar, and that the engine, reaching each pod's loopback as a port-forward does (root exists only there),
 * sets up replication between the pods by their DNS names.
 */
import { execFile } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as mysql from "mysql2/promise";
import { renderStack } from "../../offline/render";
import { ContainerPod, podmanEnv } from "../../local/containers/pod";
import { freePort, sleep } from "../../local/mariadbd";
import { ACCOUNT_ROLES, inspect, mariadb, setup } from "../../components/replication";
import { ACCOUNTS, REPLICATION_USER, SECRET_KEYS } from "../../components/kubernetes/secret";

const run = promisify(execFile);
const BUILD = path.join(__dirname, "..", "..", "local", "containers", "build-rootfs.sh");

describe("members in real containers (podman, the image's entrypoint, a pod network)", () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-container-pods-"));
  const podman = (args: string[]) => run("podman", args, { env: podmanEnv(scratch) });
  const network = `mysql-ha-test-${randomInt(1, 250)}`;
  const subnet = `10.${randomInt(100, 200)}.${randomInt(1, 250)}`;
  const pods: ContainerPod[] = [];
  let rootfs = "";
  let statefulSet: any;
  let template: any;
  const configMaps: Record<string, Record<string, string>> = {};
  const secrets: Record<string, Record<string, string>> = {};
  const hosts: Record<string, string> = {};
  const names: string[] = [];
  const secret = (key: string) => Object.values(secrets).find((data) => data[key] !== undefined)![key];

  beforeAll(async () => {
    rootfs = (await run("bash", [BUILD], { timeout: 600_000, maxBuffer: 16 * 1024 * 1024 })).stdout
      .trim()
      .split("\n")
      .pop()!;
    // Certificates under mocks are placeholders, so these pods run without TLS.
    const rendered = await renderStack({ stack: "dev", set: { tls: "off" } });
    const byType = (type: string) => rendered.resources.filter((r) => r.type === type);
    statefulSet = byType("kubernetes:apps/v1:StatefulSet")[0].inputs;
    template = statefulSet.spec.template;
    for (const r of byType("kubernetes:core/v1:ConfigMap")) configMaps[r.inputs.metadata.name] = r.inputs.data ?? {};
    // On first create the placement names member 0 in the topology ConfigMap before any pod starts.
    configMaps[template.spec.volumes.find((v: any) => v.name === "topology").configMap.name] = { primary: "0" };
    // The Secret's values are generated (the render redacts them): every key any container reads.
    for (const c of [...template.spec.initContainers, ...template.spec.containers]) {
      for (const e of c.env ?? []) {
        const ref = e.valueFrom?.secretKeyRef;
        if (ref) (secrets[ref.name] ??= {})[ref.key] ??= randomBytes(18).toString("base64url").replace(/[-_]/g, "x");
      }
    }
    // The headless Service's names, as the seed container names its donors.
    const seedEnv = template.spec.initContainers.find((c: any) => c.name === "seed").env;
    const pattern = seedEnv.find((e: any) => e.name === "CLONE_DONOR_PATTERN").value as string;
    for (const ordinal of [0, 1]) {
      names.push(pattern.replace("%d", String(ordinal)));
      hosts[names[ordinal]] = `${subnet}.${10 + ordinal}`;
    }
    await podman(["network", "create", "--subnet", `${subnet}.0/24`, network]);
  }, 700_000);

  afterAll(async () => {
    for (const pod of pods) await pod.remove();
    await podman(["network", "rm", "-f", network]).catch(() => undefined);
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  const newPod = (ordinal: number) => {
    const pod = new ContainerPod({
      rootfs,
      template,
      configMaps,
      secrets,
      podName: `${statefulSet.metadata.name}-${ordinal}`,
      claims: statefulSet.spec.volumeClaimTemplates.map((c: any) => c.metadata.name),
      dir: path.join(scratch, `pod-${ordinal}`),
      network: { name: network, address: hosts[names[ordinal]], hosts },
    });
    pods.push(pod);
    return pod;
  };
  const ready = async (pod: ContainerPod, want: RegExp): Promise<string> => {
    let readiness = "";
    for (const deadline = Date.now() + 120_000; Date.now() < deadline; await sleep(1000)) {
      readiness = await pod.probe("mariadb", "readinessProbe").catch((e) => String(e.stdout ?? e.message));
      if (want.test(readiness)) break;
    }
    return readiness;
  };

  it("member 0 starts from an empty datadir as the image does: ready as the primary, root only on loopback, its accounts made", async () => {
    const pod = newPod(0);
    expect(await pod.runInit("init-server")).toMatch(/read_only=OFF \(primary ordinal: 0\)/);
    // No peer answers yet: member 0 starts empty, as on a stack's first start.
    expect(await pod.runInit("seed")).toMatch(/member 0 starts empty/);
    await pod.start("mariadb");
    const readiness = await ready(pod, /^ready/);
    const log = await pod.logs("mariadb");
    expect({ readiness, log: /^ready/.test(readiness) ? "" : log }).toEqual({
      readiness: "ready: primary (writable)\n",
      log: "",
    });
    expect(await pod.probe("mariadb", "livenessProbe")).toBe("");
    // The entrypoint ran our initdb script, after securing root.
    expect(log).toMatch(/running \/docker-entrypoint-initdb.d\/50-init-accounts.sh/);

    const sql = (query: string) =>
      pod.exec("mariadb", ["bash", "-c", `MYSQL_PWD="$MARIADB_ROOT_PASSWORD" mariadb -uroot -N -B -e "${query}"`]);
    expect(
      (await sql("SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = 'root' ORDER BY 1"))
        .split("\n")
        .filter(Boolean),
    ).toEqual(["root@127.0.0.1", "root@localhost"]);
    const users = (await sql("SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY 1")).split("\n");
    for (const u of [
      "mysql_ha_operator@%",
      "mysql_ha_backup@127.0.0.1",
      "mysql_ha_archiver@127.0.0.1",
      "mysql_ha_probe@127.0.0.1",
      "mysql_ha_metrics@127.0.0.1",
      "replication@%",
      "app@%",
    ]) {
      expect(users).toContain(u);
    }
    // The entrypoint's accounts were written with the binlog on: the member has history and is still Ready.
    expect((await sql("SELECT @@gtid_binlog_pos")).trim()).toMatch(/^0-1000-\d+$/);

    // The security context holds: uid 999, read-only root filesystem.
    expect((await pod.exec("mariadb", ["id", "-u"])).trim()).toBe("999");
    await expect(pod.exec("mariadb", ["touch", "/etc/mysql-ha-written"])).rejects.toThrow(/Read-only file system/);

    // The donor sidecar starts in the pod's network and passes its liveness check.
    await pod.start("clone-donor");
    let live = false;
    for (const deadline = Date.now() + 30_000; !live && Date.now() < deadline; await sleep(500)) {
      live = await pod.probe("clone-donor", "livenessProbe").then(
        () => true,
        () => false,
      );
    }
    expect({ live, log: live ? "" : await pod.logs("clone-donor") }).toEqual({ live: true, log: "" });
  }, 300_000);

  it("member 1 clones member 0 through its donor; the engine, through port-forwards as root, sets up replication by DNS name", async () => {
    const pod = newPod(1);
    expect(await pod.runInit("init-server")).toMatch(/read_only=ON \(primary ordinal: 0\)/);
    const seed = await pod.runInit("seed", 300_000);
    expect(seed).toMatch(new RegExp(`cloning from ${names[0].replace(/\./g, "\\.")}:4444`));
    expect(seed).toMatch(/^GTID=0-1000-\d+$/m);
    await pod.start("mariadb");
    expect(await ready(pod, /^ready/)).toBe("ready: new member waiting to be attached\n");

    // The engine as the providers run it: each pod's loopback through a port-forward, members named by DNS.
    const forwards = [await freePort(), await freePort()];
    await pods[0].portForward(3306, forwards[0]);
    await pod.portForward(3306, forwards[1]);
    const members = [0, 1].map((i) => ({
      host: "127.0.0.1",
      port: forwards[i],
      replicationHost: names[i],
      replicationPort: 3306,
    }));
    const settings = {
      admin: { user: "root", password: secret(SECRET_KEYS.root) },
      replication: { user: REPLICATION_USER, password: secret(SECRET_KEYS.replication) },
      accounts: ACCOUNT_ROLES.map((role) => ({
        role,
        user: ACCOUNTS[role].user,
        password: secret(ACCOUNTS[role].secretKey),
      })),
      semiSync: true,
      semiSyncTimeoutMs: 5000,
      deadlineMs: 60_000,
      flavor: mariadb,
    };
    await setup(members, 0, settings);
    const app = await mysql.createConnection({
      host: "127.0.0.1",
      port: forwards[0],
      user: "app",
      password: secret(SECRET_KEYS.app),
      database: "app",
    });
    await app.query("CREATE TABLE t (id INT PRIMARY KEY)");
    await app.query("INSERT INTO t VALUES (1), (2), (3)");
    await app.end();
    const t = await inspect(members, settings);
    expect(t.primary).toBe(0);
    expect(t.members[1].replica).toMatchObject({ sourceIndex: 0, ioThread: "running", sqlThread: "running" });
    expect(await ready(pod, /^ready: replica/)).toMatch(/^ready: replica, lag \d+s/);
    const replica = await mysql.createConnection({
      host: "127.0.0.1",
      port: forwards[1],
      user: "root",
      password: secret(SECRET_KEYS.root),
    });
    const [rows] = await replica.query("SELECT COUNT(*) AS n FROM app.t");
    await replica.end();
    expect((rows as Array<{ n: number }>)[0].n).toBe(3);
    // root is refused from anywhere but the pod's loopback: the pod network's address of the host is not one.
    const direct = await mysql
      .createConnection({ host: hosts[names[0]], port: 3306, user: "root", password: secret(SECRET_KEYS.root) })
      .then(
        async (c) => (await c.end(), "connected"),
        (e: Error) => e.message,
      );
    expect(direct).toMatch(/Access denied for user 'root'@'10\./);
  }, 600_000);
});
