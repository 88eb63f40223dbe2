/**
 * The benchmark's results and goals (README, "Performance"), kept pure so the verdicts can be tested without running anything.
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
  /**
   * The copy paths against the same tools run by hand on the same data and S3 (bench/reference.ts): reference time
   * over ours, so 1 is "as fast as by hand". At the smallest data size; `copyScale` has every size.
   */
  cloneVsHand: number | null;
  backupVsHand: number | null;
  restoreVsHand: number | null;
  /** Informational: a memory copy of the datadir, and the bare backup stream into /dev/null, over ours. */
  cloneVsCp: number | null;
  backupVsRawStream: number | null;
  restoreVsRawStream: number | null;
  /** Our switchover's write gap over the gap of a minimal switchover done by hand in SQL, at 3 members. */
  switchoverVsHand: number | null;
  /** The copy paths at each data size, keyed by the datadir's size in MB. */
  copyScale: Record<string, CopyScaleRow>;
  /** Switchover gap, failover and inspect time at each member count, keyed by it. */
  memberScale: Record<string, MemberScaleRow>;
  /** Start of `node bin/mysql-ha.js --help` and `... status --help` (median of runs). */
  cliStartMs: { help: number | null; statusHelp: number | null };
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

export interface CopyScaleRow {
  dataBytes: number;
  cpMs: number | null;
  rawStreamMs: number | null;
  cloneMs: number | null;
  cloneHandMs: number | null;
  backupMs: number | null;
  backupHandMs: number | null;
  restoreMs: number | null;
  restoreHandMs: number | null;
}

export interface MemberScaleRow {
  switchoverGapMs: number | null;
  handSwitchoverGapMs: number | null;
  failoverMs: number | null;
  inspectMs: number | null;
  /** The same members read by hand (bench/reference.ts handInspect): the machine's share of the growth. */
  handInspectMs: number | null;
}

export const COPY_PATHS = ["clone", "backup", "restore"] as const;
export const MEMBER_FIGURES = ["switchoverGapMs", "failoverMs", "inspectMs"] as const;

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
    cloneVsHand: null,
    backupVsHand: null,
    restoreVsHand: null,
    cloneVsCp: null,
    backupVsRawStream: null,
    restoreVsRawStream: null,
    switchoverVsHand: null,
    copyScale: {},
    memberScale: {},
    cliStartMs: { help: null, statusHelp: null },
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
/** A copy path is linear in data when its time per byte at the largest size is at most this many times the smallest's. */
export const COPY_LINEAR_FACTOR = 1.5;
/** Member-count growth allowed for switchover gap, failover and inspect time (largest topology over 3 members). */
export const MEMBER_FLAT_FACTOR = 2;
export const CLI_START_GOAL_MS = 300;

/** Largest over smallest of `perUnit` across the entries, sorted by their numeric key; null with fewer than two. */
export function spread(entries: Record<string, number | null>): number | null {
  const values = Object.entries(entries)
    .filter((e): e is [string, number] => e[1] !== null && e[1] > 0)
    .sort((a, b) => Number(a[0]) - Number(b[0]))
    .map((e) => e[1]);
  return values.length >= 2 ? values[values.length - 1] / values[0] : null;
}

/** Worst time-per-byte growth of any copy path from the smallest data size to the largest. */
export function copyGrowth(scale: Record<string, CopyScaleRow>): number | null {
  const growths = COPY_PATHS.map((p) =>
    spread(
      Object.fromEntries(
        Object.entries(scale).map(([mb, row]) => [mb, row[`${p}Ms`] === null ? null : row[`${p}Ms`]! / row.dataBytes]),
      ),
    ),
  ).filter((g): g is number => g !== null);
  return growths.length ? Math.max(...growths) : null;
}

/** Worst growth of switchover gap, failover or inspect time from the smallest topology to the largest. */
export function memberGrowth(scale: Record<string, MemberScaleRow>): number | null {
  const growths = MEMBER_FIGURES.map((f) =>
    spread(Object.fromEntries(Object.entries(scale).map(([n, row]) => [n, row[f]]))),
  ).filter((g): g is number => g !== null);
  return growths.length ? Math.max(...growths) : null;
}

