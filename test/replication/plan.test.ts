import { analyze, mariadb, MemberAddress, MemberStatus, plan, Topology } from "../../components/replication";
import { comparePositions, errantAgainst, localErrant } from "../../components/replication/flavor/mariadb-gtid";
import { MemberFixture, memberStatus, unreachableMember } from "./members";

const addresses: MemberAddress[] = [0, 1, 2, 3, 4].map((i) => ({ host: "10.0.0." + i, port: 3306 }));

/** A member fixture (see ./members) with the gtid_slave_pos the MariaDB flavor reads: a replica's, none on a primary. */
function member(index: number, opts: MemberFixture = {}): MemberStatus {
  return memberStatus(index, { gtidSlave: opts.source !== undefined ? "0-100-10" : "", ...opts });
}

function topo(...members: MemberStatus[]): Topology {
  return analyze(addresses.slice(0, members.length), members, mariadb);
}

const healthy3 = () => topo(member(0), member(1, { source: 0 }), member(2, { source: 0 }));

describe("analyze", () => {
  it("finds the primary, roles and a healthy topology", () => {
    const t = healthy3();
    expect(t.primary).toBe(0);
    expect(t.healthy).toBe(true);
    expect(t.members.map((m) => m.role)).toEqual(["primary", "replica", "replica"]);
    expect(t.members[1].replica?.sourceIndex).toBe(0);
  });

  it("reports split brain when two members with history are writable", () => {
    const t = topo(member(0), member(1, { source: 0 }), member(2));
    expect(t.splitBrain).toBe(true);
    expect(t.primary).toBeNull();
    expect(t.problems).toContainEqual({
      kind: "split-brain",
      message: "split brain: members 0 and 2 are all writable",
    });
  });

  it("treats fresh writable servers as not set up, not split brain", () => {
    const blank = (i: number) => member(i, { gtidCurrent: "", gtidBinlogState: "", userSchemas: [] });
    const t = topo(blank(0), blank(1), blank(2));
    expect(t.splitBrain).toBe(false);
    expect(t.problems).toEqual([{ kind: "not-set-up", message: "replication is not set up" }]);
  });

  it("finds errant GTIDs of a replica against the primary and its own local writes", () => {
    const t = topo(member(0), member(1, { source: 0, gtidBinlogState: "0-100-10,9-101-3" }), member(2, { source: 0 }));
    expect(t.members[1].errantGtids).toEqual(["9-101-3"]);
    expect(t.problems.find((p) => p.kind === "errant-gtids")?.message).toMatch(/member 1 .* has errant GTIDs 9-101-3/);
  });
});

