import { describeRollout, planRollout } from "../../components/upgrade/planner";

const members = (n: number, stale: number[] = Array.from({ length: n }, (_, i) => i)) =>
  Array.from({ length: n }, (_, ordinal) => ({ ordinal, current: !stale.includes(ordinal) }));

describe("planRollout", () => {
  it("restarts replicas highest ordinal first, then switches over away from the primary and restarts it", () => {
    const steps = planRollout({ members: members(4), primary: 0 });
    expect(describeRollout(steps)).toBe("restart 3, 2, 1; switch over 0 -> 1; restart 0");
  });

  it("switches back only when config primary names the old primary", () => {
    expect(describeRollout(planRollout({ members: members(3), primary: 0, desiredPrimary: 0 }))).toBe(
      "restart 2, 1; switch over 0 -> 1; restart 0; switch over 1 -> 0",
    );
    expect(describeRollout(planRollout({ members: members(3), primary: 2 }))).toBe(
      "restart 1, 0; switch over 2 -> 0; restart 2",
    );
  });

  it("hands the primary role to config primary when that is another member", () => {
    expect(describeRollout(planRollout({ members: members(3), primary: 0, desiredPrimary: 2 }))).toBe(
      "restart 2, 1; switch over 0 -> 2; restart 0",
    );
  });

  it("plans nothing when every member is current, and never moves the primary on its own", () => {
    expect(planRollout({ members: members(3, []), primary: 1, desiredPrimary: 0 })).toEqual([]);
    expect(describeRollout([])).toBe("all members up to date");
  });

  it("resumes: members already on the new revision are skipped, a moved primary is left where it is", () => {
    // A previous run restarted 2, switched over 0 -> 1 and stopped while restarting 0.
    expect(describeRollout(planRollout({ members: members(3, [0]), primary: 1 }))).toBe("restart 0");
    // It stopped on member 1 (a replica): 1 is retried before the primary moves.
    expect(describeRollout(planRollout({ members: members(3, [0, 1]), primary: 0 }))).toBe(
      "restart 1; switch over 0 -> 1; restart 0",
    );
  });

  it("restarts a single member in place and says that writes pause", () => {
    expect(describeRollout(planRollout({ members: members(1), primary: 0 }))).toBe(
      "restart 0 (only member: writes pause)",
    );
  });

  it("rejects a primary or config primary that is not a member, naming the members", () => {
    expect(() => planRollout({ members: members(3), primary: 5 })).toThrow(
      "rollout: primary 5 is not a member (members: 0, 1, 2)",
    );
    expect(() => planRollout({ members: members(3), primary: 0, desiredPrimary: 4 })).toThrow(
      "rollout: config primary 4 is not a member (members: 0, 1, 2)",
    );
  });
});
