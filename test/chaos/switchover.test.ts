/**
 * Chaos during a planned switchover under a 1 ms writer.
 * Promises checked: a member dying in the middle never costs an acknowledged write; the switchover either completes
 * or fails with an error that says what state it left, and the next reconcile (what `pulumi up` runs) ends with
 * exactly one writable primary that holds every acknowledged write. A replica dying as the switchover starts may
 * make that attempt fail (before writes stop: the old primary keeps them), never loses a write, and never leaves two
 * writable members; once back it follows the new primary.
 */
import { inspect, switchover } from "../../components/replication";
import { caughtUp, chaosTopologyPerTest, reconcile, within, writableMembers } from "./support";

describe("chaos: faults in the middle of a switchover", () => {
  const start = chaosTopologyPerTest();

  it("primary killed after its writes were stopped: no acknowledged write is lost and the next reconcile leaves one writable primary holding them all", async () => {
    const t = await start({ serverIdBase: 1200 });
    await t.writer.start();
    await t.writer.waitForAcks(300);
    let killed = false;
    t.onLine = (line) => {
      if (!killed && /member 0: writes stopped/.test(line)) {
        killed = true;
        void t.servers[0].signal("SIGKILL");
      }
    };
    let outcome = "completed";
    try {
      const result = await within(30000, "switchover", switchover(t.members, 1, t.settings));
      t.primary = result.primary;
    } catch (err) {
      outcome = (err as Error).message;
    }
    t.onLine = undefined;
    expect(killed).toBe(true);
    // Whatever the switchover managed, the next reconcile must finish the job.
    const { applied } = await within(30000, "reconcile", reconcile(t, { members: 3, allowFailover: true }));
    expect(applied.primary).not.toBeNull();
    expect(applied.primary).not.toBe(0);
    t.primary = applied.primary!;
    await t.writer.waitForAcks(100);
    await t.writer.stop();

    expect(await writableMembers(t.servers)).toEqual([t.primary]);
    expect({ outcome, missing: await t.writer.verify(t.servers[t.primary]) }).toEqual({ outcome, missing: [] });
    const other = t.primary === 1 ? 2 : 1;
    expect(await caughtUp(t.servers[other], t.servers[t.primary])).toBe(true);
    expect(await t.writer.verify(t.servers[other])).toEqual([]);
  });

  it("a replica killed as the switchover starts: writes move to the new primary without loss (at most one retry), and once back the replica follows it and catches up", async () => {
    const t = await start({ serverIdBase: 1210 });
    await t.writer.start();
    await t.writer.waitForAcks(300);
    let killed = false;
    t.onLine = (line) => {
      if (!killed && /with writes still on/.test(line)) {
        killed = true;
        void t.servers[2].signal("SIGKILL");
      }
    };
    let result;
    try {
      result = await within(30000, "switchover", switchover(t.members, 1, t.settings));
    } catch (err) {
      // Allowed: the switchover stops with an error naming member 2 before writes were stopped, so member 0 is still
      // the only writable member; a retry (member 2 now plainly down) must then complete.
      expect((err as Error).message).toMatch(/member 2/);
      expect(await writableMembers(t.servers)).toEqual([0]);
      result = await within(30000, "switchover retry", switchover(t.members, 1, t.settings));
    }
    t.onLine = undefined;
    t.primary = result.primary;
    await t.writer.waitForAcks(200);

    expect(killed).toBe(true);
    expect(result.primary).toBe(1);
    expect(await writableMembers(t.servers)).toEqual([1]);
    expect(await t.writer.verify(t.servers[1])).toEqual([]);

    await t.servers[2].start();
    await within(30000, "reconcile", reconcile(t, { members: 3, allowFailover: false }));
    await t.writer.waitForAcks(100);
    await t.writer.stop();
    const view = await inspect(t.members, t.settings);
    expect(view.primary).toBe(1);
    expect(view.members[2].replica).toMatchObject({ sourceIndex: 1, ioThread: "running", sqlThread: "running" });
    expect(await caughtUp(t.servers[2], t.servers[1])).toBe(true);
    expect(await t.writer.verify(t.servers[2])).toEqual([]);
    expect(await caughtUp(t.servers[0], t.servers[1])).toBe(true);
    expect(await t.writer.verify(t.servers[0])).toEqual([]);
  });
});
