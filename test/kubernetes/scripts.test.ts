import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { destroyAll, LocalServer, REPLICATION_OPTIONS, sleep, startServers } from "../../local/mariadbd";
import { SCRIPTS_DIR } from "../../components/kubernetes/scripts";

function run(script: string, env: Record<string, string>) {
  const r = spawnSync("bash", [path.join(SCRIPTS_DIR, script)], {
    env: { PATH: process.env.PATH!, ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  return { status: r.status, out: (r.stdout + r.stderr).trim() };
}

describe("init-server.sh", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-init-"));
    fs.mkdirSync(path.join(dir, "config"));
    fs.writeFileSync(path.join(dir, "config", "50-shared.cnf"), "[mariadb]\nlog_bin = mysql-bin\n");
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const init = (pod: string, primary?: string, semiSync = "true") => {
    const topology = path.join(dir, "topology-primary");
    if (primary !== undefined) fs.writeFileSync(topology, `${primary}\n`);
    const r = run("init-server.sh", {
      POD_NAME: pod,
      SERVER_ID_BASE: "1000",
      SEMI_SYNC: semiSync,
      CONFIG_DIR: path.join(dir, "config"),
      TOPOLOGY_FILE: topology,
      CONF_OUT: path.join(dir, "conf.d"),
    });
    const member = fs.existsSync(path.join(dir, "conf.d", "90-member.cnf"))
      ? fs.readFileSync(path.join(dir, "conf.d", "90-member.cnf"), "utf8")
      : "";
    return { ...r, member };
  };

  it("derives server_id from the pod ordinal and makes only the named primary writable", () => {
    const primary = init("mysql-3", "3");
    expect(primary.status).toBe(0);
    expect(primary.member).toMatch(/server_id = 1003\nread_only = OFF/);
    expect(fs.readFileSync(path.join(dir, "conf.d", "50-shared.cnf"), "utf8")).toContain("log_bin");
    const replica = init("mysql-12", "3");
    expect(replica.member).toMatch(/server_id = 1012\nread_only = ON/);
  });

  it("turns on the primary side of semi-sync only on the named primary, and only when semi-sync is configured", () => {
    expect(init("mysql-1", "1").member).toContain("rpl_semi_sync_master_enabled = ON");
    expect(init("mysql-2", "1").member).toContain("rpl_semi_sync_master_enabled = OFF");
    expect(init("mysql-1", "1", "false").member).toContain("rpl_semi_sync_master_enabled = OFF");
  });

  it("starts every member read-only while no primary is known", () => {
    expect(init("mysql-0").member).toContain("read_only = ON");
  });

  it("fails with a clear message when the pod name has no ordinal", () => {
    const r = init("mysql");
    expect(r.status).not.toBe(0);
    expect(r.out).toContain("cannot read the member ordinal from pod name 'mysql'");
  });

  it("writes options the real mariadbd accepts", () => {
    init("mysql-2", "2");
    const r = spawnSync(
      "mariadbd",
      [`--defaults-file=${path.join(dir, "conf.d", "90-member.cnf")}`, "--verbose", "--help"],
      { encoding: "utf8" },
    );
    expect(r.stdout).toMatch(/^server-id\s+1002$/m);
    expect(r.stdout).toMatch(/^read-only\s+FALSE$/m);
  });
});

describe("probes against a real MariaDB", () => {
  let servers: LocalServer[] = [];
  afterEach(async () => destroyAll(servers));

  const probe = (s: LocalServer, script: string, extra: Record<string, string> = {}) =>
    run(script, {
      MYSQL_HA_HOST: s.host,
      MYSQL_HA_PORT: String(s.port),
      PROBE_USER: "root",
      MYSQL_PWD: s.adminPassword,
      ...extra,
    });

  async function replicate(replica: LocalServer, source: LocalServer, delaySeconds = 0) {
    await source.query("CREATE USER IF NOT EXISTS 'repl'@'%' IDENTIFIED BY 'repl-pw'");
    await source.query("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%'");
    await replica.query(`CHANGE MASTER TO MASTER_HOST='${source.host}', MASTER_PORT=${source.port}, MASTER_USER='repl',
      MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos, MASTER_DELAY=${delaySeconds}`);
    await replica.query("START SLAVE");
    for (let i = 0; i < 100; i++) {
      const [st] = await replica.query("SHOW SLAVE STATUS");
      if (st?.Slave_IO_Running === "Yes" && st?.Slave_SQL_Running === "Yes") return;
      await sleep(100);
    }
    throw new Error("replication did not start");
  }

  it("reports a writable primary, a fresh replica and a new member ready, and a fenced or broken one not ready", async () => {
    servers = await startServers(2, REPLICATION_OPTIONS, 500);
    const [a, b] = servers;

    expect(probe(a, "probe-readiness.sh")).toEqual({ status: 0, out: "ready: primary (writable)" });
    await b.query("SET GLOBAL read_only = 1");
    expect(probe(b, "probe-readiness.sh")).toEqual({ status: 0, out: "ready: new member waiting to be attached" });

    await replicate(b, a);
    await a.query("CREATE DATABASE probe_t");
    await sleep(300);
    expect(probe(b, "probe-readiness.sh")).toEqual({
      status: 0,
      out: expect.stringMatching(/^ready: replica, lag 0s$/),
    });

    await b.query("STOP SLAVE SQL_THREAD");
    expect(probe(b, "probe-readiness.sh")).toEqual({ status: 1, out: "not ready: replication threads io=Yes sql=No" });

    // The old primary, read-only with history of its own, user data and no source: fenced, out of the Services.
    await a.query("CREATE TABLE probe_t.t (id INT PRIMARY KEY)");
    await a.query("SET GLOBAL read_only = 1");
    expect(probe(a, "probe-readiness.sh")).toEqual({
      status: 1,
      out: expect.stringContaining("not ready: read-only and not replicating"),
    });
  });

  it("a member that started read-only after the image's entrypoint wrote accounts and an empty schema with the binlog on is ready (first create converges)", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS, 530);
    const [a] = servers;
    // What the official entrypoint leaves behind on a server with log-bin: binlogged CREATE DATABASE / USER / GRANT.
    await a.query("CREATE DATABASE app");
    await a.query("CREATE USER 'app'@'%' IDENTIFIED BY 'x'");
    await a.query("GRANT ALL ON app.* TO 'app'@'%'");
    await a.query("SET GLOBAL read_only = 1");
    expect((await a.query("SELECT @@gtid_binlog_pos AS p"))[0].p).not.toBe("");
    expect(probe(a, "probe-readiness.sh")).toEqual({
      status: 0,
      out: expect.stringMatching(/^ready: new member waiting to be attached/),
    });
  });

  it("a replica stays ready while its source is down (the read Service keeps serving), and readiness never waits for the primary", async () => {
    servers = await startServers(2, REPLICATION_OPTIONS, 540);
    const [a, b] = servers;
    await b.query("SET GLOBAL read_only = 1");
    await replicate(b, a);
    await b.query("STOP SLAVE");
    await b.query("CHANGE MASTER TO MASTER_CONNECT_RETRY = 1");
    await b.query("START SLAVE");
    await a.stop();
    let out = probe(b, "probe-readiness.sh");
    for (let i = 0; i < 50 && !out.out.includes("source unreachable"); i++) {
      await sleep(200);
      out = probe(b, "probe-readiness.sh");
    }
    expect(out).toEqual({
      status: 0,
      out: "ready: replica, source unreachable (io=Connecting); serving what it has applied",
    });
  });

  it("takes a replica lagging more than READ_MAX_LAG_SECONDS out of the read Service", async () => {
    servers = await startServers(2, REPLICATION_OPTIONS, 510);
    const [a, b] = servers;
    await b.query("SET GLOBAL read_only = 1");
    await replicate(b, a, 60);
    await a.query("CREATE DATABASE lag_t");
    await sleep(3500);
    const lagging = probe(b, "probe-readiness.sh", { READ_MAX_LAG_SECONDS: "2" });
    expect(lagging.status).toBe(1);
    expect(lagging.out).toMatch(/^not ready: replica lag \d+s > 2s$/);
    expect(probe(b, "probe-readiness.sh", { READ_MAX_LAG_SECONDS: "120" }).status).toBe(0);
  });

  it("liveness passes while the server answers and fails once it is gone", async () => {
    servers = await startServers(1, REPLICATION_OPTIONS, 520);
    const [a] = servers;
    expect(probe(a, "probe-liveness.sh").status).toBe(0);
    await a.stop();
    const dead = probe(a, "probe-liveness.sh", { PROBE_CONNECT_TIMEOUT: "2" });
    expect(dead).toEqual({ status: 1, out: expect.stringContaining("not alive: server not answering") });
  });
});
