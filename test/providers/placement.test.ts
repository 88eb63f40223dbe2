import { placementDecision } from "../../components/providers";

describe("placementDecision", () => {
  const base = { oldPrimary: 0, newPrimary: 0, newReplicas: 3, existing: 3, current: 0 };

  test("does nothing when the primary neither changed nor is removed", () => {
    expect(placementDecision(base)).toEqual({ words: "none: the primary stays on member 0" });
    expect(placementDecision({ ...base, newReplicas: 5 }).target).toBeUndefined();
  });

  test("switches over when the configured primary changes", () => {
    expect(placementDecision({ ...base, newPrimary: 2 })).toEqual({ target: 2, words: "primary changed 0 -> 2" });
  });

  test("does not move back to the configured primary after a failover moved it", () => {
    expect(placementDecision({ ...base, current: 1 }).target).toBeUndefined();
  });

  test("switches over when a shrink removes the current primary", () => {
    expect(placementDecision({ ...base, current: 2, newReplicas: 2 })).toEqual({
      target: 0,
      words: "replicas = 2 removes member 2, the primary",
    });
  });

  test("leaves a move to a member that does not exist yet to ReplicationTopology", () => {
    const d = placementDecision({ ...base, newPrimary: 4, newReplicas: 5 });
    expect(d.target).toBeUndefined();
    expect(d.words).toMatch(/member 4 does not exist before the StatefulSet grows/);
  });

  test("does nothing without a reachable primary (failover is ReplicationTopology's)", () => {
    expect(placementDecision({ ...base, newPrimary: 1, current: null }).target).toBeUndefined();
  });
});
