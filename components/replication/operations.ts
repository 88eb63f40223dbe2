/**
 * Does what the plan decided (like MOCO's operations.go): each operation reads top to bottom as its steps, logs each
 * step, holds the topology lock for its whole run and has an overall deadline. Safety rules: README, "Safety rules".
 */
import { connect, Sql } from "./connection";
import { ReplicationError, refuse } from "./errors";
import { Flavor } from "./flavor/flavor";
import { plan as makePlan, switchoverRefusal } from "./plan";
import { replicationAddress, replicationTlsDue, resolveSettings } from "./settings";
import { analyze, inspect } from "./status/inspect";
import {
  ApplyResult,
  EngineSettings,
  MemberAddress,
  MemberStatus,
  OperationResult,
  Plan,
  RefusalKind,
  ResolvedSettings,
  StepKind,
  Topology,
} from "./types";

/** Name of the session lock taken on every reachable member while an operation runs. */
export const LOCK_NAME = "mysql-ha.topology";

interface Ctx {
  members: MemberAddress[];
  settings: ResolvedSettings;
  flavor: Flavor;
  /** Session ids of our lock connections, per member index: never killed when stopping writes. */
  lockSessions: Map<number, number>;
  /** The lock's connections, per member index: inspecting reads through them (no handshake of its own). */
  lockConnections: Map<number, Sql>;
  deadline: number;
  lines: string[];
  warnings: string[];
}

function log(ctx: Ctx, line: string): void {
  ctx.lines.push(line);
  ctx.settings.log(line);
}

function remaining(ctx: Ctx): number {
  return ctx.deadline - Date.now();
}

function checkDeadline(ctx: Ctx, what: string): void {
  if (remaining(ctx) <= 0)
    throw new ReplicationError(`deadline of ${ctx.settings.deadlineMs} ms passed before ${what}`);
}

function result(ctx: Ctx, kind: StepKind, primary: number, extra: Partial<OperationResult> = {}): OperationResult {
  return { kind, primary, log: ctx.lines, warnings: ctx.warnings, ...extra };
}

function checkIndex(members: MemberAddress[], index: number, what: string): void {
  if (!Number.isInteger(index) || index < 0 || index >= members.length) {
    throw refuse("invalid-request", `${what} ${index} is not a member: allowed 0..${members.length - 1}`);
  }
}

function context(members: MemberAddress[], settings: EngineSettings): Ctx {
  const resolved = resolveSettings(settings);
  return {
    members,
    settings: resolved,
    flavor: resolved.flavor,
    lockSessions: new Map(),
    lockConnections: new Map(),
    deadline: Date.now() + resolved.deadlineMs,
    lines: [],
    warnings: [],
  };
}

/**
 * Takes the topology lock (a named session lock on every reachable member, the first reachable one before the others
 * so two contenders cannot each hold half), runs `fn`, releases it. A second operation anywhere, in any process, is
 * refused.
 */
async function locked<T>(members: MemberAddress[], settings: EngineSettings, fn: (ctx: Ctx) => Promise<T>): Promise<T> {
  const ctx = context(members, settings);
  const { settings: resolved, flavor } = ctx;
  const held: Sql[] = [];
  const locks: Sql[] = [];
  const unreachable: string[] = [];
  try {
    // Connected to all at once (a slow or unreachable member costs its time once, not on top of the others'). The
    // lock is taken on the first reachable member first: of two contenders only the one holding it goes on (the other
    // is refused there), so the rest are then taken all at once rather than one round trip after another.
    const opened = await Promise.allSettled(members.map((_, i) => connect(members, i, resolved)));
    for (const o of opened) if (o.status === "rejected") unreachable.push((o.reason as Error).message);
    const reachable = opened.flatMap((o, i) => (o.status === "fulfilled" ? [{ i, sql: o.value }] : []));
    held.push(...reachable.map((r) => r.sql));
    const lock = async ({ i, sql }: { i: number; sql: Sql }) => {
      const got = await flavor.tryLock(sql, LOCK_NAME);
      if (!got.ok) return { i, sql, holder: got.holder };
      locks.push(sql);
      ctx.lockConnections.set(i, sql);
      ctx.lockSessions.set(i, got.session);
      return undefined;
    };
    const first = reachable.length ? await lock(reachable[0]) : undefined;
    const busy = first ?? (await Promise.all(reachable.slice(1).map(lock))).find((t) => t !== undefined);
    if (busy) {
      throw refuse(
        "locked",
        `another operation is running: member ${busy.i} (${busy.sql.address}) has the topology lock '${LOCK_NAME}'${busy.holder !== null ? ` held by session ${busy.holder}` : ""}; try again when it has finished`,
      );
    }
    if (held.length === 0) throw refuse("unreachable", `no member is reachable: ${unreachable.join("; ")}`);
    return await fn(ctx);
  } finally {
    // Released before the disconnect: the server frees a quitting session's locks a moment after the client has
    // moved on, and the caller's next operation (a retry after a refusal) must not find its own lock still held.
    // A member that does not answer (hung, or died meanwhile) is cut off instead: its lock goes with the connection.
    const cut = new Set<Sql>();
    await Promise.all(
      locks.map((s) =>
        flavor.unlock(s, LOCK_NAME).catch(() => {
          s.destroy();
          cut.add(s);
        }),
      ),
    );
    await Promise.all(held.filter((s) => !cut.has(s)).map((s) => s.close()));
  }
}

