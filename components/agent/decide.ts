/**
 * The failover agent's decision (like MOCO's): pure, from the engine's latest Topology and the agent's own counters.
 * The primary is declared failed only when the agent has missed it `failureThreshold` checks in a row AND a majority
 * of the members answer AND every replica of it that answers has lost its own link to it: a primary that only the
 * agent cannot reach (its replicas still stream from it) is a suspect, never failed. Which replica to promote and
 * whether that is safe stays the engine's decision (failover refuses what would drop transactions).
 */
import { plan } from "../replication";
import type { Topology } from "../replication";

/** Consecutive failed checks of one primary. */
export interface FailureCount {
  /** The member watched as primary (see `watchedPrimary`), or null when there is none. */
  primary: number | null;
  failures: number;
}

export interface DecideInput {
  topology: Topology;
  /** Consecutive checks the watched primary failed (from `countFailures`). */
  failures: number;
  failureThreshold: number;
  /** Time left of the cooldown after this agent's last automatic failover; 0 when none. */
  cooldownRemainingMs: number;
  /** This process holds the lease (or acts alone): only a leader acts. */
  leading: boolean;
}

export type Decision =
  | { kind: "healthy"; primary: number }
  | { kind: "primary-suspect"; primary: number; failures: number; reason: string }
  | { kind: "primary-failed"; primary: number; act: boolean }
  | { kind: "old-primary-back"; member: number; primary: number; act: boolean }
  | { kind: "refused"; reason: string }
  | { kind: "cooldown"; primary: number; remainingMs: number };

/**
 * The member the agent watches as primary: the single writable member, else the member the replicas follow (the
 * one a failover would replace). None in a split brain or when the replicas disagree.
 */
export function watchedPrimary(t: Topology): number | null {
  if (t.splitBrain) return null;
  return t.primary ?? t.sourceOfReplicas;
}

/**
 * Counts a check: `topology` undefined means the check as a whole got no answer in time, a failure of the primary
 * watched so far. A different watched primary starts a new count.
 */
export function countFailures(previous: FailureCount, topology: Topology | undefined): FailureCount {
  if (!topology) return { primary: previous.primary, failures: previous.primary === null ? 0 : previous.failures + 1 };
  const primary = watchedPrimary(topology);
  if (primary === null || topology.members[primary].reachable) return { primary, failures: 0 };
  return { primary, failures: primary === previous.primary ? previous.failures + 1 : 1 };
}

const messages = (list: Array<{ message: string }>) => list.map((x) => x.message).join("; ");

export function decide(input: DecideInput): Decision {
  const { topology: t, failures, failureThreshold, cooldownRemainingMs, leading } = input;
  if (t.splitBrain) {
    // The engine's plan says whether this is a former primary back beside the one the replicas follow (fence it);
    // anything else is for a person.
    const p = plan(t, { members: t.members.length, allowFailover: false });
    const fence = p.steps.find((s) => s.kind === "fence");
    if (fence && t.sourceOfReplicas !== null)
      return { kind: "old-primary-back", member: fence.members[0], primary: t.sourceOfReplicas, act: leading };
    return { kind: "refused", reason: messages(p.refusals) || messages(t.problems) };
  }
  const primary = watchedPrimary(t);
  if (primary === null) return { kind: "refused", reason: messages(t.problems) || "no primary and no replication" };
  if (t.primary !== null) return { kind: "healthy", primary };
  const p = t.members[primary];
  if (p.reachable) {
    return {
      kind: "refused",
      reason: `member ${primary}, the replicas' source, answers but is read-only; the agent only replaces a primary that is gone (an operation may be running; 'pulumi up' or 'mysql-ha status' tells)`,
    };
  }
  const suspect = (reason: string): Decision => ({ kind: "primary-suspect", primary, failures, reason });
  if (failures < failureThreshold)
    return suspect(`member ${primary} failed ${failures} of ${failureThreshold} consecutive checks: ${p.error}`);

  const reachable = t.members.filter((m) => m.reachable);
  if (reachable.length * 2 <= t.members.length) {
    return suspect(
      `only ${reachable.length} of ${t.members.length} members answer (members ${reachable.map((m) => m.index).join(", ") || "none"}): no majority to confirm member ${primary} is gone`,
    );
  }
  // Never empty: the replicas' source is only known from replicas that answered.
  const replicas = reachable.filter((m) => m.replica?.sourceIndex === primary);
  const streaming = replicas.filter((m) => m.replica!.ioThread === "running");
  if (streaming.length) {
    return suspect(
      `member ${primary} does not answer this agent, but member${streaming.length > 1 ? "s" : ""} ${streaming.map((m) => m.index).join(", ")} still stream${streaming.length > 1 ? "" : "s"} from it`,
    );
  }
  if (cooldownRemainingMs > 0) return { kind: "cooldown", primary, remainingMs: cooldownRemainingMs };
  return { kind: "primary-failed", primary, act: leading };
}
