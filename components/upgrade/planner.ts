/**
 * The rollout planner: which members run an out-of-date revision and in which order to restart them so that writes
 * pause only for one switchover. Replicas go first, highest ordinal first (the StatefulSet's own order); then the
 * primary's role moves to an up-to-date replica with the engine's zero-loss switchover, the old primary restarts as a
 * replica, and the role moves back only when config `primary` names the old primary.
 *
 * Pure: preview calls it to say the plan in words, the executor calls it on the live state, so a re-run after a
 * failure plans only what is still left (members already on the new revision are skipped).
 */

export interface MemberState {
  ordinal: number;
  /** Runs the desired revision (Kubernetes: pod revision = StatefulSet updateRevision; local: started with the desired options). */
  current: boolean;
}

export interface RolloutInput {
  members: MemberState[];
  /** Ordinal of the member that is primary now. */
  primary: number;
  /** Config `primary`: where the primary role must be when the rollout ends; undefined leaves it where it lands. */
  desiredPrimary?: number;
}

export type RolloutStep =
  { kind: "restart"; ordinal: number; role: "replica" | "primary" } | { kind: "switchover"; from: number; to: number };

export function planRollout(input: RolloutInput): RolloutStep[] {
  const ordinals = input.members.map((m) => m.ordinal);
  if (new Set(ordinals).size !== ordinals.length)
    throw new Error(`rollout: duplicate member ordinals ${ordinals.join(", ")}`);
  if (!ordinals.includes(input.primary)) {
    throw new Error(`rollout: primary ${input.primary} is not a member (members: ${ordinals.join(", ")})`);
  }
  if (input.desiredPrimary !== undefined && !ordinals.includes(input.desiredPrimary)) {
    throw new Error(
      `rollout: config primary ${input.desiredPrimary} is not a member (members: ${ordinals.join(", ")})`,
    );
  }
  const steps: RolloutStep[] = [];
  const stale = input.members.filter((m) => !m.current).map((m) => m.ordinal);
  for (const ordinal of stale.filter((o) => o !== input.primary).sort((a, b) => b - a)) {
    steps.push({ kind: "restart", ordinal, role: "replica" });
  }
  const primary = input.primary;
  if (stale.includes(primary)) {
    const others = ordinals.filter((o) => o !== primary).sort((a, b) => a - b);
    if (others.length === 0) {
      // A single member has nobody to hand writes to: writes pause while it restarts.
      steps.push({ kind: "restart", ordinal: primary, role: "primary" });
    } else {
      const to =
        input.desiredPrimary !== undefined && input.desiredPrimary !== primary ? input.desiredPrimary : others[0];
      steps.push({ kind: "switchover", from: primary, to });
      steps.push({ kind: "restart", ordinal: primary, role: "replica" });
      // Moving the role back costs a second write pause: only when config `primary` names this member.
      if (input.desiredPrimary === primary) steps.push({ kind: "switchover", from: to, to: primary });
    }
  }
  return steps;
}

/** The plan in words, as preview and logs show it: "restart 3, 2, 1; switch over 0 -> 1; restart 0". */
export function describeRollout(steps: RolloutStep[]): string {
  if (steps.length === 0) return "all members up to date";
  const parts: string[] = [];
  for (const step of steps) {
    const last = parts.length - 1;
    if (step.kind === "switchover") parts.push(`switch over ${step.from} -> ${step.to}`);
    else if (step.role === "primary") parts.push(`restart ${step.ordinal} (only member: writes pause)`);
    else if (last >= 0 && parts[last].startsWith("restart ") && !parts[last].includes("("))
      parts[last] += `, ${step.ordinal}`;
    else parts.push(`restart ${step.ordinal}`);
  }
  return parts.join("; ");
}
