/**
 * The benchmark's results and goals (README, "Reliability"), kept pure so the verdicts can be tested without running anything.
 * Every figure is either measured in this run or explicitly "not measured" with the reason; nothing is filled in.
 */

/** What `npm run bench -- --json` prints. Keys named in issue 8; null means not measured (see `notMeasured`). */
export interface BenchResults {
  date: string;
  switchoverGapMs: number | null;
  medianWriteMs: number | null;
  /** switchoverGapMs / medianWriteMs: how many normal writes the switchover costs. */
  switchoverGapOverMedian: number | null;
  lostWrites: number | null;
  failoverMs: number | null;
  /** kill -9 of the primary to the first acknowledged write on the new one, with nobody but the failover agent acting. */
  agentFailoverMs: number | null;
  /** The same with the agent checking every 250 ms. */
  agentFailoverFastMs: number | null;
  cloneVsCp: number | null;
  backupVsRawStream: number | null;
  restoreVsRawStream: number | null;
  /** Program evaluation time under mocks, keyed by replica count. */
  evalMs: Record<string, number | null>;
  /**
   * Resources the program registered at each replica count. Each member has its own certificate (key, request,
   * certificate), so the program grows with members; the goal is that each resource costs the same at any size.
   */
  evalResources: Record<string, number>;
  /** Write acknowledged on the primary to the binlog holding it being in S3 (the binlog archiver). */
  recoveryPointMs: number | null;
  /** Absolute timings behind the ratios (noisy here; the ratios are the figures). */
  details: Record<string, number | string>;
  /** Figure -> why it was not measured in this run. */
  notMeasured: Record<string, string>;
  goals: GoalVerdict[];
}

export interface GoalVerdict {
  figure: string;
  goal: string;
  value: string;
  /** null: not measured, so neither passed nor failed. */
  pass: boolean | null;
}

export function emptyResults(date: string): BenchResults {
  return {
    date,
    switchoverGapMs: null,
    medianWriteMs: null,
    switchoverGapOverMedian: null,
    lostWrites: null,
    failoverMs: null,
    agentFailoverMs: null,
    agentFailoverFastMs: null,
    cloneVsCp: null,
    backupVsRawStream: null,
    restoreVsRawStream: null,
    evalMs: {},
    evalResources: {},
    recoveryPointMs: null,
    details: {},
    notMeasured: {},
    goals: [],
  };
}

/** Evaluation is "flat" when the largest topology takes at most this many times the smallest. */
export const EVAL_FLAT_FACTOR = 2;

/** Applies the goals (README, "Reliability") to the measured figures. */
export function judge(r: BenchResults): GoalVerdict[] {
  const verdict = (figure: string, goal: string, value: number | null, ok: (v: number) => boolean, unit = ""): GoalVerdict => ({
    figure,
    goal,
    value: value === null ? `not measured: ${r.notMeasured[figure] ?? "no value"}` : `${round(value)}${unit}`,
    pass: value === null ? null : ok(value),
  });
  // Time per registered resource (the whole time where the count is missing), largest topology over smallest.
  const evals = Object.entries(r.evalMs)
    .filter((e): e is [string, number] => e[1] !== null)
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map(([n, ms]) => ms / (r.evalResources[n] ?? 1));
  const evalSpread = evals.length >= 2 ? evals[evals.length - 1] / evals[0] : null;
  return [
    verdict("switchoverGapMs", "< 100 ms", r.switchoverGapMs, (v) => v < 100, " ms"),
    verdict("lostWrites", "= 0", r.lostWrites, (v) => v === 0),
    verdict("failoverMs", "< 2000 ms", r.failoverMs, (v) => v < 2000, " ms"),
    verdict("agentFailoverMs", "<= 5000 ms", r.agentFailoverMs, (v) => v <= 5000, " ms"),
    verdict("agentFailoverFastMs", "<= 2000 ms", r.agentFailoverFastMs, (v) => v <= 2000, " ms"),
    verdict("cloneVsCp", ">= 0.8x", r.cloneVsCp, (v) => v >= 0.8, "x"),
    verdict("backupVsRawStream", ">= 0.8x", r.backupVsRawStream, (v) => v >= 0.8, "x"),
    verdict("restoreVsRawStream", ">= 0.8x", r.restoreVsRawStream, (v) => v >= 0.8, "x"),
    {
      ...verdict("evalMs", `per resource flat: max/min <= ${EVAL_FLAT_FACTOR}`, evalSpread, (v) => v <= EVAL_FLAT_FACTOR, "x"),
      ...(evalSpread === null && !r.notMeasured.evalMs ? { value: "not measured: fewer than two replica counts evaluated" } : {}),
    },
    verdict("recoveryPointMs", "< 10000 ms", r.recoveryPointMs, (v) => v < 10000, " ms"),
  ];
}

/** The human table: figures, then goals with PASS/FAIL/-. */
export function formatTable(r: BenchResults): string {
  const rows: [string, string][] = [
    ["switchover write gap", fmt(r.switchoverGapMs, " ms", r.notMeasured.switchoverGapMs)],
    ["median write latency", fmt(r.medianWriteMs, " ms", r.notMeasured.medianWriteMs)],
    ["gap / median write", fmt(r.switchoverGapOverMedian, "x", r.notMeasured.switchoverGapMs)],
    ["acknowledged writes lost", fmt(r.lostWrites, "", r.notMeasured.lostWrites)],
    ["failover (kill -9 -> first write)", fmt(r.failoverMs, " ms", r.notMeasured.failoverMs)],
    ["agent failover, defaults (kill -9 -> first write)", fmt(r.agentFailoverMs, " ms", r.notMeasured.agentFailoverMs)],
    ["agent failover, 250 ms checks", fmt(r.agentFailoverFastMs, " ms", r.notMeasured.agentFailoverFastMs)],
    ["clone vs cp -a", fmt(r.cloneVsCp, "x", r.notMeasured.cloneVsCp)],
    ["backup to S3 vs raw stream", fmt(r.backupVsRawStream, "x", r.notMeasured.backupVsRawStream)],
    ["restore from S3 vs raw stream", fmt(r.restoreVsRawStream, "x", r.notMeasured.restoreVsRawStream)],
    ...Object.entries(r.evalMs).map(([n, v]): [string, string] => [
      `evaluation, ${n} replicas${r.evalResources[n] ? ` (${r.evalResources[n]} resources)` : ""}`,
      fmt(v, " ms", r.notMeasured[`evalMs.${n}`] ?? r.notMeasured.evalMs),
    ]),
    ["recovery point (binlog archiver)", fmt(r.recoveryPointMs, " ms", r.notMeasured.recoveryPointMs)],
  ];
  const width = Math.max(...rows.map((x) => x[0].length));
  const lines = [`mysql-ha bench ${r.date}`, "", ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`), "", "goals:"];
  for (const g of r.goals) lines.push(`  ${(g.pass === null ? "-" : g.pass ? "PASS" : "FAIL").padEnd(4)}  ${g.figure.padEnd(20)} ${g.goal.padEnd(22)} ${g.value}`);
  const details = Object.entries(r.details);
  if (details.length) lines.push("", "details:", ...details.map(([k, v]) => `  ${k}: ${typeof v === "number" ? round(v) : v}`));
  return lines.join("\n");
}

function fmt(v: number | null | undefined, unit: string, reason?: string): string {
  return v === null || v === undefined ? `not measured: ${reason ?? "no value"}` : `${round(v)}${unit}`;
}

/** Three significant digits at most (so 0.798x never prints as a passing-looking 0.8x). */
export function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Number(v.toPrecision(3));
}
