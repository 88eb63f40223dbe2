/** The demo's timeline: one row per step with its duration and check. Pure, so it is tested without servers. */

export interface StepRecord {
  /** What the step did, e.g. "grow to 4". */
  step: string;
  /** Wall time of the step. */
  ms: number;
  /** "ok": its check passed; "FAIL": it did not; "skipped": an earlier step failed, or the feature is absent. */
  result: "ok" | "FAIL" | "skipped";
  /** The check's finding in words ("member 3 cloned from member 1, replicating; 5000 rows"). */
  detail: string;
}

export function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Plain-text table: #, step, duration, check, detail (detail wrapped to `width`). */
export function formatTimeline(steps: StepRecord[], width = 72): string {
  const stepWidth = Math.max(4, ...steps.map((s) => s.step.length));
  const head = `${"#".padStart(2)}  ${"step".padEnd(stepWidth)}  ${"time".padStart(7)}  check    detail`;
  const indent = " ".repeat(2 + 2 + stepWidth + 2 + 7 + 2 + 9);
  const lines = [head, "-".repeat(head.length + 20)];
  steps.forEach((s, i) => {
    const [first, ...rest] = wrap(s.detail, width);
    lines.push(
      `${String(i + 1).padStart(2)}  ${s.step.padEnd(stepWidth)}  ${formatDuration(s.ms).padStart(7)}  ${s.result.padEnd(7)}  ${first ?? ""}`,
    );
    for (const line of rest) lines.push(indent + line);
  });
  const failed = steps.filter((s) => s.result === "FAIL").length;
  const total = steps.reduce((sum, s) => sum + s.ms, 0);
  lines.push("-".repeat(head.length + 20));
  lines.push(
    failed
      ? `${failed} of ${steps.length} checks FAILED (${formatDuration(total)})`
      : `all ${steps.filter((s) => s.result === "ok").length} checks passed (${formatDuration(total)})`,
  );
  return lines.join("\n");
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) out.push(line);
  return out;
}