async function look(ctx: Ctx): Promise<Topology> {
  return inspect(ctx.members, ctx.settings, ctx.lockConnections);
}

/**
 * Connections to members `indexes`, opened at once (each handshake waits on its member, not on the ones before); if
 * one cannot be reached, the others are closed again and its error is thrown.
 */
async function connectAll(ctx: Ctx, indexes: number[]): Promise<Sql[]> {
  const opened = await Promise.allSettled(indexes.map((i) => connect(ctx.members, i, ctx.settings)));
  const failed = opened.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) {
    await Promise.all(opened.map((o) => o.status === "fulfilled" && o.value.close()));
    throw failed.reason;
  }
  return opened.map((o) => (o as PromiseFulfilledResult<Sql>).value);
}

/** Runs fn with a fresh connection to member i. */
async function withSql<T>(ctx: Ctx, i: number, fn: (sql: Sql) => Promise<T>): Promise<T> {
  const sql = await connect(ctx.members, i, ctx.settings);
  try {
    return await fn(sql);
  } finally {
    await sql.close();
  }
}

type JoinerAction = { kind: "none" } | { kind: "reset"; history: string[] } | { kind: "seed"; why: string };

/**
 * Decides (reading only) how a joiner's history is brought in line before it replicates from `primary`:
 * - local binlog history on a member that never replicated and holds no user table (e.g. accounts or an empty
 *   application schema created by its own initialisation) is discarded with RESET MASTER: it is not data, and kept
 *   it would be errant;
 * - user data that did not come from the primary, any other errant history, or a primary whose binlogs no longer
 *   reach back to the joiner's position needs the seed hook (a copy of the primary); without one: refused.
 * Real data is never discarded silently.
 */
async function judgeJoiner(ctx: Ctx, m: MemberStatus, primary: MemberStatus): Promise<JoinerAction> {
  const who = `member ${m.index}`;
  const neverReplicated = !m.replica && !m.gtidSlave;
  const schemas = m.userSchemas ?? [];
  let action: JoinerAction = { kind: "none" };
  if (neverReplicated && schemas.length) {
    action = {
      kind: "seed",
      why: `it holds user data (tables in schema${schemas.length > 1 ? "s" : ""} ${schemas.join(", ")}) that did not come from the primary`,
    };
  } else if (m.errantGtids.length) {
    action = neverReplicated
      ? { kind: "reset", history: m.errantGtids }
      : {
          kind: "seed",
          why: `it has errant GTIDs ${m.errantGtids.join(",")} (transactions the primary does not have)`,
        };
  }
  if (action.kind !== "seed") {
    const start = await withSql(ctx, primary.index, (sql) => ctx.flavor.binlogStart(sql));
    const at = action.kind === "reset" ? "" : (m.gtidCurrent ?? "");
    if (start && !ctx.flavor.covers(at, start))
      action = { kind: "seed", why: `the primary's binlogs start after ${start} and ${who} is at '${at}'` };
  }
  if (action.kind === "seed" && !ctx.settings.seed) {
    throw refuse(
      "needs-seed",
      `cannot attach ${who}: ${action.why}; it must be re-seeded from the primary (clone), and no seed hook is configured; nothing was changed`,
    );
  }
  return action;
}

async function prepareJoiner(ctx: Ctx, index: number, primary: number, action: JoinerAction): Promise<void> {
  if (action.kind === "reset") {
    await withSql(ctx, index, (sql) => ctx.flavor.resetLocalHistory(sql));
    log(
      ctx,
      `member ${index}: discarded its local binlog history ${action.history.join(",")} (no user data, never replicated)`,
    );
  } else if (action.kind === "seed") {
    log(ctx, `member ${index}: seeding from member ${primary} because ${action.why}`);
    await ctx.settings.seed!(index, primary);
    log(ctx, `member ${index}: seeded from member ${primary}`);
  }
}

/**
 * Points a member at member `source` with the settings' account, semi-sync and TLS (verifying the source); while TLS
 * is being turned on, over TLS only once both serve it (replicationTlsDue). Returns whether it replicates over TLS.
 */
async function replicate(ctx: Ctx, sql: Sql, source: number): Promise<boolean> {
  const tls = replicationTlsDue(
    ctx.settings.tls,
    sql,
    ctx.settings.tls?.enabling ? await withSql(ctx, source, async (s) => ({ tls: s.tls })) : undefined,
  );
  await ctx.flavor.startReplicating(
    sql,
    replicationAddress(ctx.members[source]),
    ctx.settings.replication,
    ctx.settings.semiSync,
    tls ? ctx.settings.tls!.caPath : undefined,
  );
  return tls;
}

/** Points member i at the primary and waits (bounded) until it has caught up. */
async function startReplica(ctx: Ctx, i: number, primary: number, catchUpTo?: string): Promise<void> {
  await withSql(ctx, i, async (sql) => {
    const tls = await replicate(ctx, sql, primary);
    log(
      ctx,
      `member ${i}: replicating from member ${primary} (GTID auto-positioning${ctx.settings.semiSync ? ", semi-sync" : ""}${tls ? ", TLS verified" : ""})`,
    );
    if (!catchUpTo) return;
    const ok = await ctx.flavor.waitForGtid(
      sql,
      catchUpTo,
      Math.max(1, Math.min(ctx.settings.catchUpTimeoutMs, remaining(ctx))),
    );
    const r = (await ctx.flavor.readStatus(sql)).replica;
    // An IO thread that cannot connect (e.g. the source's certificate does not verify) retries forever: once the
    // wait is over, its error is the answer.
    const failed =
      r &&
      ((r.sqlThread === "stopped" && r.lastSqlError) ||
        (r.ioThread !== "running" && (!ok || r.ioThread === "stopped") && r.lastIoError));
    if (failed) throw new ReplicationError(`member ${i}: replication from member ${primary} failed: ${failed}`);
    if (ok) log(ctx, `member ${i}: caught up with member ${primary} (${catchUpTo})`);
    else ctx.warnings.push(`member ${i} is still catching up with member ${primary} (target ${catchUpTo})`);
  });
}

