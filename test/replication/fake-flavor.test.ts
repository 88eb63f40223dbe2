/**
 * The decision logic on the in-memory fake flavor, no server: errant GTIDs, problems and refusals come from the
 * flavor's arithmetic and carry their codes; the agent's decision and the rollout's caught-up check follow them.
 */
import { decide } from "../../components/agent/decide";
import { analyze, mariadb, MemberAddress, MemberStatus, plan, SqlError, Topology } from "../../components/replication";
import type { Sql } from "../../components/replication/connection";
import { caughtUp } from "../../components/upgrade/executor";
import { fakeFlavor } from "./fake-flavor";
import { memberStatus, unreachableMember } from "./members";

const addresses: MemberAddress[] = [0, 1, 2].map((i) => ({ host: `10.0.0.${i}`, port: 3306 }));

/** A member that executed `executed`; a replica of `source`, or with `source` undefined a writable member. */
function member(index: number, executed: string, source?: number, extra: Partial<MemberStatus> = {}): MemberStatus {
  return memberStatus(index, { executed, source, ...extra });
}

const topo = (...members: MemberStatus[]): Topology => analyze(addresses, members, fakeFlavor);

describe("decisions on the fake flavor", () => {
  it("takes errant GTIDs from the flavor: a replica holding what the primary has not is refused as a switchover target", () => {
    const t = topo(member(0, "a1,a2"), member(1, "a1,a2,b7", 0), member(2, "a1", 0));
    expect(t.members.map((m) => m.errantGtids)).toEqual([[], ["b7"], []]);
    expect(t.problems).toEqual([
      {
        kind: "errant-gtids",
        message: "member 1 (10.0.0.1:3306) has errant GTIDs b7 (transactions the primary does not have)",
      },
    ]);
    expect(plan(t, { members: 3, primary: 1, allowFailover: false }).refusals.map((r) => r.kind)).toEqual([
      "errant-gtids",
      "errant-gtids",
    ]);
    // With a seed hook the errant member is attached (re-seeded) instead, and the switchover goes to a clean replica.
    expect(
      plan(t, { members: 3, primary: 2, allowFailover: false, canSeed: true }).steps.map((s) => s.describe),
    ).toEqual(["switch over 0 -> 2", "attach member 1"]);
  });

  it("codes the refusals callers decide on: an unreachable primary without failover, a split brain", () => {
    const gone = unreachableMember(0);
    const failed = topo(gone, member(1, "a1", 0), member(2, "a1", 0));
    expect(failed.problems.map((p) => p.kind)).toEqual(["unreachable", "source-unreachable"]);
    expect(plan(failed, { members: 3, allowFailover: false }).refusals.map((r) => r.kind)).toEqual(["unreachable"]);
    expect(plan(failed, { members: 3, allowFailover: true }).steps[0].kind).toBe("failover");

    // Two writable members and replicas that disagree on a source: for a person to decide.
    const split = topo(member(0, "a1"), member(1, "a1,c1", 2, { readOnly: false }), member(2, "a1", 0));
    expect(split.problems.filter((p) => p.kind === "split-brain")).toHaveLength(1);
    expect(plan(split, { members: 3, allowFailover: true }).refusals.map((r) => r.kind)).toEqual(["split-brain"]);
  });

  it("lets the agent fence a former primary back beside the one the replicas follow", () => {
    const t = topo(member(0, "a1,a2"), member(1, "a1,a2,d1"), member(2, "a1,a2,d1", 1));
    expect(decide({ topology: t, failures: 0, failureThreshold: 3, cooldownRemainingMs: 0, leading: true })).toEqual({
      kind: "old-primary-back",
      member: 0,
      primary: 1,
      act: true,
    });
  });

  it("counts a restarted member caught up by the flavor's covers", () => {
    const t = topo(member(0, "a1,a2,a3"), member(1, "a1,a3", 0), member(2, "a1,a2,a3", 0));
    expect(caughtUp(t.members[1], t, 5, "a1,a2", fakeFlavor)).toBe("applied a1,a3, not yet the primary's a1,a2");
    expect(caughtUp(t.members[2], t, 5, "a1,a2", fakeFlavor)).toBe(true);
  });
});

describe("mariadb flavor's error codes", () => {
  /** A session whose every statement fails with the given server error. */
  const failing = (code: string, errno: number): Sql => ({
    index: 0,
    address: "10.0.0.0:3306",
    tls: false,
    close: async () => undefined,
    destroy: () => undefined,
    query: async () => {
      throw new SqlError(`member 0 (10.0.0.0:3306): server error ${errno}`, code, errno);
    },
  });

  it("treats a session already gone (ER_NO_SUCH_THREAD) as killed, any other error as an error", async () => {
    await expect(mariadb.killSession(failing("ER_NO_SUCH_THREAD", 1094), 42)).resolves.toBeUndefined();
    await expect(mariadb.killSession(failing("ER_SPECIFIC_ACCESS_DENIED_ERROR", 1227), 42)).rejects.toThrow(
      /server error 1227/,
    );
  });
});