/** Reference over ours (1 = as fast as the reference), or null when either is missing. */
export function speedRatio(referenceMs: number | null | undefined, oursMs: number | null | undefined): number | null {
  return referenceMs == null || oursMs == null || oursMs <= 0 ? null : referenceMs / oursMs;
}

/** Applies the goals (README, "Performance") to the measured figures. */
export function judge(r: BenchResults): GoalVerdict[] {
  const verdict = (
    figure: string,
    goal: string,
    value: number | null,
    ok: (v: number) => boolean,
    unit = "",
  ): GoalVerdict => ({
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
    verdict("cloneVsHand", ">= 0.8x", r.cloneVsHand, (v) => v >= 0.8, "x"),
    verdict("backupVsHand", ">= 0.8x", r.backupVsHand, (v) => v >= 0.8, "x"),
    verdict("restoreVsHand", ">= 0.8x", r.restoreVsHand, (v) => v >= 0.8, "x"),
    verdict("switchoverVsHand", "<= 1.5x", r.switchoverVsHand, (v) => v <= 1.5, "x"),
    scaleVerdict(
      "copyScale",
      `time per GB, largest/smallest size <= ${COPY_LINEAR_FACTOR}`,
      copyGrowth(r.copyScale),
      COPY_LINEAR_FACTOR,
      "data sizes",
    ),
    scaleVerdict(
      "memberScale",
      `largest/3 members <= ${MEMBER_FLAT_FACTOR}`,
      memberGrowth(r.memberScale),
      MEMBER_FLAT_FACTOR,
      "member counts",
    ),
    verdict(
      "cliStartMs",
      `< ${CLI_START_GOAL_MS} ms (slower of the two)`,
      cliStart(r),
      (v) => v < CLI_START_GOAL_MS,
      " ms",
    ),
    {
      ...verdict(
        "evalMs",
        `per resource flat: max/min <= ${EVAL_FLAT_FACTOR}`,
        evalSpread,
        (v) => v <= EVAL_FLAT_FACTOR,
        "x",
      ),
      ...(evalSpread === null && !r.notMeasured.evalMs
        ? { value: "not measured: fewer than two replica counts evaluated" }
        : {}),
    },
    verdict("recoveryPointMs", "< 10000 ms", r.recoveryPointMs, (v) => v < 10000, " ms"),
  ];

  function scaleVerdict(
    figure: string,
    goal: string,
    growth: number | null,
    factor: number,
    what: string,
  ): GoalVerdict {
    const v = verdict(figure, goal, growth, (x) => x <= factor, "x");
    return growth === null && !r.notMeasured[figure] ? { ...v, value: `not measured: fewer than two ${what}` } : v;
  }
}

function cliStart(r: BenchResults): number | null {
  const { help, statusHelp } = r.cliStartMs;
  return help === null || statusHelp === null ? null : Math.max(help, statusHelp);
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
    ["switchover gap, ours / by hand", fmt(r.switchoverVsHand, "x", r.notMeasured.switchoverVsHand)],
    ["clone: by hand / ours", fmt(r.cloneVsHand, "x", r.notMeasured.cloneVsHand)],
    ["backup to S3: by hand / ours", fmt(r.backupVsHand, "x", r.notMeasured.backupVsHand)],
    ["restore from S3: by hand / ours", fmt(r.restoreVsHand, "x", r.notMeasured.restoreVsHand)],
    ["clone: cp -a / ours (info)", fmt(r.cloneVsCp, "x", r.notMeasured.cloneVsHand)],
    ["backup: raw stream / ours (info)", fmt(r.backupVsRawStream, "x", r.notMeasured.backupVsHand)],
    ["restore: raw stream / ours (info)", fmt(r.restoreVsRawStream, "x", r.notMeasured.restoreVsHand)],
    ["CLI start, --help", fmt(r.cliStartMs.help, " ms", r.notMeasured.cliStartMs)],
    ["CLI start, status --help", fmt(r.cliStartMs.statusHelp, " ms", r.notMeasured.cliStartMs)],
    ...Object.entries(r.evalMs).map(([n, v]): [string, string] => [
      `evaluation, ${n} replicas${r.evalResources[n] ? ` (${r.evalResources[n]} resources)` : ""}`,
      fmt(v, " ms", r.notMeasured[`evalMs.${n}`] ?? r.notMeasured.evalMs),
    ]),
    ["recovery point (binlog archiver)", fmt(r.recoveryPointMs, " ms", r.notMeasured.recoveryPointMs)],
  ];
  const width = Math.max(...rows.map((x) => x[0].length));
  const lines = [`mysql-ha bench ${r.date}`, "", ...rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)];
  lines.push(...scaleTables(r), "", "goals:");
  const goalWidth = Math.max(0, ...r.goals.map((g) => g.goal.length));
  for (const g of r.goals)
    lines.push(
      `  ${(g.pass === null ? "-" : g.pass ? "PASS" : "FAIL").padEnd(4)}  ${g.figure.padEnd(20)} ${g.goal.padEnd(goalWidth)}  ${g.value}`,
    );
  const details = Object.entries(r.details);
  if (details.length)
    lines.push("", "details:", ...details.map(([k, v]) => `  ${k}: ${typeof v === "number" ? round(v) : v}`));
  return lines.join("\n");
}

