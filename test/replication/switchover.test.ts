import { sleep } from "../../local/mariadbd";
import { LOCK_NAME, inspect, switchover } from "../../components/replication";
import { Lab, Writer, cleanup, ids, startLab, waitReplicated } from "./support";

describe("switchover", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("moves the primary under a continuous writer without losing an acknowledged write, and the old primary replicates from the new one", async () => {
    lab = await startLab(3, { setUp: true });
    const writer = new Writer(lab, 0);
    await sleep(500);
    const result = await switchover(lab.members, 2, lab.settings);
    await sleep(500);
    await writer.stop();

    const t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(2);
    expect(t.problems).toEqual([]);
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
    console.log(
      `switchover write gap: ${gap} ms as seen by the writer (engine window ${result.writeGapMs} ms, median write ${writer.medianLatencyMs()} ms, ${writer.acked.length} writes)`,
    );
    expect(result.writeGapMs).toBeLessThan(1000);
  });
});

describe("switchover refusals and abort", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  async function primaryWritable(l: Lab, index: number): Promise<void> {
    const t = await inspect(l.members, l.settings);
    expect(t.primary).toBe(index);
    await l.servers[index].query("INSERT INTO app.w (id) VALUES (?)", [100000 + Math.floor(Math.random() * 100000)]);
  }

  it("refuses a switchover to a member that is down or whose replication is stopped; the primary keeps its writes", async () => {
    lab = await startLab(3, { setUp: true });
    await lab.servers[2].signal("SIGKILL");
    await expect(switchover(lab.members, 2, lab.settings)).rejects.toThrow(
      /cannot switch over to member 2 \(127\.0\.0\.1:\d+\): it is unreachable/,
    );
    await lab.servers[1].query("STOP SLAVE SQL_THREAD");
    await expect(switchover(lab.members, 1, lab.settings)).rejects.toThrow(
      /cannot switch over to member 1 .*: its replication is stopped \(IO running, SQL stopped\)/,
    );
    await primaryWritable(lab, 0);
  });

  it("aborts a switchover whose target cannot catch up within the deadline and gives the old primary its writes back", async () => {
    lab = await startLab(3, { setUp: true, settings: { catchUpTimeoutMs: 1000 } });
    // Member 2 applies everything 2 s late: it makes progress, but cannot catch up within 1 s once writes stop.
    await lab.servers[2].query("STOP SLAVE");
    await lab.servers[2].query("CHANGE MASTER TO MASTER_DELAY = 2");
    await lab.servers[2].query("START SLAVE");
    const writer = new Writer(lab, 0);
    await sleep(3000);
    let abortedAt = 0;
    await expect(
      switchover(lab.members, 2, lab.settings).finally(() => {
        abortedAt = Date.now();
      }),
    ).rejects.toThrow(
      /switchover 0 -> 2 aborted: member 2 did not apply the primary's transactions up to 0-100-\d+ within \d+ ms; member 0 is writable again and remains the primary/,
    );
    await sleep(300);
    await writer.stop();
    expect(writer.ackTimes.some((at) => at > abortedAt)).toBe(true); // the writer carried on, on member 0
    expect(lab.lines.some((l) => l.startsWith("member 0: writes given back"))).toBe(true);
    const t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(0);
    expect(t.members[1].replica?.sourceIndex).toBe(0);
    expect(t.members[2].replica?.sourceIndex).toBe(0);
    expect(t.members[2].semiSync?.primaryEnabled).toBe(false);
    const onOld = await ids(lab.servers[0]);
    expect(writer.acked.filter((id) => !onOld.has(id))).toEqual([]);
  });

  it("waits for DDL running on the primary with writes still on; DDL that outlasts the wait gets a refusal, nothing changed", async () => {
    lab = await startLab(3, { setUp: true });
    const ddl = await lab.servers[0].connect();
    // DDL for 4 s (CREATE ... SELECT holds the DDL lock while it runs): longer than the switchover's 2 s wait.
    const running = ddl.query("CREATE TABLE app.slow AS SELECT SLEEP(4) AS x");
    await sleep(200);
    const writer = new Writer(lab, 0);
    const started = Date.now();
    await expect(switchover(lab.members, 2, lab.settings)).rejects.toMatchObject({
      refusal: "busy",
      message: expect.stringMatching(
        /cannot switch over: member 0 runs DDL that did not finish within 2000 ms .*nothing was changed, member 0 remains the primary/,
      ),
    });
    const refusedAt = Date.now();
    await sleep(300);
    await writer.stop();
    await running;
    await ddl.end();
    // The writer went on while the switchover waited: writes were never stopped.
    expect(writer.ackTimes.filter((at) => at > started + 500 && at < refusedAt).length).toBeGreaterThan(10);
    const t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(0);
    expect(t.healthy).toBe(true);
    // And the DDL was not held up by what the switchover left behind: the next switchover goes through.
    await switchover(lab.members, 2, lab.settings);
    expect((await inspect(lab.members, lab.settings)).primary).toBe(2);
  });

  it("refuses an operation while another holds the topology lock, across connections and processes", async () => {
    lab = await startLab(3, { setUp: true });
    const holder = await lab.servers[1].connect();
    await holder.query("SELECT GET_LOCK(?, 0)", [LOCK_NAME]);
    const [{ id }] = (await holder.query("SELECT CONNECTION_ID() AS id"))[0] as any[];
    await expect(switchover(lab.members, 2, lab.settings)).rejects.toThrow(
      new RegExp(`another operation is running: member 1 .* held by session ${id}`),
    );
    await holder.end();

    const both = await Promise.allSettled([
      switchover(lab.members, 1, lab.settings),
      switchover(lab.members, 2, lab.settings),
    ]);
    const done = both.filter((r) => r.status === "fulfilled");
    const refused = both.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(done).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect(String(refused[0].reason.message)).toMatch(/another operation is running/);
    expect(refused[0].reason.refusal).toBe("locked");
    const t = await inspect(lab.members, lab.settings);
    expect(t.healthy).toBe(true);
    expect([1, 2]).toContain(t.primary);
  });
});
