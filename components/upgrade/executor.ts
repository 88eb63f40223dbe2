/**
 * The rollout executor: applies live options with SET GLOBAL, then restarts out-of-date members one at a time in the
 * planner's order, each waited for until it is up, replicating from the primary and caught up, with the engine's
 * zero-loss switchover moving the primary role off a member before it restarts.
 *
 * A failure stops the rollout at that member; everything else keeps serving (a replica restart never touches the
 * primary; a failed switchover gives the old primary its writes back, as the engine guarantees). The state that
 * matters lives in the members themselves (their revision), so a re-run plans only what is left: it resumes.
 */
import { connect, inspect, resolveSettings, switchover } from "../replication";
import type { EngineSettings, Flavor, MemberAddress, MemberStatus, Topology } from "../replication";
import { describeRollout, planRollout, RolloutStep } from "./planner";
import { MemberRestarter, MemberRestartError } from "./restarter";
import { normalizeOptionName, sameValue, ServerOptions, splitOptions, sqlValue } from "../server-options";

export interface RolloutArgs {
  /** Members by ordinal (the engine's addresses). */
  members: MemberAddress[];
  settings: EngineSettings;
  restarter: MemberRestarter;
  /** Server options to make true; the live ones are applied with SET GLOBAL, the rest by the restarts. */
  serverOptions?: ServerOptions;
  /**
   * Where the primary role must be when the rollout ends (see planRollout); the program passes the primary the
   * replication topology left, so a rollout moves it away and back only for its own restart.
   */
  desiredPrimary?: number;
  /** Overall deadline of the rollout. Default 30 minutes. */
  deadlineMs?: number;
  /** How long one member may take to come back and catch up. Default 10 minutes. */
  memberTimeoutMs?: number;
  /** A restarted replica counts as caught up at this lag or less. Default 5 s. */
  maxLagSeconds?: number;
  /** Poll interval while waiting for a member. Default 500 ms. */
  pollMs?: number;
}

export interface RolloutReport {
  /** The plan in words at the start of this run ("restart 2, 1; switch over 0 -> 1; restart 0"). */
  plan: string;
  steps: RolloutStep[];
  /** Live options changed, as "member 1: max_connections = 500". */
  liveChanges: string[];
  /** Each restart: from the restart request until the member was back and caught up (epoch ms). */
  restarts: { ordinal: number; startedAt: number; endedAt: number }[];
  /** Each switchover: when it ran (epoch ms) and the write gap the engine measured (ms). */
  switchovers: { from: number; to: number; startedAt: number; endedAt: number; writeGapMs?: number }[];
  primary: number;
  durationMs: number;
}

export const ROLLOUT_DEFAULTS = {
  deadlineMs: 30 * 60_000,
  memberTimeoutMs: 10 * 60_000,
  maxLagSeconds: 5,
  pollMs: 500,
};

/** The rollout stopped; `done` and `left` say where, and the message says what to do. */
export class RolloutError extends Error {
  constructor(
    message: string,
    readonly done: RolloutStep[],
    readonly left: RolloutStep[],
  ) {
    super(message);
    this.name = "RolloutError";
  }
}

/** What a rollout would do now, without changing anything (preview, diff, refresh). */
export async function planLive(
  args: RolloutArgs,
): Promise<{ steps: RolloutStep[]; primary: number; liveChanges: string[] }> {
  const topology = await inspect(args.members, args.settings);
  const primary = requirePrimary(topology);
  const liveChanges = await liveOptionChanges(args, topology, false);
  const steps = await planFromRevisions(args, primary);
  return { steps, primary, liveChanges };
}

export async function runRollout(args: RolloutArgs): Promise<RolloutReport> {
  const opts = { ...ROLLOUT_DEFAULTS, ...dropUndefined(args) };
  const log = resolveSettings(args.settings).log;
  const started = Date.now();
  const deadline = started + opts.deadlineMs;

  const topology = await inspect(args.members, args.settings);
  let primary = requirePrimary(topology);
  const liveChanges = await liveOptionChanges(args, topology, true);
  for (const change of liveChanges) log(`rollout: set live ${change}`);

  const steps = await planFromRevisions(args, primary);
  const plan = describeRollout(steps);
  log(`rollout (${args.restarter.description}): ${plan}`);
  const switchovers: RolloutReport["switchovers"] = [];
  const restarts: RolloutReport["restarts"] = [];
  for (const [i, step] of steps.entries()) {
    /** The member being restarted (if the step began) is the one not serving; everything else is. */
    const stop = (cause: string, began = true) => {
      const left = steps.slice(i);
      const serving = args.members
        .map((_, o) => o)
        .filter((o) => !began || step.kind !== "restart" || o !== step.ordinal);
      return new RolloutError(
        `rolling upgrade stopped at "${describeRollout([step])}": ${cause}. ` +
          `Members ${serving.join(", ")} keep serving with primary ${primary}. ` +
          `Fix the cause and run the update again; it resumes with what is left (${describeRollout(left)}).`,
        steps.slice(0, i),
        left,
      );
    };
    if (Date.now() > deadline) throw stop(`the rollout deadline (${opts.deadlineMs / 1000} s) passed`, false);
    const memberDeadline = Math.min(deadline, Date.now() + opts.memberTimeoutMs);
    try {
      if (step.kind === "switchover") {
        log(`rollout: switch over ${step.from} -> ${step.to}`);
        const startedAt = Date.now();
        const result = await switchover(args.members, step.to, args.settings);
        primary = result.primary;
        await args.restarter.namePrimary?.(primary);
        switchovers.push({
          from: step.from,
          to: step.to,
          startedAt,
          endedAt: Date.now(),
          writeGapMs: result.writeGapMs,
        });
      } else {
        log(`rollout: restart member ${step.ordinal}`);
        const begin = Date.now();
        await args.restarter.restart(step.ordinal, memberDeadline);
        await args.restarter.namePrimary?.(primary);
        await waitCaughtUp(args, step.ordinal, memberDeadline, opts);
        restarts.push({ ordinal: step.ordinal, startedAt: begin, endedAt: Date.now() });
        log(`rollout: member ${step.ordinal} back and caught up after ${Date.now() - begin} ms`);
      }
    } catch (err) {
      throw stop((err as Error).message);
    }
  }
  return { plan, steps, liveChanges, restarts, switchovers, primary, durationMs: Date.now() - started };
}

