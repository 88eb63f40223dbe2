/**
 * Real local mariadbd processes on loopback ports: the stand-ins for pods used by the tests, the demo and the
 * benchmarks. A template datadir is initialised once per machine and copied for every server, so a server starts
 * in a second or two. Every server lives in its own temp directory, removed by `destroy()`.
 */
import { ChildProcess, execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as mysql from "mysql2/promise";
import { freePort } from "../cli/scripts";
import { parseCnf } from "../components/kubernetes/config-hash";
import { normalizeOptionName } from "../components/server-options";

// The stand-ins and the tests take their ports from here, beside the servers they start.
export { freePort };

const run = promisify(execFile);

/** Administrative account created in every local server (TCP, any loopback address). */
export const LOCAL_ROOT_USER = "root";
export const LOCAL_ROOT_PASSWORD = "local-root-pw";

export type ServerOptions = Record<string, string | number | boolean>;

/** Parses `[section]` option files (key = value) into server options; later files win. */
export function parseOptionFiles(texts: string[]): ServerOptions {
  const options: ServerOptions = {};
  for (const text of texts)
    for (const [name, value] of Object.entries(parseCnf(text))) options[normalizeOptionName(name)] = value;
  return options;
}

/** The options of a directory of option files as mariadbd reads one (`!includedir`: every *.cnf, in name order). */
export function readOptionDir(dir: string): ServerOptions {
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".cnf"))
    .sort();
  return parseOptionFiles(files.map((f) => fs.readFileSync(path.join(dir, f), "utf8")));
}

/** Options every local server gets; callers add replication settings (or a rendered server config) on top. */
const BASE_OPTIONS: ServerOptions = {
  "bind-address": "127.0.0.1",
  "skip-name-resolve": true,
  "innodb-buffer-pool-size": "32M",
  "innodb-log-file-size": "16M",
  "innodb-use-native-aio": 0,
  "max-connections": 200,
  "log-error": "error.log",
};

export interface LocalServerSpec {
  /** server_id; also the default GTID origin of writes made on this server. */
  serverId: number;
  /** Extra mysqld options (e.g. log-bin, gtid-strict-mode). `false` leaves an option out. */
  options?: ServerOptions;
  /** Use this port instead of a free one (restarts keep their port). */
  port?: number;
  /** Run inside this network namespace (`ip netns exec`, see local/netns.ts) instead of the host's loopback. */
  netns?: string;
  /** Run through another program that execs mariadbd in place (e.g. a pod network's, local/pod-network.ts). */
  wrap?: (command: string, args: string[]) => { command: string; args: string[] };
  /** Address to bind and connect to (with `netns`: the member's lab address). Default 127.0.0.1. */
  host?: string;
  /** With `netns`: SQL host pattern of the lab, granted to the administrative user so the test process can connect. */
  adminHostPattern?: string;
  /**
   * PEM of a CA: connect() uses TLS verifying the server's chain against it (needed once the server requires secure
   * transport). Not its name: mysql2 checks no IP address, and local servers are reached by one.
   */
  clientCa?: string;
}

