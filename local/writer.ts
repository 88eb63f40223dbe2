/**
 * The acknowledged-write checker used by the chaos suite, the benchmarks and the demo. A writer loop inserts rows with
 * increasing ids through an application user (no privilege to bypass read_only, like a real client) and records every
 * insert whose COMMIT returned OK, with its latency. It follows the primary by asking `resolvePrimary` again after
 * any error, as a client behind the primary Service would. After a fault, `verify(server)` lists the acknowledged ids
 * that are missing there: the system's promise is that this list is empty whenever the writes were semi-sync
 * acknowledged.
 */
import * as mysql from "mysql2/promise";

export interface WriterTarget {
  host: string;
  port: number;
}

/** Where to run administrative statements (a LocalServer fits). */
export interface AdminEndpoint extends WriterTarget {
  query<T = unknown>(sql: string, params?: unknown[]): Promise<T[]>;
  /** A connection as the administrative user, for the caller to close. */
  connect(extra?: Partial<mysql.ConnectionOptions>): Promise<mysql.Connection>;
}

export interface WriterOptions {
  /** Current primary; called at start and again after every failed write (the client re-resolving the endpoint). */
  resolvePrimary: () => WriterTarget | Promise<WriterTarget>;
  /** Pause between writes (default 1 ms: the "1 ms writer loop" of the benchmark). */
  intervalMs?: number;
  /** A write (or connect) not answered within this time counts as failed, outcome unknown (default 2000 ms). */
  writeTimeoutMs?: number;
  /** Application account and schema, created by `prepareWriterSchema` (defaults below). */
  user?: string;
  password?: string;
  database?: string;
}

export const WRITER_DEFAULTS = { user: "ackwriter", password: "ackwriter-pw", database: "ackcheck" };

/** One write that returned OK. `at` is when the OK arrived (ms since the writer started). */
export interface AckedWrite {
  id: number;
  at: number;
  latencyMs: number;
  /** The primary that acknowledged it ("host:port"). */
  on: string;
}

export interface WriterReport {
  acked: AckedWrite[];
  /** Writes that failed or timed out: not acknowledged, so they may or may not exist (never counted as lost). */
  failed: number;
  /** Distinct error messages seen (first few), for diagnostics. */
  errors: string[];
  /** Longest interval with no acknowledged write, and when it started (ms since the writer started). */
  longestGapMs: number;
  longestGapStartMs: number;
  medianWriteMs: number;
  durationMs: number;
  /** Distinct primaries that acknowledged writes, in order ("host:port"). */
  primaries: string[];
}

/**
 * Creates the checker's schema and application user on the primary (replicated to the others). The user may only
 * SELECT and INSERT in its schema, so read_only stops it.
 */
export async function prepareWriterSchema(
  primary: AdminEndpoint,
  options: Pick<WriterOptions, "user" | "password" | "database"> = {},
): Promise<void> {
  const { user, password, database } = { ...WRITER_DEFAULTS, ...options };
  await primary.query(`CREATE DATABASE IF NOT EXISTS \`${database}\``);
  await primary.query(
    `CREATE TABLE IF NOT EXISTS \`${database}\`.acks (id BIGINT PRIMARY KEY, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB`,
  );
  await primary.query(`CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?`, [user, password]);
  await primary.query(`GRANT SELECT, INSERT ON \`${database}\`.* TO ?@'%'`, [user]);
}

export class AckWriter {
  private readonly acked: AckedWrite[] = [];
  private readonly errors = new Set<string>();
  private failed = 0;
  private nextId = 1;
  private running = false;
  private loop?: Promise<void>;
  private conn?: mysql.Connection;
  private target?: string;
  private readonly primaries: string[] = [];
  private started = 0;
  private stopped = 0;
  private readonly opts: Required<Omit<WriterOptions, "resolvePrimary">> & Pick<WriterOptions, "resolvePrimary">;

  constructor(options: WriterOptions) {
    this.opts = { intervalMs: 1, writeTimeoutMs: 2000, ...WRITER_DEFAULTS, ...options };
  }