/** The scale curves as two text tables (empty when nothing was measured). */
export function scaleTables(r: BenchResults): string[] {
  const lines: string[] = [];
  const ms = (v: number | null) => (v === null ? "-" : String(Math.round(v)));
  const sizes = Object.entries(r.copyScale).sort((a, b) => Number(a[0]) - Number(b[0]));
  if (sizes.length) {
    lines.push("", "copy paths by data size (ms; ours / by hand, hand over ours):");
    lines.push(
      grid(
        ["datadir", "cp -a", "raw stream", ...COPY_PATHS.map((p) => `${p} ours/hand`)],
        sizes.map(([mb, row]) => [
          `${mb} MB`,
          ms(row.cpMs),
          ms(row.rawStreamMs),
          ...COPY_PATHS.map((p) => {
            const ratio = speedRatio(row[`${p}HandMs`], row[`${p}Ms`]);
            return `${ms(row[`${p}Ms`])} / ${ms(row[`${p}HandMs`])}${ratio === null ? "" : ` (${round(ratio)}x)`}`;
          }),
        ]),
      ),
    );
  }
  const counts = Object.entries(r.memberScale).sort((a, b) => Number(a[0]) - Number(b[0]));
  if (counts.length) {
    lines.push("", "by member count (ms):");
    lines.push(
      grid(
        ["members", "switchover gap", "hand switchover gap", "failover", "inspect", "hand inspect"],
        counts.map(([n, row]) => [
          n,
          ms(row.switchoverGapMs),
          ms(row.handSwitchoverGapMs),
          ms(row.failoverMs),
          ms(row.inspectMs),
          ms(row.handInspectMs),
        ]),
      ),
    );
  }
  return lines;
}

/** Left-aligned columns, two spaces apart. */
export function grid(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  return [header, ...rows]
    .map(
      (row) =>
        "  " +
        row
          .map((c, i) => c.padEnd(widths[i]))
          .join("  ")
          .trimEnd(),
    )
    .join("\n");
}

function fmt(v: number | null | undefined, unit: string, reason?: string): string {
  return v === null || v === undefined ? `not measured: ${reason ?? "no value"}` : `${round(v)}${unit}`;
}

/** Three significant digits at most (so 0.798x never prints as a passing-looking 0.8x). */
export function round(v: number): number {
  return Math.abs(v) >= 100 ? Math.round(v) : Number(v.toPrecision(3));
}
