/**
 * The picture of the bench: every acknowledged write of the replication section's writer over time (its latency),
 * with the windows of the operations shaded. The Vega-Lite spec is built here (pure, tested); bench/render-svg.mjs
 * renders it to SVG with vega, headless.
 */
import { execFile } from "node:child_process";
import * as path from "node:path";
import { PACKAGE_ROOT } from "../components/package-root";

export interface TimelineWrite {
  /** When the OK arrived, ms since the writer started. */
  at: number;
  latencyMs: number;
  /** The member that acknowledged it. */
  on: string;
}

export interface TimelineWindow {
  kind: "switchover" | "failover" | "restart";
  label: string;
  /** ms since the writer started. */
  from: number;
  to: number;
}

export interface Timeline {
  writes: TimelineWrite[];
  windows: TimelineWindow[];
}

/** Points are the slowest write of each bucket of this many ms: the SVG stays small, no slow write is hidden. */
export const BUCKET_MS = 10;

const WINDOW_COLORS: Record<TimelineWindow["kind"], string> = {
  switchover: "#4c78a8",
  failover: "#e45756",
  restart: "#f2a541",
};

/** The slowest write of each BUCKET_MS bucket (per member), in time order. */
export function slowestPerBucket(writes: TimelineWrite[]): TimelineWrite[] {
  const buckets = new Map<string, TimelineWrite>();
  for (const w of writes) {
    const key = `${Math.floor(w.at / BUCKET_MS)} ${w.on}`;
    const kept = buckets.get(key);
    if (!kept || w.latencyMs > kept.latencyMs) buckets.set(key, w);
  }
  return [...buckets.values()].sort((a, b) => a.at - b.at);
}

/** Member names as the legend shows them: "member <index>" by the order of `members` ("host:port"). */
export function timelineSpec(t: Timeline, title: string, members: string[]): Record<string, unknown> {
  const name = (on: string) => (members.includes(on) ? `member ${members.indexOf(on)}` : on);
  const kinds = (Object.keys(WINDOW_COLORS) as TimelineWindow["kind"][]).filter((k) =>
    t.windows.some((w) => w.kind === k),
  );
  const seconds = { type: "quantitative", title: "seconds since the writer started" } as const;
  return {
    title,
    width: 900,
    height: 280,
    background: "white",
    layer: [
      {
        data: { values: t.windows.map((w) => ({ ...w, from: w.from / 1000, to: w.to / 1000 })) },
        mark: { type: "rect", opacity: 0.25 },
        encoding: {
          x: { field: "from", ...seconds },
          x2: { field: "to" },
          color: {
            field: "kind",
            type: "nominal",
            title: "operation",
            scale: { domain: kinds, range: kinds.map((k) => WINDOW_COLORS[k]) },
          },
          tooltip: [{ field: "label" }],
        },
      },
      {
        data: {
          values: slowestPerBucket(t.writes).map((w) => ({
            t: w.at / 1000,
            latencyMs: w.latencyMs,
            member: name(w.on),
          })),
        },
        mark: { type: "point", filled: true, size: 10, opacity: 0.8 },
        encoding: {
          x: { field: "t", ...seconds },
          y: {
            field: "latencyMs",
            type: "quantitative",
            title: `write latency, ms (slowest per ${BUCKET_MS} ms, log scale)`,
            scale: { type: "log" },
          },
          color: { field: "member", type: "nominal", title: "acknowledged by", scale: { scheme: "dark2" } },
        },
      },
    ],
    resolve: { scale: { color: "independent" } },
  };
}

/** Renders a Vega-Lite spec to SVG with bench/render-svg.mjs. */
export function renderSvg(spec: Record<string, unknown>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      [path.join(PACKAGE_ROOT, "bench", "render-svg.mjs")],
      { maxBuffer: 64 << 20 },
      (err, stdout, stderr) =>
        err ? reject(new Error(`render-svg.mjs failed: ${stderr.trim() || err.message}`)) : resolve(stdout),
    );
    child.stdin!.end(JSON.stringify(spec));
  });
}
