/**
 * The least-privilege accounts against real members: setup creates them on the primary (replicated to every member),
 * every reconcile keeps them without writing when nothing changed, the entrypoint's init script creates exactly what
 * the engine would, and each account can do its job (run by the real script or tool) and nothing more.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as mysql from "mysql2/promise";
import {
  Account,
  ACCOUNT_ROLES,
  failover,
  inspect,
  mariadb,
  reconcile,
  resolveSettings,
  switchover,
} from "../../components/replication";
import { connect } from "../../components/replication/connection";
import { ACCOUNTS } from "../../components/kubernetes/secret";
import { renderInitAccountsScript } from "../../components/kubernetes/scripts";
import { runScript, startDonor } from "../../cli/scripts";
import { seedFromPeer } from "../../local/backup";
import { freePort, LOCAL_ROOT_PASSWORD, LocalServer, sleep, startServer } from "../../local/mariadbd";
import { Lab, cleanup, startLab, waitReplicated, createAppSchema } from "./support";

// Quotes, a backslash and a dollar test the init script's quoting. The program generates alphanumeric passwords; the
// exporter's option-file parser does not take every quoting mariadb's does, so the metrics password stays plain.
const PASSWORDS = {
  ...Object.fromEntries(ACCOUNT_ROLES.map((role) => [role, `${role}-pw-'"\\$x`])),
  metrics: "metricsPw42",
} as Record<(typeof ACCOUNT_ROLES)[number], string>;
const accounts = (): Account[] =>
  ACCOUNT_ROLES.map((role) => ({ role, user: ACCOUNTS[role].user, password: PASSWORDS[role] }));
const as = (role: keyof typeof PASSWORDS) => ({ user: ACCOUNTS[role].user, password: PASSWORDS[role] });

/** Runs `statement` on `server` as `role`; resolves to the server's error message, or "ok". */
async function attempt(server: LocalServer, role: keyof typeof PASSWORDS, statement: string): Promise<string> {
  const conn = await mysql.createConnection({ host: server.host, port: server.port, ...as(role) });
  try {
    await conn.query(statement);
    return "ok";
  } catch (err) {
    return (err as Error).message;
  } finally {
    await conn.end();
  }
}

/** What no account but root may do: read or write user data, manage accounts, change server settings it does not need. */
async function expectNoDataNoAccounts(server: LocalServer, role: keyof typeof PASSWORDS): Promise<void> {
  expect(await attempt(server, role, "SELECT * FROM app.w")).toMatch(/SELECT command denied/);
  expect(await attempt(server, role, "INSERT INTO app.w (id) VALUES (999999)")).toMatch(/INSERT command denied/);
  expect(await attempt(server, role, "CREATE USER intruder@'%'")).toMatch(/Access denied; you need .*CREATE USER/);
}

