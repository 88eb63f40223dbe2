/**
 * How often a CronJob schedule runs: the longest time between two of its runs, for thresholds such as "no complete
 * backup within two schedule periods". Reads the forms Kubernetes' CronJob takes (five fields of numbers, `*`, `?`,
 * ranges, steps and lists, month and weekday names; the @ macros), with its day rule: when day-of-month and
 * day-of-week are both restricted a day matching either runs. Pure; the calendar is UTC's.
 */

export class CronScheduleError extends Error {
  constructor(
    readonly schedule: string,
    detail: string,
  ) {
    super(`cron schedule "${schedule}": ${detail}`);
    this.name = "CronScheduleError";
  }
}

const MACROS: Record<string, string> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

const MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"];
const WEEKDAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];
const FIELDS = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day-of-month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS },
  { name: "day-of-week", min: 0, max: 6, names: WEEKDAYS },
] as const;

interface Field {
  values: Set<number>;
  /** `*` or `?` (without a step above 1): for the day rule, the field does not restrict. */
  any: boolean;
}

function parseField(schedule: string, text: string, spec: (typeof FIELDS)[number]): Field {
  const bad = (why: string) => new CronScheduleError(schedule, `${spec.name} field "${text}": ${why}`);
  const names: readonly string[] | undefined = "names" in spec ? spec.names : undefined;
  const number = (s: string): number => {
    const named = names?.indexOf(s.toUpperCase()) ?? -1;
    if (named >= 0) return named + spec.min;
    if (!/^\d+$/.test(s)) {
      throw bad(
        `"${s}" is not a number${names ? ` or a name (${names.join(", ")})` : ""}; L, W, # and other extensions are not supported`,
      );
    }
    const n = Number(s);
    if (n < spec.min || n > spec.max) throw bad(`${n} is outside ${spec.min}-${spec.max}`);
    return n;
  };
  const values = new Set<number>();
  let any = false;
  for (const part of text.split(",")) {
    const [range, stepText, extra] = part.split("/");
    if (extra !== undefined || range === "") throw bad(`"${part}" is not a value, a range or a step`);
    const step = stepText === undefined ? 1 : Number(stepText);
    if (stepText !== undefined && !(/^\d+$/.test(stepText) && step >= 1))
      throw bad(`step "${stepText}" is not a positive integer`);
    let start: number;
    let end: number;
    if (range === "*" || range === "?") {
      [start, end] = [spec.min, spec.max];
      if (step === 1) any = true;
    } else {
      const [low, high, more] = range.split("-");
      if (more !== undefined) throw bad(`"${range}" is not a range`);
      start = number(low);
      // "5/10" counts from 5 to the field's end, as Kubernetes reads it.
      end = high !== undefined ? number(high) : stepText !== undefined ? spec.max : start;
      if (end < start) throw bad(`range "${range}" ends before it starts`);
    }
    for (let v = start; v <= end; v += step) values.add(v);
  }
  return { values, any };
}

/** Days in the Gregorian 400-year cycle, which repeats dates and weekdays alike. */
const CYCLE_DAYS = 146097;
const DAY_MS = 86400000;

/**
 * The longest time in seconds between two consecutive runs of `schedule`, over the whole calendar (so a schedule
 * that runs on the 31st waits out the shorter months). A CronScheduleError names the field it cannot read, or says
 * the schedule never runs.
 */
export function longestGapSeconds(schedule: string): number {
  const expanded = MACROS[schedule.trim()] ?? schedule;
  const texts = expanded.trim().split(/\s+/);
  if (texts.length !== 5)
    throw new CronScheduleError(
      schedule,
      `expected 5 fields (minute hour day-of-month month day-of-week) or one of ${Object.keys(MACROS).join(", ")}`,
    );
  const [minute, hour, dom, month, dow] = texts.map((t, i) => parseField(schedule, t, FIELDS[i]));
  // Minutes of the day it runs at, in order.
  const times = [...hour.values]
    .sort((a, b) => a - b)
    .flatMap((h) => [...minute.values].sort((a, b) => a - b).map((m) => h * 60 + m));
  const start = Date.UTC(2000, 0, 1);
  let first: number | undefined;
  let last: number | undefined;
  // Within a day it runs, then from day to day.
  let longest = Math.max(0, ...times.slice(1).map((t, i) => t - times[i]));
  for (let day = 0; day < CYCLE_DAYS; day++) {
    const date = new Date(start + day * DAY_MS);
    if (!month.values.has(date.getUTCMonth() + 1)) continue;
    const byDom = dom.values.has(date.getUTCDate());
    const byDow = dow.values.has(date.getUTCDay());
    if (!(dom.any || dow.any ? byDom && byDow : byDom || byDow)) continue;
    const base = day * 1440;
    if (first === undefined) first = base + times[0];
    if (last !== undefined) longest = Math.max(longest, base + times[0] - last);
    last = base + times[times.length - 1];
  }
  if (first === undefined || last === undefined)
    throw new CronScheduleError(schedule, "it never runs (no date matches its day and month fields)");
  // From the cycle's last run to its first run in the next cycle.
  longest = Math.max(longest, first + CYCLE_DAYS * 1440 - last);
  return longest * 60;
}