describe("plan", () => {
  it("is empty for a healthy topology that matches", () => {
    expect(plan(healthy3(), { members: 3, allowFailover: true })).toEqual({ steps: [], refusals: [] });
    expect(plan(healthy3(), { members: 3, primary: 0, allowFailover: false })).toEqual({ steps: [], refusals: [] });
  });

  it("sets up fresh members with the wanted primary", () => {
    const blank = (i: number) => member(i, { gtidCurrent: "", gtidBinlogState: "", userSchemas: [] });
    const p = plan(topo(blank(0), blank(1), blank(2)), { members: 3, primary: 1, allowFailover: false });
    expect(p.steps.map((s) => [s.kind, s.describe])).toEqual([["setup", "set up member 1 as primary of 0, 2"]]);
  });

  it("switches over to the wanted primary", () => {
    const p = plan(healthy3(), { members: 3, primary: 2, allowFailover: false });
    expect(p.steps.map((s) => s.describe)).toEqual(["switch over 0 -> 2"]);
    expect(p.steps[0]).toMatchObject({ kind: "switchover", members: [0, 2], target: 2 });
  });

  it("attaches new members and detaches removed ones", () => {
    const t = topo(
      member(0),
      member(1, { source: 0 }),
      member(2, { source: 0 }),
      member(3, { gtidCurrent: "", gtidBinlogState: "", userSchemas: [], readOnly: true }),
    );
    expect(plan(t, { members: 4, allowFailover: false }).steps.map((s) => s.describe)).toEqual(["attach member 3"]);
    expect(plan(healthy3(), { members: 2, allowFailover: false }).steps.map((s) => s.describe)).toEqual([
      "detach member 2",
    ]);
  });

  it("switches over first when the primary's ordinal is removed, to the least lagging replica", () => {
    const t = topo(member(0, { source: 2, lag: 5 }), member(1, { source: 2, lag: 0 }), member(2));
    const p = plan(t, { members: 2, allowFailover: false });
    expect(p.steps.map((s) => s.describe)).toEqual(["switch over 2 -> 1", "detach member 2"]);
  });

  it("fails over when the primary is unreachable and failover is allowed, and refuses otherwise", () => {
    const t = topo(
      unreachableMember(0),
      member(1, { source: 0, io: "connecting" }),
      member(2, { source: 0, io: "connecting" }),
    );
    expect(t.problems).toContainEqual({
      kind: "source-unreachable",
      message: "no writable primary: member 0 (the replicas' source) is unreachable",
    });
    const p = plan(t, { members: 3, allowFailover: true });
    expect(p.steps.map((s) => [s.kind, s.describe])).toEqual([
      ["failover", "failover: promote the most advanced replica in place of member 0"],
    ]);
    expect(plan(t, { members: 3, allowFailover: false }).refusals[0]).toEqual({
      kind: "unreachable",
      message: expect.stringMatching(/primary member 0 is unreachable and failover is not allowed/),
    });
  });

  it("gives a read-only source its writes back instead of leaving no writable primary", () => {
    const t = topo(member(0, { readOnly: true }), member(1, { source: 0 }), member(2, { source: 0 }));
    expect(plan(t, { members: 3, allowFailover: true }).steps.map((s) => s.describe)).toEqual([
      "make member 0 writable again",
    ]);
  });

  it("refuses a switchover to a member with errant GTIDs, one that is down, or one whose replication is stopped", () => {
    const errant = topo(
      member(0),
      member(1, { source: 0, gtidBinlogState: "0-100-10,0-101-11", gtidCurrent: "0-101-11" }),
      member(2, { source: 0 }),
    );
    expect(plan(errant, { members: 3, primary: 1, allowFailover: false }).refusals[0]).toEqual({
      kind: "errant-gtids",
      message: expect.stringMatching(/cannot switch over to member 1 .*: it has errant GTIDs 0-101-11/),
    });
    const gone = topo(member(0), member(1, { source: 0 }), unreachableMember(2));
    expect(plan(gone, { members: 3, primary: 2, allowFailover: false }).refusals[0]).toEqual({
      kind: "unreachable",
      message: expect.stringMatching(/cannot switch over to member 2 .*: it is unreachable/),
    });
    const stopped = topo(member(0), member(1, { source: 0, sqlThread: "stopped" }), member(2, { source: 0 }));
    expect(plan(stopped, { members: 3, primary: 1, allowFailover: false }).refusals[0]).toEqual({
      kind: "replication-stopped",
      message: expect.stringMatching(/its replication is stopped/),
    });
  });

  it("refuses to attach a member with errant GTIDs unless it can be re-seeded", () => {
    const t = topo(
      member(0),
      member(1, { source: 0 }),
      member(2, { gtidBinlogState: "0-102-4", gtidCurrent: "0-102-4", readOnly: true }),
    );
    expect(plan(t, { members: 3, allowFailover: false }).refusals[0]).toEqual({
      kind: "errant-gtids",
      message: expect.stringMatching(/member 2 .* has errant GTIDs 0-102-4: it cannot be attached without re-seeding/),
    });
    const p = plan(t, { members: 3, allowFailover: false, canSeed: true });
    expect(p.steps.map((s) => s.describe)).toEqual(["attach member 2"]);
    expect(p.steps[0].reason).toMatch(/re-seeded/);
  });

  it("refuses split brain and bad desired values, naming the allowed ones", () => {
    // Two writable members, each followed by a replica: nobody can tell which history is right.
    const t = topo(member(0), member(1, { source: 0 }), member(2), member(3, { source: 2 }));
    expect(plan(t, { members: 4, allowFailover: true }).refusals[0]).toEqual({
      kind: "split-brain",
      message: expect.stringMatching(/^split brain: members 0 and 2 are all writable; decide by hand/),
    });
    expect(plan(healthy3(), { members: 4, allowFailover: true }).refusals).toEqual([
      { kind: "invalid-request", message: "desired member count 4 is invalid: allowed 1..3 (the members given)" },
    ]);
    expect(plan(healthy3(), { members: 3, primary: 3, allowFailover: true }).refusals).toEqual([
      { kind: "invalid-request", message: "desired primary 3 is not a member: allowed 0..2" },
    ]);
  });
});

describe("GTID comparisons", () => {
  it("orders positions per domain and detects divergence", () => {
    expect(comparePositions("0-1-10", "0-1-9")).toBe(1);
    expect(comparePositions("0-1-10,1-2-5", "0-1-10,1-2-5")).toBe(0);
    expect(comparePositions("0-1-10", "0-1-10,1-2-1")).toBe(-1);
    expect(comparePositions("0-1-10,1-2-1", "0-1-11")).toBeNull();
  });

  it("finds what a replica has that the primary has not, and local writes beyond replication", () => {
    expect(errantAgainst({ binlogState: "0-1-10,0-2-4" }, { binlogState: "0-1-12" })).toEqual(["0-2-4"]);
    expect(errantAgainst({ binlogState: "0-1-10" }, { binlogState: "0-1-12" })).toEqual([]);
    // A primary seeded from a copy knows the old history from its replication position.
    expect(errantAgainst({ binlogState: "0-1-10" }, { binlogState: "0-3-11", slavePos: "0-1-10" })).toEqual([]);
    expect(localErrant(2, "0-1-10,0-2-11", "0-1-10")).toEqual(["0-2-11"]);
    expect(localErrant(2, "0-2-11", "0-2-11")).toEqual([]); // a demoted primary's own history counts as replicated
  });
});