describe("least-privilege accounts", () => {
  let lab: Lab | undefined;
  const extra: LocalServer[] = [];
  afterEach(async () => {
    await cleanup(lab);
    await Promise.all(extra.splice(0).map((s) => s.destroy()));
    lab = undefined;
  });

  it("setup creates them on every member; reconcile writes nothing when they match and repairs drift", async () => {
    lab = await startLab(3, { setUp: true, settings: { accounts: accounts() } });
    await waitReplicated(lab);
    for (const server of lab.servers) {
      const rows = await server.query<{ User: string; Host: string }>(
        "SELECT User, Host FROM mysql.user WHERE User LIKE 'mysql\\_ha\\_%' ORDER BY User",
      );
      expect(rows.map((r) => `${r.User}@${r.Host}`)).toEqual([
        "mysql_ha_archiver@127.0.0.1",
        "mysql_ha_backup@127.0.0.1",
        "mysql_ha_metrics@127.0.0.1",
        "mysql_ha_operator@%",
        "mysql_ha_probe@127.0.0.1",
      ]);
    }

    const [{ p: before }] = await lab.servers[0].query("SELECT @@gtid_binlog_pos AS p");
    lab.lines.length = 0;
    await reconcile(lab.members, { members: 3, primary: 0, allowFailover: false }, lab.settings);
    expect(lab.lines.filter((l) => l.includes("account"))).toEqual([]);
    const [{ p: after }] = await lab.servers[0].query("SELECT @@gtid_binlog_pos AS p");
    expect(after).toBe(before);

    // Drift: an old password, an extra privilege from an older version. The next up puts both right.
    await lab.servers[0].query("ALTER USER mysql_ha_probe@'127.0.0.1' IDENTIFIED BY 'old'");
    await lab.servers[0].query("GRANT SELECT ON *.* TO mysql_ha_archiver@'127.0.0.1'");
    await reconcile(lab.members, { members: 3, primary: 0, allowFailover: false }, lab.settings);
    expect(lab.lines.filter((l) => l.includes("account"))).toEqual([
      "member 0: account 'mysql_ha_archiver' (archiver) created or updated",
      "member 0: account 'mysql_ha_probe' (probe) created or updated",
    ]);
    await waitReplicated(lab);
    expect(await attempt(lab.servers[2], "probe", "SELECT 1")).toBe("ok");
    expect(await attempt(lab.servers[2], "archiver", "SELECT * FROM app.w")).toMatch(/SELECT command denied/);
  });

  it("the entrypoint's init script creates exactly the accounts the engine keeps", async () => {
    const server = await startServer({ serverId: 390, options: { "log-bin": "mysql-bin" } });
    extra.push(server);
    const env = Object.fromEntries(ACCOUNT_ROLES.map((role) => [ACCOUNTS[role].passwordEnv, PASSWORDS[role]]));
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-initdb-"));
    const script = path.join(dir, "50-init-accounts.sh");
    fs.writeFileSync(script, renderInitAccountsScript(), { mode: 0o555 });
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(script, [], {
        env: {
          PATH: process.env.PATH,
          MARIADB_ROOT_PASSWORD: LOCAL_ROOT_PASSWORD,
          MYSQL_HA_SOCKET: server.socket,
          ...env,
        },
      });
      let text = "";
      child.stdout.on("data", (d) => (text += d));
      child.stderr.on("data", (d) => (text += d));
      child.on("exit", (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}: ${text}`))));
    });
    fs.rmSync(dir, { recursive: true, force: true });
    expect(out).toMatch(
      /accounts mysql_ha_operator, mysql_ha_backup, mysql_ha_archiver, mysql_ha_probe, mysql_ha_metrics created/,
    );
    // The passwords (quotes, backslash, dollar) arrived intact, and the engine finds nothing to change.
    const root = resolveSettings({
      admin: { user: "root", password: LOCAL_ROOT_PASSWORD },
      replication: { user: "repl", password: "-" },
      semiSync: false,
      semiSyncTimeoutMs: 1000,
      flavor: mariadb,
    });
    const sql = await connect([{ host: server.host, port: server.port }], 0, root);
    try {
      for (const account of accounts()) expect(await mariadb.ensureAccount(sql, account)).toBe(false);
    } finally {
      await sql.close();
    }
    expect(await attempt(server, "operator", "SELECT 1")).toBe("ok");
  });

  it("each account does its job and nothing more", async () => {
    lab = await startLab(3, { setUp: true, settings: { accounts: accounts() } });
    await createAppSchema(lab.servers[0]);
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (1), (2), (3)");
    await waitReplicated(lab);
    const [primary, replica] = lab.servers;

    // probe: the readiness and liveness scripts as the pod runs them; the fenced check needs to see user tables.
    const probe = (server: LocalServer, script = "probe-readiness.sh") =>
      runScript(script, {
        PROBE_USER: ACCOUNTS.probe.user,
        MYSQL_HA_PROBE_PASSWORD: PASSWORDS.probe,
        MYSQL_HA_HOST: server.host,
        MYSQL_HA_PORT: String(server.port),
      });
    expect((await probe(primary)).stdout).toMatch(/^ready: primary/);
    expect((await probe(replica)).stdout).toMatch(/^ready: replica, lag 0s/);
    expect((await probe(replica, "probe-liveness.sh")).stdout).toBe("");
    await expectNoDataNoAccounts(primary, "probe");
    expect(await attempt(primary, "probe", "SET GLOBAL read_only = ON")).toMatch(/Access denied/);

    // backup: the donor sidecar streams a full copy as this account; the copy holds the data.
    const joiner = await startServer({ serverId: 391, options: {} });
    extra.push(joiner);
    const token = "0123456789abcdef";
    const donor = await startDonor(replica, token, await freePort(), {
      MYSQL_USER: ACCOUNTS.backup.user,
      MYSQL_PASSWORD: PASSWORDS.backup,
    });
    try {
      await seedFromPeer(joiner, donor, token);
    } finally {
      await donor.stop();
    }
    expect((await joiner.query("SELECT COUNT(*) AS n FROM app.w"))[0].n).toBe(3);
    await expectNoDataNoAccounts(primary, "backup");

    // archiver: what binlog-archive.sh runs: the binlog list and a remote binlog read.
    const logs = await mysql.createConnection({ host: primary.host, port: primary.port, ...as("archiver") });
    const [binlogs] = await logs.query("SHOW BINARY LOGS");
    await logs.end();
    const first = (binlogs as Array<{ Log_name: string }>)[0].Log_name;
    const read = await new Promise<{ code: number | null; bytes: number }>((resolve) => {
      const child = spawn(
        "mariadb-binlog",
        [
          "--read-from-remote-server",
          `--host=${primary.host}`,
          `--port=${primary.port}`,
          `--user=${ACCOUNTS.archiver.user}`,
          first,
        ],
        { env: { ...process.env, MYSQL_PWD: PASSWORDS.archiver } },
      );
      let bytes = 0;
      child.stdout.on("data", (d) => (bytes += d.length));
      child.on("exit", (code) => resolve({ code, bytes }));
    });
    expect(read.code).toBe(0);
    expect(read.bytes).toBeGreaterThan(0);
    await expectNoDataNoAccounts(primary, "archiver");
    expect(await attempt(primary, "archiver", "SET GLOBAL read_only = ON")).toMatch(/Access denied/);

    // metrics: the real mysqld_exporter scraping a replica: up, every collector succeeded, replica status seen.
    const scrape = await exporterScrape(replica, as("metrics"));
    expect(scrape).toMatch(/^mysql_up 1$/m);
    expect(scrape).toMatch(/^mysql_slave_status_slave_io_running\{.*\} 1$/m);
    expect(scrape).toMatch(/^mysql_exporter_last_scrape_error 0$/m);
    await expectNoDataNoAccounts(primary, "metrics");

    // operator: the failover agent's operations: inspect, switchover, failover after kill -9; no data, no accounts.
    const operatorSettings = { ...lab.settings, admin: as("operator") };
    const t = await inspect(lab.members, operatorSettings);
    expect(t.members.every((m) => m.reachable)).toBe(true);
    // It sees the tables that decide whether a member that never replicated holds data (the primary here).
    expect(t.members[0].userSchemas).toContain("app");
    expect((await switchover(lab.members, 1, operatorSettings)).primary).toBe(1);
    await expectNoDataNoAccounts(lab.servers[1], "operator");
    await lab.servers[1].signal("SIGKILL");
    const moved = await failover(lab.members, undefined, operatorSettings);
    expect([0, 2]).toContain(moved.chosen);
    expect((await inspect(lab.members, operatorSettings)).primary).toBe(moved.chosen);

    // probe again: a member cut off (read-only, not replicating, user data and history of its own) is fenced, which
    // the probe tells only because it sees the user tables.
    const cut = lab.servers[moved.chosen === 0 ? 2 : 0];
    await cut.query("STOP SLAVE");
    await cut.query("RESET SLAVE ALL");
    const fenced = await probe(cut).catch((err) => err);
    expect(fenced.stdout).toMatch(/^not ready: read-only and not replicating, with user data/);
  });
});

/** One scrape of prometheus-mysqld-exporter (its default collectors and replica status) against `server` as the given account. */
async function exporterScrape(server: LocalServer, account: { user: string; password: string }): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-exporter-"));
  const cnf = path.join(dir, "my.cnf");
  fs.writeFileSync(
    cnf,
    `[client]\nuser=${account.user}\npassword=${account.password}\nhost=${server.host}\nport=${server.port}\n`,
    { mode: 0o600 },
  );
  const port = await freePort();
  const child = spawn(
    "prometheus-mysqld-exporter",
    [`--config.my-cnf=${cnf}`, `--web.listen-address=127.0.0.1:${port}`, "--collect.slave_status"],
    { stdio: "ignore" },
  );
  try {
    for (let i = 0; ; i++) {
      try {
        const res = await fetch(`http://127.0.0.1:${port}/metrics`);
        return await res.text();
      } catch (err) {
        if (i > 100) throw err;
        await sleep(100);
      }
    }
  } finally {
    child.kill("SIGTERM");
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