  /** Starts the loop; resolves after the first acknowledged write (so a fault never hits an idle writer). */
  async start(firstWriteTimeoutMs = 10000): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.started = Date.now();
    this.loop = this.run();
    const deadline = Date.now() + firstWriteTimeoutMs;
    while (this.acked.length === 0) {
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(
          `writer: no write acknowledged within ${firstWriteTimeoutMs} ms: ${[...this.errors].join("; ")}`,
        );
      }
      await sleep(5);
    }
  }

  /** Wall-clock time (Date.now()) of the first write acknowledged by `target` after `since`, if any yet. */
  firstAckOn(target: WriterTarget, since: number): number | undefined {
    const on = `${target.host}:${target.port}`;
    const hit = this.acked.find((w) => w.on === on && this.started + w.at >= since);
    return hit && this.started + hit.at;
  }

  /**
   * Longest interval with no acknowledged write that overlaps the wall-clock window [from, to] (Date.now() values):
   * the write gap an operation run in that window caused, not a hiccup elsewhere in the run.
   */
  longestGapDuring(from: number, to: number): number {
    let longest = 0;
    for (let i = 1; i < this.acked.length; i++) {
      const start = this.started + this.acked[i - 1].at;
      const end = this.started + this.acked[i].at;
      if (end >= from && start <= to) longest = Math.max(longest, end - start);
    }
    return longest;
  }

  /** Number of acknowledged writes so far. */
  get ackedCount(): number {
    return this.acked.length;
  }

  /** Resolves once `count` more writes have been acknowledged (or rejects after timeoutMs). */
  async waitForAcks(count: number, timeoutMs = 10000): Promise<void> {
    const goal = this.acked.length + count;
    const deadline = Date.now() + timeoutMs;
    while (this.acked.length < goal) {
      if (Date.now() > deadline)
        throw new Error(
          `writer: only ${this.acked.length - goal + count}/${count} writes acknowledged in ${timeoutMs} ms: ${[...this.errors].slice(-3).join("; ")}`,
        );
      await sleep(5);
    }
  }

  /** Stops the loop (the write in flight finishes or times out) and returns the report. */
  async stop(): Promise<WriterReport> {
    this.running = false;
    await this.loop;
    this.stopped = Date.now();
    await this.disconnect();
    return this.report();
  }

  report(): WriterReport {
    const end = (this.stopped || Date.now()) - this.started;
    let longestGapMs = 0;
    let longestGapStartMs = 0;
    let previous = this.acked.length ? this.acked[0].at : 0;
    for (const w of this.acked) {
      if (w.at - previous > longestGapMs) [longestGapMs, longestGapStartMs] = [w.at - previous, previous];
      previous = w.at;
    }
    if (this.acked.length && end - previous > longestGapMs)
      [longestGapMs, longestGapStartMs] = [end - previous, previous];
    return {
      acked: [...this.acked],
      failed: this.failed,
      errors: [...this.errors].slice(0, 10),
      longestGapMs,
      longestGapStartMs,
      medianWriteMs: median(this.acked.map((w) => w.latencyMs)),
      durationMs: end,
      primaries: [...this.primaries],
    };
  }

  /**
   * Acknowledged ids missing on `server` (read as an administrator). Empty means nothing acknowledged was lost.
   * Safe while the writer runs: writes acknowledged after the read began are not judged.
   */
  async verify(server: AdminEndpoint): Promise<number[]> {
    // Only writes acknowledged before the read starts can be expected in it (the writer may still be running).
    const acked = [...this.acked];
    const rows = await server.query<{ id: number | string }>(`SELECT id FROM \`${this.opts.database}\`.acks`);
    const present = new Set(rows.map((r) => Number(r.id)));
    return acked.filter((w) => !present.has(w.id)).map((w) => w.id);
  }

  private async run(): Promise<void> {
    while (this.running) {
      const id = this.nextId++;
      const begin = performance.now();
      try {
        const conn = await this.connection();
        await withTimeout(
          conn.query(`INSERT INTO \`${this.opts.database}\`.acks (id) VALUES (?)`, [id]),
          this.opts.writeTimeoutMs,
          "write",
        );
        const now = performance.now();
        this.acked.push({ id, at: Date.now() - this.started, latencyMs: now - begin, on: this.target! });
        if (this.primaries[this.primaries.length - 1] !== this.target) this.primaries.push(this.target!);
      } catch (err) {
        this.failed++;
        if (this.errors.size < 50) this.errors.add(((err as Error).message || String(err)).split("\n")[0]);
        await this.disconnect();
      }
      if (this.opts.intervalMs > 0) await sleep(this.opts.intervalMs);
    }
  }

  private async connection(): Promise<mysql.Connection> {
    if (this.conn) return this.conn;
    const target = await this.opts.resolvePrimary();
    let abandoned = false;
    const pending = mysql.createConnection({
      host: target.host,
      port: target.port,
      user: this.opts.user,
      password: this.opts.password,
      connectTimeout: this.opts.writeTimeoutMs,
      maxPreparedStatements: 1, // no prepared statements: mysql2 would allocate a cache of 16000 entries
    });
    // A connect that completes after we gave up on it must not stay open.
    pending.then(
      (late) => abandoned && late.destroy(),
      () => undefined,
    );
    const conn = await withTimeout(pending, this.opts.writeTimeoutMs, "connect").catch((err) => {
      abandoned = true;
      throw err;
    });
    // A dropped connection must not crash the process; the next write notices and reconnects.
    conn.on("error", () => undefined);
    this.conn = conn;
    this.target = `${target.host}:${target.port}`;
    return conn;
  }

  private async disconnect(): Promise<void> {
    const conn = this.conn;
    this.conn = undefined;
    // destroy(), not end(): a hung or partitioned server would never answer QUIT.
    conn?.destroy();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  // A promise that loses the race may still reject later (e.g. a connect to a dead host): keep it handled.
  promise.catch(() => undefined);
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function median(values: number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A resolver that follows the primary the way a read_only-aware proxy does: asks every member for @@read_only and
 * returns the single writable one, retrying (1 ms apart) while there is none or more than one, up to `timeoutMs`.
 * Like a proxy's monitor it asks over one connection per member, kept while it looks (a fresh connection to every
 * member every millisecond would load the members, and this process, the more the more members there are, right in
 * the windows the benchmarks measure); a connection whose probe fails is dropped and opened again.
 */
export function writableMember(members: AdminEndpoint[], timeoutMs = 2000): () => Promise<WriterTarget> {
  return async () => {
    const deadline = Date.now() + timeoutMs;
    const monitors = new Map<AdminEndpoint, Promise<mysql.Connection>>();
    // A failed probe's connection may hang (a stopped member): destroyed; the others end as clients do.
    const drop = (m: AdminEndpoint, failed: boolean) => {
      monitors.get(m)?.then(
        (c) => (failed ? c.destroy() : c.end().catch(() => c.destroy())),
        () => undefined,
      );
      monitors.delete(m);
    };
    const probe = async (m: AdminEndpoint): Promise<boolean> => {
      if (!monitors.has(m))
        monitors.set(
          m,
          m.connect().then((c) => c.on("error", () => undefined)),
        );
      try {
        const conn = await withTimeout(monitors.get(m)!, 500, "probe connect");
        const [rows] = await withTimeout(conn.query("SELECT @@global.read_only AS ro"), 500, "probe");
        return Number((rows as { ro: number }[])[0].ro) === 0;
      } catch {
        drop(m, true);
        return false;
      }
    };
    try {
      for (;;) {
        const states = await Promise.all(members.map(probe));
        const writable = members.filter((_, i) => states[i]);
        if (writable.length === 1) return writable[0];
        if (Date.now() > deadline)
          throw new Error(`no single writable member after ${timeoutMs} ms (${writable.length} writable)`);
        await sleep(1);
      }
    } finally {
      for (const m of [...monitors.keys()]) drop(m, false);
    }
  };
}