async function primaryPosition(ctx: Ctx, primary: number): Promise<string> {
  return withSql(ctx, primary, (sql) => ctx.flavor.binlogPosition(sql));
}

/** The settings' accounts on the primary, each with its password and exactly its role's privileges. */
async function ensureAccounts(ctx: Ctx, primary: number, sql: Sql): Promise<void> {
  for (const account of ctx.settings.accounts) {
    if (await ctx.flavor.ensureAccount(sql, account))
      log(ctx, `member ${primary}: account '${account.user}' (${account.role}) created or updated`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// setup

async function doSetup(ctx: Ctx, primary: number): Promise<OperationResult> {
  checkIndex(ctx.members, primary, "primary");
  const t = await look(ctx);
  const p = t.members[primary];
  if (!p.reachable)
    throw refuse("unreachable", `cannot set up: member ${primary} (the intended primary) is unreachable: ${p.error}`);
  if (t.primary === primary && t.healthy) {
    log(ctx, `nothing to do: member ${primary} is the primary and every member replicates from it`);
    return result(ctx, "setup", primary, { noop: true });
  }
  if (t.splitBrain) throw refuse("split-brain", t.problems.find((x) => x.kind === "split-brain")!.message);
  const other = t.members.find((m) => m.replica && m.replica.sourceIndex !== primary);
  if (other || (t.primary !== null && t.primary !== primary && t.members.some((m) => m.replica))) {
    throw refuse(
      "other-source",
      `cannot set up member ${primary} as primary: replication is already set up with another source; use switchover`,
    );
  }
  if (p.logBin === false)
    throw refuse("binlog-off", `cannot set up: member ${primary} has the binary log off (log-bin is required)`);

  const joiners = t.members.filter((m) => m.index !== primary);
  for (const m of joiners.filter((m) => !m.reachable))
    ctx.warnings.push(`member ${m.index} is unreachable and was not attached: ${m.error}`);
  const healthy = (m: MemberStatus) =>
    m.replica?.sourceIndex === primary &&
    m.replica.ioThread === "running" &&
    m.replica.sqlThread === "running" &&
    !m.errantGtids.length &&
    (m.replica.tls || !replicationTlsDue(ctx.settings.tls, m, t.members[primary]));
  const reachable = joiners.filter((m) => m.reachable && !healthy(m));
  // Judge the joiners' history against the chosen primary before changing anything (fresh servers are all
  // writable, so inspect had no primary to compare with).
  const view = analyze(
    ctx.members,
    t.members.map((m) => ({ ...m, readOnly: m.index !== primary })),
    ctx.flavor,
  );
  const actions = new Map<number, JoinerAction>();
  for (const m of reachable) actions.set(m.index, await judgeJoiner(ctx, view.members[m.index], view.members[primary]));

  await withSql(ctx, primary, async (sql) => {
    await ctx.flavor.ensureReplicationUser(sql, ctx.settings.replication);
    log(ctx, `member ${primary}: replication user '${ctx.settings.replication.user}' has REPLICATION SLAVE only`);
    await ensureAccounts(ctx, primary, sql);
    await ctx.flavor.becomeSource(sql, ctx.settings.semiSync, ctx.settings.semiSyncTimeoutMs);
    await ctx.flavor.setReadOnly(sql, false);
    log(
      ctx,
      `member ${primary}: primary, writable${ctx.settings.semiSync ? `, semi-sync (timeout ${ctx.settings.semiSyncTimeoutMs} ms)` : ""}`,
    );
  });
  for (const m of reachable) {
    // Read-only before anything else: a joiner must never take writes meant for the primary.
    await withSql(ctx, m.index, (sql) => ctx.flavor.setReadOnly(sql, true));
    await prepareJoiner(ctx, m.index, primary, actions.get(m.index)!);
  }
  const pos = await primaryPosition(ctx, primary);
  await Promise.all(reachable.map((m) => startReplica(ctx, m.index, primary, pos)));
  return result(ctx, "setup", primary);
}

// ---------------------------------------------------------------------------------------------------------------
// attach / detach

async function doAttach(ctx: Ctx, index: number): Promise<OperationResult> {
  checkIndex(ctx.members, index, "member");
  const t = await look(ctx);
  if (t.primary === null)
    throw refuse(
      "no-primary",
      `cannot attach member ${index}: there is no writable primary (${t.problems.map((x) => x.message).join("; ")})`,
    );
  const m = t.members[index];
  if (!m.reachable) throw refuse("unreachable", `cannot attach member ${index}: it is unreachable: ${m.error}`);
  if (index === t.primary) {
    log(ctx, `nothing to do: member ${index} is the primary`);
    return result(ctx, "attach", t.primary, { noop: true });
  }
  const r = m.replica;
  if (
    r &&
    r.sourceIndex === t.primary &&
    r.ioThread === "running" &&
    r.sqlThread === "running" &&
    !m.errantGtids.length &&
    (r.tls || !replicationTlsDue(ctx.settings.tls, m, t.members[t.primary]))
  ) {
    log(ctx, `nothing to do: member ${index} already replicates from member ${t.primary}`);
    return result(ctx, "attach", t.primary, { noop: true });
  }
  const action = await judgeJoiner(ctx, m, t.members[t.primary]);
  if (m.readOnly === false) await withSql(ctx, index, (sql) => ctx.flavor.setReadOnly(sql, true));
  await prepareJoiner(ctx, index, t.primary, action);
  await startReplica(ctx, index, t.primary, await primaryPosition(ctx, t.primary));
  return result(ctx, "attach", t.primary);
}

async function doDetach(ctx: Ctx, index: number): Promise<OperationResult> {
  checkIndex(ctx.members, index, "member");
  const t = await look(ctx);
  const m = t.members[index];
  if (t.primary === index)
    throw refuse("is-primary", `cannot detach member ${index}: it is the primary; switch over to another member first`);
  if (!m.reachable) {
    ctx.warnings.push(`member ${index} is unreachable: nothing to detach (${m.error})`);
    return result(ctx, "detach", t.primary ?? -1, { noop: true });
  }
  if (!m.replica) {
    log(ctx, `nothing to do: member ${index} does not replicate`);
    return result(ctx, "detach", t.primary ?? -1, { noop: true });
  }
  await withSql(ctx, index, async (sql) => {
    // Stays read-only: a detached member must never look like a second primary.
    await ctx.flavor.setReadOnly(sql, true);
    await ctx.flavor.stopReplicating(sql);
  });
  log(ctx, `member ${index}: detached (replication stopped and forgotten, read-only)`);
  return result(ctx, "detach", t.primary ?? -1);
}

// ---------------------------------------------------------------------------------------------------------------
// switchover: prepare (writes on) -> stop writes -> promote -> repoint the old primary

/** A switchover under way: the old primary, the candidate, the other replicas, and a session on each. */
interface Switch {
  from: number;
  to: number;
  others: number[];
  old: Sql;
  /** A second session on the old primary that holds the commit block (a session holding it cannot set read_only). */
  blocker: Sql;
  candidate: Sql;
  otherSqls: Sql[];
  /** Sessions never killed when writes stop: the lock's and our own two on the old primary. */
  exclude: number[];
  /** Whether the other replicas were moved under the candidate (and must go back if it aborts). */
  chained: boolean;
}

/** How long a switchover waits, with writes on, for DDL running on the old primary (and later for its commits). */
const BLOCK_WAIT_MS = 2000;

async function doSwitchover(ctx: Ctx, to: number): Promise<OperationResult> {
  checkIndex(ctx.members, to, "switchover target");
  const t = await look(ctx);
  const from = switchoverSource(t, to);
  if (from === to) {
    log(ctx, `nothing to do: member ${to} is already the primary`);
    return result(ctx, "switchover", to, { noop: true });
  }
  const sw = await openSwitch(ctx, t, from, to);
  try {
    await prepareSwitch(ctx, sw, t.members[to].gtidCurrent);
    const t0 = Date.now();
    let writeGapMs: number;
    try {
      const stopped = await stopWrites(ctx, sw);
      await promoteCandidate(ctx, sw, stopped.position);
      writeGapMs = Date.now() - t0;
      log(
        ctx,
        `member ${from}: writes stopped at ${stopped.position} (read_only, ${stopped.sessions} client sessions killed, commit lock)`,
      );
    } catch (err) {
      await giveWritesBack(ctx, sw);
      await unprepareSwitch(ctx, sw).catch((e) =>
        ctx.warnings.push(`could not undo the preparation: ${(e as Error).message}`),
      );
      throw new ReplicationError(
        `switchover ${from} -> ${to} aborted: ${(err as Error).message}; member ${from} is writable again and remains the primary`,
      );
    }
    log(ctx, `member ${to}: primary, writable (writes were stopped for ${writeGapMs} ms)`);
    // The candidate has everything and takes writes: from here on we only finish forward.
    await repointOldPrimary(ctx, sw);
    return result(ctx, "switchover", to, { writeGapMs });
  } finally {
    await Promise.all([sw.old, sw.blocker, sw.candidate, ...sw.otherSqls].map((c) => c.close()));
  }
}

/** The current primary, which the switchover moves away from; refuses when there is none or `to` cannot take over. */
function switchoverSource(t: Topology, to: number): number {
  if (t.primary === null)
    throw refuse(
      "no-primary",
      `cannot switch over: there is no writable primary (${t.problems.map((x) => x.message).join("; ")}); use failover`,
    );
  const why = t.primary === to ? undefined : switchoverRefusal(t.members[to], t.primary);
  if (why) throw refuse(why.kind, why.message);
  return t.primary;
}

async function openSwitch(ctx: Ctx, t: Topology, from: number, to: number): Promise<Switch> {
  const others = t.members
    .filter((m) => m.index !== from && m.index !== to && m.reachable && m.replica && !m.errantGtids.length)
    .map((m) => m.index);
  const [old, blocker, candidate, ...otherSqls] = await connectAll(ctx, [from, from, to, ...others]);
  const exclude = [
    ctx.lockSessions.get(from) ?? -1,
    ...(await Promise.all([old, blocker].map((c) => ctx.flavor.sessionId(c)))),
  ];
  return { from, to, others, old, blocker, candidate, otherSqls, exclude, chained: false };
}

/**
 * Prepare, with writes still on, the slow work that keeps the write-stopped window short; on failure it is undone
 * and nothing has changed. `startPos` is what the candidate had executed when the switchover began.
 */
async function prepareSwitch(ctx: Ctx, sw: Switch, startPos: MemberStatus["gtidCurrent"]): Promise<void> {
  const { from, to, others } = sw;
  try {
    // 1. the candidate gets close to the primary (no progress at all = stuck: refuse, nothing changed);
    const before = await ctx.flavor.binlogPosition(sw.old);
    if (
      !(await ctx.flavor.waitForGtid(
        sw.candidate,
        before,
        Math.max(1, Math.min(ctx.settings.catchUpTimeoutMs, remaining(ctx))),
      ))
    ) {
      const now = await ctx.flavor.executedPosition(sw.candidate);
      if (now === startPos) {
        throw refuse(
          "behind",
          `cannot switch over to member ${to}: it applied nothing in ${ctx.settings.catchUpTimeoutMs} ms (at ${now}, primary at ${before}); nothing was changed, member ${from} remains the primary`,
        );
      }
      log(ctx, `member ${to}: still catching up (at ${now}, primary was at ${before}); continuing`);
    } else log(ctx, `member ${to}: caught up to ${before} with writes still on`);
    // 2. the other replicas move under it (it logs what it applies), so the moment it becomes writable they are
    //    connected and acknowledge its commits. Its semi-sync source side stays off until then: a replica with it on
    //    would make its own applier wait for acknowledgements.
    sw.chained = true;
    await Promise.all(sw.otherSqls.map((c) => replicate(ctx, c, sw.to)));
    if (others.length)
      log(ctx, `members ${others.join(", ")}: now replicating from member ${to} (still a replica of member ${from})`);
    if (!(await ctx.flavor.prepareBlockWrites(sw.blocker, BLOCK_WAIT_MS)))
      throw refuse(
        "busy",
        `cannot switch over: member ${from} runs DDL that did not finish within ${BLOCK_WAIT_MS} ms (a switchover waits for it with writes still on); nothing was changed, member ${from} remains the primary`,
      );
    checkDeadline(ctx, "stopping writes");
  } catch (err) {
    await unprepareSwitch(ctx, sw).catch(() => undefined);
    throw err;
  }
}

/**
 * Undoes the preparation: the old primary's prepared block goes, the candidate drops the source side of semi-sync,
 * the others go back to the old primary.
 */
async function unprepareSwitch(ctx: Ctx, sw: Switch): Promise<void> {
  // Also when its session is lost: that released the block with it. The others go back regardless.
  await ctx.flavor.unblockWrites(sw.blocker).catch(() => undefined);
  await ctx.flavor.setSemiSyncSource(sw.candidate, false, ctx.settings.semiSyncTimeoutMs);
  if (sw.chained) {
    await Promise.all(sw.otherSqls.map((c) => replicate(ctx, c, sw.from)));
    log(ctx, `members ${sw.others.join(", ")}: replicating from member ${sw.from} again`);
  }
}

/**
 * Stop writes on the old primary: read_only for ordinary accounts; client sessions killed, since accounts with
 * READ_ONLY ADMIN/SUPER ignore read_only and open transactions must not commit later; a commit lock against anyone
 * reconnecting. Returns the position writes stopped at.
 */
async function stopWrites(ctx: Ctx, sw: Switch): Promise<{ position: string; sessions: number }> {
  await ctx.flavor.setReadOnly(sw.old, true);
  const sessions = await ctx.flavor.clientSessions(sw.old, sw.exclude);
  await Promise.all(sessions.map((id) => ctx.flavor.killSession(sw.old, id)));
  await ctx.flavor.blockWrites(sw.blocker);
  return { position: await ctx.flavor.binlogPosition(sw.old), sessions: sessions.length };
}

/** Promote: the candidate applies everything up to `position`, takes the source side of semi-sync and becomes writable. */
async function promoteCandidate(ctx: Ctx, sw: Switch, position: string): Promise<void> {
  const wait = Math.max(1, Math.min(ctx.settings.catchUpTimeoutMs, remaining(ctx)));
  if (!(await ctx.flavor.waitForGtid(sw.candidate, position, wait))) {
    throw new ReplicationError(
      `member ${sw.to} did not apply the primary's transactions up to ${position} within ${wait} ms`,
    );
  }
  // Safe while the candidate still replicates: the old primary is locked, nothing more can arrive.
  await ctx.flavor.openForWrites(sw.candidate, ctx.settings.semiSync, ctx.settings.semiSyncTimeoutMs);
}

/** Repoint: the new primary stops replicating, the old one becomes its replica (a failure here is a warning). */
async function repointOldPrimary(ctx: Ctx, sw: Switch): Promise<void> {
  await ctx.flavor.stopReplicating(sw.candidate);
  try {
    // Sessions that reconnected and now wait on the commit lock would commit on the old primary once it is
    // released (privileged accounts ignore read_only): end them first.
    const waiting = await ctx.flavor.clientSessions(sw.old, sw.exclude);
    await Promise.all(waiting.map((id) => ctx.flavor.killSession(sw.old, id)));
    await ctx.flavor.unblockWrites(sw.blocker);
    await ctx.flavor.adoptOwnHistory(sw.old);
    await replicate(ctx, sw.old, sw.to);
    log(ctx, `member ${sw.from}: replicating from member ${sw.to}`);
  } catch (err) {
    ctx.warnings.push(
      `member ${sw.from} (old primary) could not be made a replica of member ${sw.to}: ${(err as Error).message}; attach it`,
    );
  }
}

/** Abort path of a switchover: the old primary gets its writes back (never leave no writable primary). */
async function giveWritesBack(ctx: Ctx, sw: Switch): Promise<void> {
  const { from, to } = sw;
  // A lost blocker session released the commit block with it; the switchover closes it at the end in any case.
  await ctx.flavor.unblockWrites(sw.blocker).catch(() => undefined);
  try {
    await ctx.flavor.setReadOnly(sw.old, false);
  } catch {
    // The control connection may be gone: use a fresh one.
    try {
      await withSql(ctx, from, (sql) => ctx.flavor.setReadOnly(sql, false));
    } catch (err) {
      throw new ReplicationError(
        `switchover ${from} -> ${to} aborted and member ${from} could NOT be made writable again (${(err as Error).message}); no member is writable: run 'mysql-ha failover' or make member ${from} writable`,
      );
    }
  }
  log(ctx, `member ${from}: writes given back (commit lock released, read_only off)`);
}

// ---------------------------------------------------------------------------------------------------------------
// failover: prepare (the candidates drain their relay logs) -> choose -> promote -> repoint; writes stopped with the
// primary, which is gone

/** A candidate after draining: what it received from the failed primary and what it executed. */
interface Drained {
  index: number;
  received: string;
  applied: boolean;
  executed: string;
  errant: string[];
}

async function doFailover(ctx: Ctx, to: number | undefined): Promise<OperationResult> {
  if (to !== undefined) checkIndex(ctx.members, to, "failover target");
  const t = await look(ctx);
  const { failed, replicas } = failoverCandidates(t, to);
  log(ctx, `member ${failed} (primary) is unreachable; candidates: ${replicas.map((m) => m.index).join(", ")}`);
  const conns = new Map<number, Sql>();
  try {
    (
      await connectAll(
        ctx,
        replicas.map((m) => m.index),
      )
    ).forEach((sql, k) => conns.set(replicas[k].index, sql));
    const drained = await drainRelayLogs(ctx, replicas, conns);
    const chosen = await chooseCandidate(ctx, drained, conns, to);
    const newPrimary = chosen.index;
    checkDeadline(ctx, `promoting member ${newPrimary}`);
    await ctx.flavor.becomeSource(conns.get(newPrimary)!, ctx.settings.semiSync, ctx.settings.semiSyncTimeoutMs);
    await ctx.flavor.setReadOnly(conns.get(newPrimary)!, false);
    log(ctx, `member ${newPrimary}: promoted, writable at ${chosen.executed}`);
    await repointReplicas(
      ctx,
      drained.filter((d) => d.index !== newPrimary),
      conns,
      newPrimary,
    );
    const possiblyLost = whatMayBeLost(ctx, replicas, failed, chosen);
    log(ctx, `possibly lost: ${possiblyLost}`);
    log(
      ctx,
      `member ${failed} (failed primary) must be re-seeded or attached when it returns; it will not rejoin by itself`,
    );
    return result(ctx, "failover", newPrimary, { chosen: newPrimary, possiblyLost });
  } finally {
    await Promise.all([...conns.values()].map((c) => c.close()));
  }
}

/** The failed primary and its reachable replicas; refuses unless a failover is what the topology needs. */
function failoverCandidates(t: Topology, to: number | undefined): { failed: number; replicas: MemberStatus[] } {
  if (t.splitBrain) throw refuse("split-brain", t.problems.find((x) => x.kind === "split-brain")!.message);
  if (t.primary !== null)
    throw refuse(
      "primary-available",
      `cannot fail over: member ${t.primary} is a reachable, writable primary; use switchover`,
    );
  const failed = t.sourceOfReplicas;
  if (failed === null)
    throw refuse("no-agreed-source", "cannot fail over: the replicas do not agree on a source among the members");
  if (t.members[failed].reachable) {
    throw refuse(
      "primary-available",
      `cannot fail over: the primary, member ${failed}, is reachable but read-only; make it writable again (plan step 'repair') or switch over`,
    );
  }
  const replicas = t.members.filter((m) => m.reachable && m.replica?.sourceIndex === failed);
  if (replicas.length === 0) throw refuse("no-candidate", `cannot fail over: no reachable replica of member ${failed}`);
  if (to !== undefined) {
    const target = t.members[to];
    if (!replicas.includes(target))
      throw refuse(
        "not-a-replica",
        `cannot fail over to member ${to}: it is not a reachable replica of member ${failed}${target.error ? ` (${target.error})` : ""}`,
      );
    if (target.errantGtids.length)
      throw refuse(
        "errant-gtids",
        `cannot fail over to member ${to}: it has errant GTIDs ${target.errantGtids.join(",")}`,
      );
  }
  return { failed, replicas };
}

/** Prepare: every candidate stops receiving and applies its relay log, so "executed" means "everything received". */
async function drainRelayLogs(ctx: Ctx, replicas: MemberStatus[], conns: Map<number, Sql>): Promise<Drained[]> {
  const drained = await Promise.all(
    replicas.map(async (m) => {
      const sql = conns.get(m.index)!;
      await ctx.flavor.stopIoThread(sql);
      const st = await ctx.flavor.readStatus(sql);
      const received = st.replica?.gtidIo || st.gtidCurrent || "";
      if (st.replica?.sqlThread === "stopped" && !st.replica.lastSqlError) await ctx.flavor.startSqlThread(sql);
      const ok = received
        ? await ctx.flavor.waitForGtid(
            sql,
            received,
            Math.max(1, Math.min(ctx.settings.catchUpTimeoutMs, remaining(ctx))),
          )
        : true;
      const after = await ctx.flavor.readStatus(sql);
      return { index: m.index, received, applied: ok, executed: after.gtidCurrent ?? "", errant: m.errantGtids };
    }),
  );
  for (const d of drained)
    log(
      ctx,
      `member ${d.index}: received ${d.received || "(nothing)"}, executed ${d.executed || "(nothing)"}${d.applied ? "" : " (relay log NOT fully applied)"}`,
    );
  return drained;
}

/** The candidate to promote: `to`, or the one that has everything any other received; refusals change nothing. */
async function chooseCandidate(
  ctx: Ctx,
  drained: Drained[],
  conns: Map<number, Sql>,
  to: number | undefined,
): Promise<Drained> {
  const refusal = async (kind: RefusalKind, msg: string) => {
    // Changed nothing that matters: let the candidates keep trying their source.
    await Promise.all([...conns.values()].map((c) => ctx.flavor.resumeReplicating(c).catch(() => undefined)));
    return refuse(kind, msg);
  };
  // What each replica got from the failed primary (the relay position excludes its own local writes).
  const fromPrimary = (d: Drained) => d.received || d.executed;
  const missing = (a: Drained) => drained.find((o) => o !== a && !ctx.flavor.covers(a.executed, fromPrimary(o)));
  if (to !== undefined) {
    const chosen = drained.find((d) => d.index === to)!;
    if (!chosen.applied)
      throw await refusal(
        "behind",
        `cannot fail over to member ${to}: it could not apply its relay log within ${ctx.settings.catchUpTimeoutMs} ms`,
      );
    const ahead = missing(chosen);
    if (ahead) {
      throw await refusal(
        "behind",
        `cannot fail over to member ${to}: member ${ahead.index} has transactions it lacks (${fromPrimary(ahead)} vs ${chosen.executed}); promoting it would drop them. Choose member ${ahead.index} or omit --to`,
      );
    }
    return chosen;
  }
  const chosen = drained.find((d) => d.applied && d.errant.length === 0 && !missing(d));
  if (!chosen) {
    const positions = drained
      .map(
        (d) =>
          `member ${d.index}: ${d.executed || "(nothing)"}${d.errant.length ? ` (errant ${d.errant.join(",")})` : ""}${d.applied ? "" : " (relay log not applied)"}`,
      )
      .join("; ");
    throw await refusal(
      "no-candidate",
      `cannot fail over: no candidate has every transaction the others have without errant GTIDs, so promoting any would drop transactions (${positions})`,
    );
  }
  return chosen;
}

/** Repoint: the other candidates replicate from the new primary; one with errant GTIDs is left for re-seeding. */
async function repointReplicas(ctx: Ctx, rest: Drained[], conns: Map<number, Sql>, newPrimary: number): Promise<void> {
  await Promise.all(
    rest.map(async (d) => {
      if (d.errant.length) {
        ctx.warnings.push(`member ${d.index} has errant GTIDs ${d.errant.join(",")} and was not repointed; re-seed it`);
        return;
      }
      try {
        await replicate(ctx, conns.get(d.index)!, newPrimary);
        log(ctx, `member ${d.index}: replicating from member ${newPrimary}`);
      } catch (err) {
        ctx.warnings.push(
          `member ${d.index} could not be repointed to member ${newPrimary}: ${(err as Error).message}`,
        );
      }
    }),
  );
}

/** What the failover may have lost, in words: nothing acknowledged under semi-sync, else what reached no replica. */
function whatMayBeLost(ctx: Ctx, replicas: MemberStatus[], failed: number, chosen: Drained): string {
  return replicas.every((m) => m.semiSync?.replicaEnabled)
    ? `none acknowledged: semi-sync was on, so every commit acknowledged to a client had reached a replica, and the most advanced one (${chosen.executed}) was promoted (unless member ${failed} had fallen back to async after ${ctx.settings.semiSyncTimeoutMs} ms without an acknowledgement)`
    : `asynchronous replication: transactions member ${failed} committed after ${chosen.executed} reached no replica and are lost; if member ${failed} comes back it will hold them as errant GTIDs and must be re-seeded`;
}

// ---------------------------------------------------------------------------------------------------------------
// repair: the replicas' source is up but read-only (an operation died with writes stopped)

async function doRepair(ctx: Ctx, index: number): Promise<OperationResult> {
  checkIndex(ctx.members, index, "member");
  const t = await look(ctx);
  if (t.primary === index) {
    log(ctx, `nothing to do: member ${index} is the writable primary`);
    return result(ctx, "repair", index, { noop: true });
  }
  if (t.primary !== null || t.splitBrain)
    throw refuse("primary-available", `cannot make member ${index} writable: member ${t.primary} already is`);
  if (t.sourceOfReplicas !== index)
    throw refuse("not-the-source", `cannot make member ${index} writable: the replicas do not replicate from it`);
  await withSql(ctx, index, (sql) => ctx.flavor.setReadOnly(sql, false));
  log(ctx, `member ${index}: writable again`);
  return result(ctx, "repair", index);
}

// ---------------------------------------------------------------------------------------------------------------
// fence: a former primary came back writable (a healed partition) beside the primary the replicas follow

async function doFence(ctx: Ctx, index: number): Promise<OperationResult> {
  checkIndex(ctx.members, index, "member");
  const t = await look(ctx);
  const m = t.members[index];
  const source = t.sourceOfReplicas;
  if (!m.reachable) throw refuse("unreachable", `cannot fence member ${index}: it is unreachable: ${m.error}`);
  if (source === null || source === index || !t.members[source].reachable || t.members[source].readOnly !== false) {
    throw refuse(
      "no-primary",
      `cannot fence member ${index}: it is not beside a writable primary that the replicas follow`,
    );
  }
  if (m.readOnly !== false) {
    log(ctx, `nothing to do: member ${index} is read-only`);
    return result(ctx, "fence", source, { noop: true });
  }
  if (m.replica)
    throw refuse(
      "other-source",
      `cannot fence member ${index}: it replicates from ${m.replica.sourceHost}:${m.replica.sourcePort}; inspect it by hand`,
    );
  await withSql(ctx, index, async (sql) => {
    // read_only first so no new write starts, then end every client session (open transactions must not commit).
    await ctx.flavor.setReadOnly(sql, true);
    const sessions = await ctx.flavor.clientSessions(sql, [
      ctx.lockSessions.get(index) ?? -1,
      await ctx.flavor.sessionId(sql),
    ]);
    for (const id of sessions) await ctx.flavor.killSession(sql, id);
    log(
      ctx,
      `member ${index}: fenced (read_only, ${sessions.length} client sessions killed); the primary is member ${source}`,
    );
  });
  // Now there is one writable member, so its history can be judged against the primary.
  const errant = (await look(ctx)).members[index].errantGtids;
  const possiblyLost = errant.length
    ? `member ${index} committed ${errant.join(",")} while cut off; the primary (member ${source}) does not have them: they are lost unless recovered by hand, and member ${index} must be re-seeded`
    : `none: member ${index} holds nothing the primary lacks`;
  log(ctx, `possibly lost: ${possiblyLost}`);
  return result(ctx, "fence", source, { possiblyLost });
}

/** Makes a former primary that came back writable read-only and reports what it committed alone. */
export function fence(members: MemberAddress[], index: number, settings: EngineSettings): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doFence(ctx, index));
}

// ---------------------------------------------------------------------------------------------------------------
// public entry points

export function setup(members: MemberAddress[], primary: number, settings: EngineSettings): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doSetup(ctx, primary));
}