function requirePrimary(topology: Topology): number {
  if (topology.primary === null) {
    throw new RolloutError(
      `rolling upgrade refused: the topology has no single writable primary (${topology.problems.map((p) => p.message).join("; ") || "none found"}); ` +
        "nothing was restarted. Let the replication topology recover first (failover), then run the update again.",
      [],
      [],
    );
  }
  return topology.primary;
}

async function planFromRevisions(args: RolloutArgs, primary: number): Promise<RolloutStep[]> {
  const revisions = await args.restarter.revisions(args.members.map((_, ordinal) => ordinal));
  return planRollout({ members: revisions, primary, desiredPrimary: args.desiredPrimary });
}

/**
 * Live options whose value differs on a reachable member, as "member N: name = value"; with `apply` the flavor sets
 * them live (SET GLOBAL). Names come from the fixed LIVE_OPTIONS table only.
 */
async function liveOptionChanges(args: RolloutArgs, topology: Topology, apply: boolean): Promise<string[]> {
  const { live } = splitOptions(args.serverOptions ?? {});
  if (Object.keys(live).length === 0) return [];
  const settings = resolveSettings(args.settings);
  const changes: string[] = [];
  for (const member of topology.members.filter((m) => m.reachable)) {
    const sql = await connect(args.members, member.index, settings);
    try {
      for (const [option, value] of Object.entries(live)) {
        const name = normalizeOptionName(option);
        if (sameValue(await settings.flavor.globalVariable(sql, name), value)) continue;
        if (apply) await settings.flavor.setGlobalVariable(sql, name, sqlValue(value));
        changes.push(`member ${member.index}: ${name} = ${value}`);
      }
    } finally {
      await sql.close();
    }
  }
  return changes;
}

/**
 * Waits until a restarted member replicates from the primary, with lag under the threshold, and has applied
 * everything the primary had when the member came back (lag in seconds alone hides a stalled applier).
 */
async function waitCaughtUp(
  args: RolloutArgs,
  ordinal: number,
  deadline: number,
  opts: typeof ROLLOUT_DEFAULTS,
): Promise<void> {
  let target: string | undefined;
  for (;;) {
    const topology = await inspect(args.members, args.settings);
    if (target === undefined && topology.primary !== null)
      target = topology.members[topology.primary].gtidCurrent ?? "";
    const verdict = caughtUp(
      topology.members[ordinal],
      topology,
      opts.maxLagSeconds,
      target ?? "",
      args.settings.flavor,
    );
    if (verdict === true) return;
    if (Date.now() > deadline)
      throw new MemberRestartError(ordinal, `member ${ordinal} is back but not caught up in time: ${verdict}`);
    await new Promise((resolve) => setTimeout(resolve, opts.pollMs));
  }
}

/** True when the member is healthy after its restart and has applied `target` (a GTID position), else why not. */
export function caughtUp(
  member: MemberStatus | undefined,
  topology: Topology,
  maxLagSeconds: number,
  target: string,
  flavor: Flavor,
): true | string {
  if (!member?.reachable) return `unreachable (${member?.error ?? "no status"})`;
  if (topology.primary === member.index) return true;
  const r = member.replica;
  if (!r) return "no replication configured";
  if (topology.primary !== null && r.sourceIndex !== topology.primary)
    return `replicates from ${r.sourceHost}:${r.sourcePort}, not the primary ${topology.primary}`;
  if (r.ioThread !== "running" || r.sqlThread !== "running") {
    const error = r.lastIoError || r.lastSqlError;
    return `replication threads io=${r.ioThread} sql=${r.sqlThread}${error ? `: ${error}` : ""}`;
  }
  if (r.lagSeconds === null || r.lagSeconds > maxLagSeconds)
    return `lag ${r.lagSeconds ?? "unknown"} s (threshold ${maxLagSeconds} s)`;
  if (!flavor.covers(member.gtidCurrent, target))
    return `applied ${member.gtidCurrent || "nothing"}, not yet the primary's ${target}`;
  return true;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
