/**
 * Chaos for the engine's view: under a 1 ms writer, replicas keep receiving transactions while inspect reads the
 * members. A replica read a moment after the primary can be ahead of the primary's snapshot; that must never be
 * reported as errant GTIDs (which would make switchover and attach refuse for no reason).
 */
import { inspect } from "../../components/replication";
import { chaosTopologyPerTest } from "./support";

describe("chaos: inspect under a continuous writer", () => {
  const start = chaosTopologyPerTest();

  it("never reports a replica's freshly received transactions as errant", async () => {
    const t = await start({ serverIdBase: 1500 });
    await t.writer.start();
    const errant: string[] = [];
    for (let i = 0; i < 60; i++) {
      const view = await inspect(t.members, t.settings);
      expect(view.primary).toBe(0);
      for (const m of view.members) errant.push(...m.errantGtids.map((g) => `member ${m.index}: ${g}`));
    }
    await t.writer.stop();
    expect(errant).toEqual([]);
  });
});