export function attach(members: MemberAddress[], index: number, settings: EngineSettings): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doAttach(ctx, index));
}

export function detach(members: MemberAddress[], index: number, settings: EngineSettings): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doDetach(ctx, index));
}

export function switchover(members: MemberAddress[], to: number, settings: EngineSettings): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doSwitchover(ctx, to));
}

export function failover(
  members: MemberAddress[],
  to: number | undefined,
  settings: EngineSettings,
): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doFailover(ctx, to));
}

export function repair(members: MemberAddress[], index: number, settings: EngineSettings): Promise<OperationResult> {
  return locked(members, settings, (ctx) => doRepair(ctx, index));
}

/**
 * Runs a plan's steps in order under one topology lock; each step re-inspects and has its own deadline. A plan with
 * refusals is refused as a whole.
 */
export async function apply(members: MemberAddress[], p: Plan, settings: EngineSettings): Promise<ApplyResult> {
  if (p.refusals.length) throw refuse(p.refusals[0].kind, p.refusals.map((r) => r.message).join("; "));
  if (p.steps.length === 0) {
    const t = await inspect(members, settings);
    resolveSettings(settings).log("nothing to do: the topology already matches");
    return { results: [], primary: t.primary };
  }
  return locked(members, settings, async (ctx) => {
    const results: OperationResult[] = [];
    for (const step of p.steps) {
      const stepCtx: Ctx = { ...ctx, deadline: Date.now() + ctx.settings.deadlineMs, lines: [], warnings: [] };
      log(stepCtx, `step: ${step.describe} (${step.reason})`);
      switch (step.kind) {
        case "setup":
          results.push(await doSetup(stepCtx, step.target ?? step.members[0]));
          break;
        case "attach":
          results.push(await doAttach(stepCtx, step.members[0]));
          break;
        case "detach":
          results.push(await doDetach(stepCtx, step.members[0]));
          break;
        case "switchover":
          results.push(await doSwitchover(stepCtx, step.target ?? step.members[1]));
          break;
        case "failover":
          results.push(await doFailover(stepCtx, step.target));
          break;
        case "repair":
          results.push(await doRepair(stepCtx, step.target ?? step.members[0]));
          break;
        case "fence":
          results.push(await doFence(stepCtx, step.members[0]));
          break;
      }
    }
    const t = await look(ctx);
    return { results, primary: t.primary };
  });
}

/** Inspect, plan and apply in one call: what a `pulumi up` does. */
export async function reconcile(
  members: MemberAddress[],
  desired: Parameters<typeof makePlan>[1],
  settings: EngineSettings,
): Promise<{ plan: Plan; applied: ApplyResult }> {
  const p = makePlan(await inspect(members, settings), { canSeed: !!settings.seed, tls: settings.tls, ...desired });
  const applied = await apply(members, p, settings);
  // Every up keeps the accounts (a changed password, grants of an older version); nothing is written when they match.
  if (applied.primary !== null && settings.accounts?.length) {
    const ctx = context(members, settings);
    await withSql(ctx, applied.primary, (sql) => ensureAccounts(ctx, applied.primary!, sql));
  }
  return { plan: p, applied };
}
