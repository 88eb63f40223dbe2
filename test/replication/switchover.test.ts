import { sleep } from "../../local/mariadbd";
import { inspect, switchover } from "../../components/replication";
import { Lab, Writer, cleanup, ids, startLab, waitReplicated } from "./support";

describe("switchover", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("moves the primary under a continuous writer without losing an acknowledged write, and the old primary replicates from the new one", async () => {
    lab = await startLab(3, { setUp: true });
    const writer = new Writer(lab.servers, 0);
    await sleep(500);
    const result = await switchover(lab.members, 2, lab.settings);
    await sleep(500);
    await writer.stop();

    const t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(2);
    expect(t.healthy).toBe(true);
    expect(t.members[0].replica?.sourceIndex).toBe(2);
    expect(t.members[1].replica?.sourceIndex).toBe(2);
    await waitReplicated(lab);
    const onNew = await ids(lab.servers[2]);
    const lost = writer.acked.filter((id) => !onNew.has(id));
    expect(lost).toEqual([]);
    const onOld = await ids(lab.servers[0]);
    expect(writer.acked.filter((id) => !onOld.has(id))).toEqual([]);
    // Writes went on after the switchover, on the new primary.
    expect(writer.acked.length).toBeGreaterThan(50);
    const gap = writer.maxGapMs();
    console.log(`switchover write gap: ${gap} ms as seen by the writer (engine window ${result.writeGapMs} ms, median write ${writer.medianLatencyMs()} ms, ${writer.acked.length} writes)`);
    expect(result.writeGapMs).toBeLessThan(1000);
  });
});
