import {
  copyGrowth,
  CopyScaleRow,
  emptyResults,
  formatTable,
  grid,
  judge,
  memberGrowth,
  scaleTables,
  speedRatio,
} from "../../bench/report";

/** The benchmark's verdicts are pure: measured figures in, PASS/FAIL per goal out; missing stays missing. */
describe("bench goals", () => {
  it("passes and fails each goal on its threshold and leaves unmeasured figures undecided with the reason", () => {
    const r = emptyResults("2026-11-23");
    Object.assign(r, {
      switchoverGapMs: 99,
      lostWrites: 0,
      failoverMs: 2500,
      agentFailoverMs: 5000,
      agentFailoverFastMs: 2001,
      cloneVsHand: 0.79,
      backupVsHand: 0.8,
      switchoverVsHand: 1.51,
      recoveryPointMs: 3000,
      cliStartMs: { help: 120, statusHelp: 299 },
    });
    r.evalMs = { "3": 100, "9": 120, "30": 150 };
    r.notMeasured.restoreVsHand = "restore.sh has not landed";
    const verdict = Object.fromEntries(judge(r).map((g) => [g.figure, g.pass]));
    expect(verdict).toEqual({
      switchoverGapMs: true,
      lostWrites: true,
      failoverMs: false,
      agentFailoverMs: true,
      agentFailoverFastMs: false,
      cloneVsHand: false,
      backupVsHand: true,
      restoreVsHand: null,
      switchoverVsHand: false,
      copyScale: null,
      memberScale: null,
      cliStartMs: true,
      evalMs: true,
      recoveryPointMs: true,
    });
    r.goals = judge(r);
    expect(formatTable(r)).toContain("not measured: restore.sh has not landed");
  });

  it("calls evaluation time not flat when the largest topology takes more than twice the smallest, and counts a lost write as a failure", () => {
    const r = emptyResults("2026-11-23");
    r.evalMs = { "3": 100, "9": 150, "30": 201 };
    r.lostWrites = 1;
    const verdict = Object.fromEntries(judge(r).map((g) => [g.figure, g.pass]));
    expect(verdict.evalMs).toBe(false);
    expect(verdict.lostWrites).toBe(false);
  });

  it("judges evaluation per registered resource: more resources at the same cost each is flat, a higher cost each is not", () => {
    const r = emptyResults("2026-12-01");
    r.evalMs = { "3": 100, "30": 400 };
    r.evalResources = { "3": 40, "30": 160 };
    expect(judge(r).find((g) => g.figure === "evalMs")).toMatchObject({ pass: true, value: "1x" });
    r.evalResources = { "3": 40, "30": 60 };
    expect(judge(r).find((g) => g.figure === "evalMs")).toMatchObject({ pass: false, value: "2.67x" });
  });

  it("takes the hand reference over ours as the copy ratio, and leaves it unmeasured when either side is missing", () => {
    expect(speedRatio(800, 1000)).toBe(0.8);
    expect(speedRatio(null, 1000)).toBeNull();
    expect(speedRatio(800, null)).toBeNull();
  });

  it("judges the CLI start on the slower of --help and status --help", () => {
    const r = emptyResults("2026-12-01");
    r.cliStartMs = { help: 100, statusHelp: 300 };
    expect(judge(r).find((g) => g.figure === "cliStartMs")).toMatchObject({ pass: false, value: "300 ms" });
    r.cliStartMs = { help: 100, statusHelp: null };
    expect(judge(r).find((g) => g.figure === "cliStartMs")?.pass).toBeNull();
  });

  it("calls a copy path linear when its time per byte grows at most 1.5x from the smallest size to the largest", () => {
    const row = (dataBytes: number, ms: number): CopyScaleRow => ({
      dataBytes,
      cpMs: null,
      rawStreamMs: null,
      cloneMs: ms,
      cloneHandMs: ms,
      backupMs: ms,
      backupHandMs: null,
      restoreMs: null,
      restoreHandMs: null,
    });
    // Twice the data in twice the time: linear. A fixed cost makes the larger size cheaper per byte, also fine.
    expect(copyGrowth({ "300": row(300e6, 1000), "600": row(600e6, 2000) })).toBe(1);
    expect(copyGrowth({ "300": row(300e6, 1000), "3000": row(3000e6, 9000) })).toBeCloseTo(0.9);
    const r = emptyResults("2026-12-01");
    r.copyScale = { "300": row(300e6, 1000), "600": row(600e6, 3100) };
    expect(judge(r).find((g) => g.figure === "copyScale")).toMatchObject({ pass: false, value: "1.55x" });
    r.copyScale = { "300": row(300e6, 1000) };
    expect(judge(r).find((g) => g.figure === "copyScale")).toMatchObject({
      pass: null,
      value: "not measured: fewer than two data sizes",
    });
  });

  it("judges member scaling on the worst of switchover gap, failover and inspect time, sorted by member count", () => {
    const r = emptyResults("2026-12-01");
    r.memberScale = {
      "9": { switchoverGapMs: 40, handSwitchoverGapMs: 20, failoverMs: 900, inspectMs: 50, handInspectMs: 10 },
      "3": { switchoverGapMs: 30, handSwitchoverGapMs: 20, failoverMs: 400, inspectMs: 20, handInspectMs: 5 },
      "5": { switchoverGapMs: 35, handSwitchoverGapMs: 20, failoverMs: 600, inspectMs: 30, handInspectMs: 7 },
    };
    expect(memberGrowth(r.memberScale)).toBe(2.5);
    expect(judge(r).find((g) => g.figure === "memberScale")?.pass).toBe(false);
    r.memberScale["9"].inspectMs = 40;
    r.memberScale["9"].failoverMs = 800;
    expect(judge(r).find((g) => g.figure === "memberScale")?.pass).toBe(true);
  });

  it("prints the scale curves as aligned tables with ours, the hand reference and their ratio", () => {
    expect(grid(["a", "bb"], [["ccc", "d"]])).toBe("  a    bb\n  ccc  d");
    const r = emptyResults("2026-12-01");
    r.copyScale = {
      "343": {
        dataBytes: 343e6,
        cpMs: 150,
        rawStreamMs: 400,
        cloneMs: 800,
        cloneHandMs: 700,
        backupMs: 1000,
        backupHandMs: 900,
        restoreMs: null,
        restoreHandMs: 1200,
      },
    };
    r.memberScale = {
      "3": { switchoverGapMs: 30.4, handSwitchoverGapMs: 20, failoverMs: null, inspectMs: 12, handInspectMs: 4 },
    };
    const text = scaleTables(r).join("\n");
    expect(text).toContain("343 MB   150    400         800 / 700 (0.875x)  1000 / 900 (0.9x)  - / 1200");
    expect(text).toMatch(/3 +30 +20 +- +12 +4/);
    expect(scaleTables(emptyResults("2026-12-01"))).toEqual([]);
  });
});
