import { BUCKET_MS, slowestPerBucket, timelineSpec } from "../../bench/plot";

/** The bench's picture is a Vega-Lite spec built from the writer's record: checked here without rendering or timing. */
describe("bench picture", () => {
  const writes = [
    { at: 1, latencyMs: 0.5, on: "a:1" },
    { at: 4, latencyMs: 3, on: "a:1" },
    { at: 9, latencyMs: 1, on: "a:1" },
    { at: 9, latencyMs: 0.2, on: "b:2" },
    { at: BUCKET_MS + 1, latencyMs: 0.4, on: "a:1" },
  ];

  it("keeps the slowest write of each bucket and member, in time order", () => {
    expect(slowestPerBucket(writes)).toEqual([writes[1], writes[3], writes[4]]);
  });

  it("shades each operation's window in seconds, colours writes by the member that acknowledged them, latency on a log scale", () => {
    const spec = timelineSpec(
      {
        writes,
        windows: [
          { kind: "failover", label: "kill -9", from: 1500, to: 1560 },
          { kind: "switchover", label: "0 -> 1", from: 500, to: 540 },
        ],
      },
      "title",
      ["a:1", "b:2"],
    ) as any;
    const [windows, points] = spec.layer;
    expect(windows.data.values).toEqual([
      expect.objectContaining({ kind: "failover", from: 1.5, to: 1.56 }),
      expect.objectContaining({ kind: "switchover", from: 0.5, to: 0.54 }),
    ]);
    // Only the kinds that happened are in the legend, each with its fixed colour.
    expect(windows.encoding.color.scale.domain).toEqual(["switchover", "failover"]);
    expect(points.data.values.map((p: any) => p.member)).toEqual(["member 0", "member 1", "member 0"]);
    expect(points.encoding.y.scale).toEqual({ type: "log" });
    expect(spec.resolve).toEqual({ scale: { color: "independent" } });
  });
});
