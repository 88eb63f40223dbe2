/**
 * Shared pieces of the engine integration tests: a topology of real local mariadbd members, engine settings for
 * them, an application account and a continuous writer that follows the writable member.
 */
import * as mysql from "mysql2/promise";
import { LocalServer, REPLICATION_OPTIONS, destroyAll, sleep, startServers } from "../../local/mariadbd";
import { EngineSettings, MemberAddress, inspect, setup } from "../../components/replication";
import { localSettings } from "../chaos/support";

export const APP_USER = "app";
export const APP_PASSWORD = "app-pw-Xq81";
export const REPL_PASSWORD = "repl-pw-Zk42";

export interface Lab {
  servers: LocalServer[];
  members: MemberAddress[];
  settings: EngineSettings;
  lines: string[];
  /** Writers started on this lab; stopped by cleanup even when a test fails half-way. */
  writers: Writer[];
  /** PEM of the members' CA: writers connect over TLS (the members may require it). */
  clientCa?: string;
}

export function settingsFor(lines: string[], extra: Partial<EngineSettings> = {}): EngineSettings {
  return localSettings((l) => lines.push(l), {
    replication: { user: "repl", password: REPL_PASSWORD },
    catchUpTimeoutMs: 5000,
    deadlineMs: 30000,
    ...extra,
  });
}

/** Starts n members; with `setUp`, member 0 becomes the primary with an app schema and account. */
export async function startLab(
  n: number,
  opts: { setUp?: boolean; serverIdBase?: number; settings?: Partial<EngineSettings> } = {},
): Promise<Lab> {
  const servers = await startServers(n, REPLICATION_OPTIONS, opts.serverIdBase ?? 100);
  const lines: string[] = [];
  const lab: Lab = {
    servers,
    members: servers.map((s) => ({ host: s.host, port: s.port })),
    settings: settingsFor(lines, opts.settings),
    lines,
    writers: [],
  };
  if (opts.setUp) await setUpLab(lab);
  return lab;
}

/** Member 0 becomes the primary of the others, with the app schema and account; on failure the servers go. */
export async function setUpLab(lab: Lab): Promise<void> {
  try {
    await setup(lab.members, 0, lab.settings);
    await createAppSchema(lab.servers[0]);
    await waitReplicated(lab);
  } catch (err) {
    await destroyAll(lab.servers);
    throw err;
  }
}

export async function createAppSchema(primary: LocalServer): Promise<void> {
  await primary.query("CREATE DATABASE IF NOT EXISTS app");
  await primary.query(
    "CREATE TABLE IF NOT EXISTS app.w (id INT PRIMARY KEY, at TIMESTAMP(6) DEFAULT CURRENT_TIMESTAMP(6))",
  );
  await primary.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [APP_USER, APP_PASSWORD]);
  await primary.query("GRANT SELECT, INSERT, UPDATE, DELETE ON app.* TO ?@'%'", [APP_USER]);
}

/** Waits until every reachable replica has applied the primary's position. */
export async function waitReplicated(lab: Lab, timeoutMs = 10000): Promise<void> {
  const t = await inspect(lab.members, lab.settings);
  if (t.primary === null) throw new Error(`no primary: ${t.problems.map((p) => p.message).join("; ")}`);
  const [{ p }] = await lab.servers[t.primary].query("SELECT @@gtid_binlog_pos AS p");
  for (const m of t.members) {
    if (m.index === t.primary || !m.reachable || !m.replica) continue;
    const [{ r }] = await lab.servers[m.index].query("SELECT MASTER_GTID_WAIT(?, ?) AS r", [p, timeoutMs / 1000]);
    if (Number(r) !== 0) throw new Error(`member ${m.index} did not reach ${p}`);
  }
}

export async function ids(server: LocalServer): Promise<Set<number>> {
  const rows = await server.query<{ id: number }>("SELECT id FROM app.w");
  return new Set(rows.map((r) => Number(r.id)));
}

/**
 * Inserts rows 1, 2, 3, ... as the application account as fast as it can, into whichever member accepts writes
 * (as a client behind the primary Service would), recording every acknowledged id and when it was acknowledged.
 */
export class Writer {
  acked: number[] = [];
  ackTimes: number[] = [];
  private next = 1;
  private running = true;
  private done: Promise<void>;
  private target = 0;
  private conns = new Map<number, mysql.Connection>();

  private readonly servers: LocalServer[];
  private readonly clientCa?: string;

  constructor(lab: Lab, start = 0) {
    this.servers = lab.servers;
    this.clientCa = lab.clientCa;
    this.target = start;
    lab.writers.push(this);
    this.done = this.loop();
  }

  private async conn(i: number): Promise<mysql.Connection> {
    let c = this.conns.get(i);
    if (!c) {
      c = await mysql.createConnection({
        host: this.servers[i].host,
        port: this.servers[i].port,
        user: APP_USER,
        password: APP_PASSWORD,
        connectTimeout: 1000,
        ...(this.clientCa ? { ssl: { ca: this.clientCa, rejectUnauthorized: true } } : {}),
      });
      c.on("error", () => {});
      this.conns.set(i, c);
    }
    return c;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const id = this.next;
      try {
        const c = await this.conn(this.target);
        await c.query("INSERT INTO app.w (id) VALUES (?)", [id]);
        this.acked.push(id);
        this.ackTimes.push(Date.now());
        this.next++;
      } catch (err) {
        const c = this.conns.get(this.target);
        this.conns.delete(this.target);
        c?.destroy();
        if ((err as { errno?: number }).errno === 1062) this.next++; // committed but the ack was lost: not acknowledged, skip the id
        this.target = (this.target + 1) % this.servers.length;
        await sleep(1);
      }
    }
  }

  /** Longest time without an acknowledged write. */
  maxGapMs(): number {
    let gap = 0;
    for (let i = 1; i < this.ackTimes.length; i++) gap = Math.max(gap, this.ackTimes[i] - this.ackTimes[i - 1]);
    return gap;
  }

  medianLatencyMs(): number {
    const d = this.ackTimes
      .slice(1)
      .map((t, i) => t - this.ackTimes[i])
      .sort((a, b) => a - b);
    return d.length ? d[Math.floor(d.length / 2)] : 0;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
    for (const c of this.conns.values()) c.destroy();
  }
}

export async function cleanup(lab: Lab | undefined): Promise<void> {
  if (!lab) return;
  await Promise.all(lab.writers.map((w) => w.stop()));
  await destroyAll(lab.servers);
}
