import { emptyResults, formatTable, judge } from "../../bench/report";

/** The benchmark's verdicts are pure: measured figures in, PASS/FAIL per goal out; missing stays missing. */
describe("bench goals", () => {
  it("passes and fails each goal on its threshold and leaves unmeasured figures undecided with the reason", () => {
    const r = emptyResults("2026-11-23");
    Object.assign(r, {
      switchoverGapMs: 99, lostWrites: 0, failoverMs: 2500, agentFailoverMs: 5000, agentFailoverFastMs: 2001, cloneVsCp: 0.79, backupVsRawStream: 0.8, recoveryPointMs: 3000,
    });
    r.evalMs = { "3": 100, "9": 120, "30": 150 };
    r.notMeasured.restoreVsRawStream = "restore.sh has not landed";
    const verdict = Object.fromEntries(judge(r).map((g) => [g.figure, g.pass]));
    expect(verdict).toEqual({
      switchoverGapMs: true,
      lostWrites: true,
      failoverMs: false,
      agentFailoverMs: true,
      agentFailoverFastMs: false,
      cloneVsCp: false,
      backupVsRawStream: true,
      restoreVsRawStream: null,
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
});