export class LocalServer {
  process?: ChildProcess;
  private exited?: Promise<void>;
  /**
   * Password of the administrative account that connect() and the local script runners use. Starts as the
   * template's; a caller that changes the account's password (as a pod's entrypoint would) updates it here.
   */
  adminPassword = LOCAL_ROOT_PASSWORD;
  /** The administrative account itself, so the server serves as a cli/scripts.ts LocalMember. */
  readonly adminUser = LOCAL_ROOT_USER;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly spec: LocalServerSpec,
  ) {}

  get host(): string {
    return this.spec.host ?? "127.0.0.1";
  }
  get datadir(): string {
    return path.join(this.dir, "data");
  }
  get socket(): string {
    return path.join(this.dir, "mysqld.sock");
  }
  get address(): string {
    return `${this.host}:${this.port}`;
  }
  get configFile(): string {
    return path.join(this.dir, "my.cnf");
  }
  get running(): boolean {
    return !!this.process && this.process.exitCode === null && this.process.signalCode === null;
  }

  /** Writes my.cnf from the spec (base options, then the spec's options) and starts mariadbd; waits until it accepts connections. */
  async start(timeoutMs = 30000): Promise<void> {
    if (this.running) return;
    const options: ServerOptions = {
      ...BASE_OPTIONS,
      // Own temp dir: temporary tables never collide with (or get cleaned up by) anything else using /tmp.
      tmpdir: this.dir,
      ...this.spec.options,
      ...(this.spec.host ? { "bind-address": this.spec.host } : {}),
      "server-id": this.spec.serverId,
      port: this.port,
      socket: this.socket,
      datadir: this.datadir,
      "pid-file": path.join(this.dir, "mysqld.pid"),
      user: "root",
    };
    fs.writeFileSync(this.configFile, renderOptions(options));
    const args = [`--defaults-file=${this.configFile}`];
    // `ip netns exec` execs mariadbd in place, so the child's pid (and signals) are mariadbd's own.
    const wrapped = this.spec.wrap?.(mariadbd(), args);
    const child = this.spec.netns
      ? spawn("ip", ["netns", "exec", this.spec.netns, mariadbd(), ...args], { cwd: this.dir, stdio: "ignore" })
      : wrapped
        ? spawn(wrapped.command, wrapped.args, { cwd: this.dir, stdio: "ignore" })
        : spawn(mariadbd(), args, { cwd: this.dir, stdio: "ignore", detached: false });
    this.process = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running)
        throw new Error(`mariadbd on port ${this.port} exited during start-up: ${this.errorLogTail()}`);
      try {
        if (this.spec.netns) {
          await this.grantLabAdmin();
          return;
        }
        const conn = await this.connect({ connectTimeout: 1000 });
        await conn.end();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(`mariadbd on port ${this.port} not ready after ${timeoutMs} ms: ${this.errorLogTail()}`);
        await sleep(100);
      }
    }
  }

  /**
   * In a namespace the test process connects from the lab's gateway address, which the template's accounts do not
   * cover: add the administrative user for the lab's addresses over the (namespace-independent) unix socket, without
   * writing it to the binlog so no GTID is created.
   */
  private async grantLabAdmin(): Promise<void> {
    const conn = await mysql.createConnection({
      socketPath: this.socket,
      user: LOCAL_ROOT_USER,
      password: this.adminPassword,
    });
    try {
      const pattern = this.spec.adminHostPattern ?? "%";
      await conn.query("SET SESSION sql_log_bin = 0");
      await conn.query("CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?", [LOCAL_ROOT_USER, pattern, this.adminPassword]);
      await conn.query("GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION", [LOCAL_ROOT_USER, pattern]);
    } finally {
      await conn.end();
    }
  }

  /** Clean shutdown (SIGTERM) and wait for exit. */
  async stop(): Promise<void> {
    await this.signal("SIGTERM");
  }

  /** Sends a signal (SIGKILL for a crash, SIGSTOP/SIGCONT for a hang); waits for exit when the signal ends the process. */
  async signal(sig: NodeJS.Signals): Promise<void> {
    if (!this.running || !this.process) return;
    this.process.kill(sig);
    if (sig === "SIGKILL" || sig === "SIGTERM") await this.exited;
  }

  /** A connection as the local administrative user. */
  connect(extra: Partial<mysql.ConnectionOptions> = {}): Promise<mysql.Connection> {
    return mysql.createConnection({
      host: this.host,
      port: this.port,
      user: LOCAL_ROOT_USER,
      password: this.adminPassword,
      multipleStatements: false,
      // Nothing here prepares statements, and mysql2 allocates each connection's statement cache at full size (16000).
      maxPreparedStatements: 1,
      ...(this.spec.clientCa ? { ssl: { ca: this.spec.clientCa, rejectUnauthorized: true } } : {}),
      ...extra,
    });
  }

  /** Runs one statement on a short-lived connection and returns its rows. */
  async query<T = any>(sql: string, params: unknown[] = []): Promise<T[]> {
    const conn = await this.connect();
    try {
      const [rows] = await conn.query(sql, params);
      return rows as T[];
    } finally {
      await conn.end();
    }
  }

  errorLogTail(lines = 15): string {
    try {
      return fs.readFileSync(path.join(this.datadir, "error.log"), "utf8").trim().split("\n").slice(-lines).join("\n");
    } catch {
      return "(no error log)";
    }
  }

  /** Stops the server (SIGKILL if it does not stop in time) and removes its directory. */
  async destroy(): Promise<void> {
    if (this.running && this.process) {
      this.process.kill("SIGCONT");
      const timer = setTimeout(() => this.process?.kill("SIGKILL"), 10000);
      await this.stop();
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** What mariadb-install-db makes of an empty datadir (system tables, root@localhost), from the shared template. */
export async function initializeDatadir(datadir: string): Promise<void> {
  const template = await templateDatadir();
  fs.rmSync(datadir, { recursive: true, force: true });
  await run("cp", ["-a", template, datadir]);
}

/** Starts one server on a free port from a copy of the template datadir. */
export async function startServer(spec: LocalServerSpec): Promise<LocalServer> {
  const template = await templateDatadir();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mysql-ha-m${spec.serverId}-`));
  await run("cp", ["-a", template, path.join(dir, "data")]);
  const server = new LocalServer(dir, spec.port ?? (await freePort()), spec);
  try {
    await server.start();
  } catch (err) {
    await server.destroy();
    throw err;
  }
  return server;
}

/** Starts `count` servers in parallel with server ids base+0, base+1, ... (like the StatefulSet's init step). */
export async function startServers(
  count: number,
  options: ServerOptions = {},
  serverIdBase = 100,
): Promise<LocalServer[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: count }, (_, i) => startServer({ serverId: serverIdBase + i, options })),
  );
  const servers = settled.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failure = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  if (failure) {
    await destroyAll(servers);
    throw failure.reason;
  }
  return servers;
}

export async function destroyAll(servers: LocalServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.destroy()));
}

/** The server options a replication member needs locally (GTID, row binlog, replicas log their updates). */
export const REPLICATION_OPTIONS: ServerOptions = {
  "log-bin": "mysql-bin",
  "binlog-format": "ROW",
  "log-slave-updates": 1,
  "gtid-strict-mode": 1,
  "relay-log": "relay-bin",
};

export function mariadbd(): string {
  for (const candidate of ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]) if (fs.existsSync(candidate)) return candidate;
  throw new Error(
    "mariadbd not found: install it with 'apt-get install -y mariadb-server mariadb-backup mariadb-client'",
  );
}

function renderOptions(options: ServerOptions): string {
  const lines = ["[mysqld]"];
  for (const [key, value] of Object.entries(options)) {
    if (value === false) continue;
    lines.push(value === true ? key : `${key}=${value}`);
  }
  return lines.join("\n") + "\n";
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The template datadir: system tables plus the local administrative account, made without a binlog so copies start
 * with an empty GTID history. Built once per machine and MariaDB version; concurrent builders race on an atomic rename.
 */
async function templateDatadir(): Promise<string> {
  const { stdout } = await run(mariadbd(), ["--version"]);
  const version = (stdout.match(/Ver\s+(\S+)/) ?? [])[1] ?? "unknown";
  const target = path.join(os.tmpdir(), `mysql-ha-template-${version}-v1`);
  if (fs.existsSync(path.join(target, "READY"))) return target;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-template-build-"));
  const data = path.join(work, "data");
  try {
    await run("mariadb-install-db", [
      "--no-defaults",
      `--datadir=${data}`,
      "--user=root",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
      "--innodb-log-file-size=16M",
    ]);
    const boot = new LocalServer(work, await freePort(), { serverId: 1, options: {} });
    // The bootstrap server has no password yet: reach it over its socket.
    fs.writeFileSync(boot.configFile, "");
    const child = spawn(
      mariadbd(),
      [
        "--no-defaults",
        `--datadir=${data}`,
        `--socket=${boot.socket}`,
        "--skip-networking",
        "--skip-log-bin",
        "--user=root",
        "--innodb-log-file-size=16M",
        "--innodb-use-native-aio=0",
      ],
      { stdio: "ignore" },
    );
    const exited = new Promise((resolve) => child.once("exit", resolve));
    let conn: mysql.Connection | undefined;
    for (let i = 0; i < 300 && !conn; i++) {
      try {
        conn = await mysql.createConnection({ socketPath: boot.socket, user: "root" });
      } catch {
        await sleep(100);
      }
    }
    if (!conn) throw new Error("template mariadbd did not start");
    for (const host of ["127.0.0.1", "localhost"]) {
      await conn.query(`CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?`, [LOCAL_ROOT_USER, host, LOCAL_ROOT_PASSWORD]);
      await conn.query(`ALTER USER ?@? IDENTIFIED BY ?`, [LOCAL_ROOT_USER, host, LOCAL_ROOT_PASSWORD]);
      await conn.query(`GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION`, [LOCAL_ROOT_USER, host]);
    }
    await conn.end();
    child.kill("SIGTERM");
    await exited;
    fs.rmSync(path.join(data, "error.log"), { force: true });
    fs.writeFileSync(path.join(data, "READY"), version);
    try {
      fs.renameSync(data, target);
    } catch {
      // Another process finished first; its template is as good as ours.
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  return target;
}
