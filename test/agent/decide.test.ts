/**
 * The agent's decision, pure: every branch, from topologies the engine's own analyze() derives from member statuses
 * (as inspect would report them).
 */
import { countFailures, decide, DecideInput } from "../../components/agent/decide";
import { ThreadState, Topology } from "../../components/replication";
import { base, down, replicaOf, topo, writable } from "./statuses";

const replica = (i: number, source: number, io: ThreadState = "running") => replicaOf(i, { source, io });
const input = (topology: Topology, extra: Partial<DecideInput> = {}): DecideInput => ({
  topology,
  failures: 3,
  failureThreshold: 3,
  cooldownRemainingMs: 0,
  leading: true,
  ...extra,
});

/** Member 0 (the primary) gone; the replicas' IO threads as given. */
const primaryGone = (io1: ThreadState | "down", io2: ThreadState | "down") =>
  topo(down(0), io1 === "down" ? down(1) : replica(1, 0, io1), io2 === "down" ? down(2) : replica(2, 0, io2));

describe("decide", () => {
  it("healthy: one writable primary", () => {
    expect(decide(input(topo(writable(0), replica(1, 0), replica(2, 0)), { failures: 0 }))).toEqual({
      kind: "healthy",
      primary: 0,
    });
    // A replica that lost its link while the primary answers is no reason to act.
    expect(decide(input(topo(writable(0), replica(1, 0, "connecting"), replica(2, 0)), { failures: 0 }))).toEqual({
      kind: "healthy",
      primary: 0,
    });
  });

  it("primary-suspect below the failure threshold, even when every replica lost it", () => {
    expect(decide(input(primaryGone("connecting", "connecting"), { failures: 2 }))).toEqual({
      kind: "primary-suspect",
      primary: 0,
      failures: 2,
      reason: "member 0 failed 2 of 3 consecutive checks: connect ECONNREFUSED",
    });
  });

  it("primary-failed at the threshold with a majority answering and every replica's link broken (connecting or stopped)", () => {
    expect(decide(input(primaryGone("connecting", "stopped")))).toEqual({
      kind: "primary-failed",
      primary: 0,
      act: true,
    });
    expect(decide(input(primaryGone("connecting", "connecting"), { failures: 7 }))).toEqual({
      kind: "primary-failed",
      primary: 0,
      act: true,
    });
  });

  it("a follower (not leading) sees primary-failed but does not act", () => {
    expect(decide(input(primaryGone("connecting", "connecting"), { leading: false }))).toEqual({
      kind: "primary-failed",
      primary: 0,
      act: false,
    });
  });

  it("not failed when only the agent cannot reach the primary: a replica still streams from it", () => {
    expect(decide(input(primaryGone("running", "connecting"), { failures: 10 }))).toEqual({
      kind: "primary-suspect",
      primary: 0,
      failures: 10,
      reason: "member 0 does not answer this agent, but member 1 still streams from it",
    });
    expect(decide(input(primaryGone("running", "running"))).kind).toBe("primary-suspect");
  });

  it("not failed without a majority answering", () => {
    expect(decide(input(primaryGone("down", "connecting")))).toEqual({
      kind: "primary-suspect",
      primary: 0,
      failures: 3,
      reason: "only 1 of 3 members answer (members 2): no majority to confirm member 0 is gone",
    });
  });

  it("cooldown: the primary is failed but the last automatic failover is too recent", () => {
    expect(decide(input(primaryGone("connecting", "connecting"), { cooldownRemainingMs: 4000 }))).toEqual({
      kind: "cooldown",
      primary: 0,
      remainingMs: 4000,
    });
  });

  it("old-primary-back: a writable former primary beside the primary the replicas follow is fenced (by the leader only)", () => {
    const back = topo(writable(0), writable(1), replica(2, 1));
    expect(decide(input(back, { failures: 0 }))).toEqual({
      kind: "old-primary-back",
      member: 0,
      primary: 1,
      act: true,
    });
    expect(decide(input(back, { failures: 0, leading: false }))).toEqual({
      kind: "old-primary-back",
      member: 0,
      primary: 1,
      act: false,
    });
  });

  it("refused: a split brain that is not a former primary coming back", () => {
    const d = decide(input(topo(writable(0), { ...replica(1, 0), readOnly: false }, replica(2, 0)), { failures: 0 }));
    expect(d).toEqual({
      kind: "refused",
      reason: expect.stringMatching(/^split brain: members 0 and 1 are all writable; decide by hand/),
    });
  });

  it("refused: no primary and the replicas do not agree on a source", () => {
    const d = decide(input(topo(down(0), replica(1, 0, "connecting"), replica(2, 1, "connecting"))));
    expect(d).toEqual({ kind: "refused", reason: expect.stringContaining("the replicas do not agree on a source") });
  });

  it("refused: the replicas' source answers but is read-only (not gone: the agent does not repair it)", () => {
    const d = decide(input(topo(base(0), replica(1, 0), replica(2, 0)), { failures: 0 }));
    expect(d).toEqual({
      kind: "refused",
      reason: expect.stringMatching(/^member 0, the replicas' source, answers but is read-only/),
    });
  });
});

describe("countFailures", () => {
  const healthy = topo(writable(0), replica(1, 0), replica(2, 0));
  const gone = primaryGone("connecting", "connecting");
  it("counts consecutive failed checks of the watched primary and resets when it answers", () => {
    let c = countFailures({ primary: null, failures: 0 }, healthy);
    expect(c).toEqual({ primary: 0, failures: 0 });
    c = countFailures(c, gone);
    c = countFailures(c, gone);
    expect(c).toEqual({ primary: 0, failures: 2 });
    // A check with no answer at all (the inspection timed out) counts against the primary watched so far.
    expect(countFailures(c, undefined)).toEqual({ primary: 0, failures: 3 });
    expect(countFailures(c, healthy)).toEqual({ primary: 0, failures: 0 });
  });

  it("a different watched primary starts a new count; nothing watched, nothing counted", () => {
    const newPrimaryGone = topo(replica(0, 1, "connecting"), down(1), replica(2, 1, "connecting"));
    expect(countFailures({ primary: 0, failures: 5 }, newPrimaryGone)).toEqual({ primary: 1, failures: 1 });
    expect(countFailures({ primary: null, failures: 0 }, undefined)).toEqual({ primary: null, failures: 0 });
  });
});
