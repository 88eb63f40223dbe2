/** PrimaryPlacement's decision, pure: does the primary have to move before the StatefulSet changes, and where. */

export interface PlacementFacts {
  /** `primary` in the previous config. */
  oldPrimary: number;
  /** `primary` in the new config (validated: < newReplicas). */
  newPrimary: number;
  newReplicas: number;
  /** Members that exist now (the old replica count). */
  existing: number;
  /** Current primary from the live topology; null when there is none reachable. */
  current: number | null;
}

export interface PlacementDecision {
  /** Member to switch over to now; undefined: nothing to do now. */
  target?: number;
  /** The reason, in words. */
  words: string;
}

export function placementDecision(f: PlacementFacts): PlacementDecision {
  if (f.current === null) {
    return {
      words: "none: no reachable primary to move (ReplicationTopology fails over after the StatefulSet, if allowed)",
    };
  }
  const removed = f.current >= f.newReplicas;
  const moved = f.oldPrimary !== f.newPrimary && f.current !== f.newPrimary;
  if (!removed && !moved) return { words: `none: the primary stays on member ${f.current}` };
  if (f.newPrimary >= f.existing) {
    // Growing and moving at once: the new primary exists only after the StatefulSet; ReplicationTopology moves it.
    return {
      words: `none yet: member ${f.newPrimary} does not exist before the StatefulSet grows; ReplicationTopology switches over after it`,
    };
  }
  const why = removed
    ? `replicas = ${f.newReplicas} removes member ${f.current}, the primary`
    : `primary changed ${f.oldPrimary} -> ${f.newPrimary}`;
  return { target: f.newPrimary, words: why };
}
