/**
 * Chaos: the primary dies (kill -9) under a 1 ms writer, and the engine fails over.
 * Promises checked: with semi-sync, every write acknowledged to the client is on the new primary (and on the other
 * replica once it follows); with async replication the engine says loss is possible, and what is lost is only the
 * newest tail of acknowledged writes, never a hole. A replica that hangs (SIGSTOP) during the failover neither blocks
 * it for longer than its connect timeout nor hides an acknowledged write.
 */
import { failover, inspect } from "../../components/replication";
import { caughtUp, chaosTopologyPerTest, reconcile, within } from "./support";

describe("chaos: kill -9 of the primary under load, then failover", () => {
  const start = chaosTopologyPerTest();

  it("semi-sync: loses no acknowledged write, promotes a replica within seconds, and the other replica follows it", async () => {
    const t = await start({ serverIdBase: 1100 });
    await t.writer.start();
    await t.writer.waitForAcks(300);
    const killedAt = Date.now();
    await t.servers[0].signal("SIGKILL");
    const result = await within(15000, "failover", failover(t.members, undefined, t.settings));
    t.primary = result.primary;
    await t.writer.waitForAcks(100);
    const firstWrite = t.writer.firstAckOn(t.servers[result.primary], killedAt)!;
    const report = await t.writer.stop();

    expect([1, 2]).toContain(result.primary);
    expect(result.possiblyLost).toMatch(/^none acknowledged/);
    expect(firstWrite - killedAt).toBeLessThan(5000);
    expect(await t.writer.verify(t.servers[result.primary])).toEqual([]);
    const other = result.primary === 1 ? 2 : 1;
    expect(await caughtUp(t.servers[other], t.servers[result.primary])).toBe(true);
    expect(await t.writer.verify(t.servers[other])).toEqual([]);
    expect(report.primaries).toEqual([t.servers[0].address, t.servers[result.primary].address]);
  });

  it("async: the engine reports that loss is possible, and any lost acknowledged writes are only the newest ones", async () => {
    const t = await start({ serverIdBase: 1110, settings: { semiSync: false } });
    await t.writer.start();
    await t.writer.waitForAcks(300);
    await t.servers[0].signal("SIGKILL");
    const result = await within(15000, "failover", failover(t.members, undefined, t.settings));
    t.primary = result.primary;
    await t.writer.waitForAcks(50);
    const report = await t.writer.stop();

    expect(result.possiblyLost).toMatch(/^asynchronous replication: .* are lost/);
    const missing = new Set(await t.writer.verify(t.servers[result.primary]));
    // Writes acknowledged by the old primary: the lost ones (if any) must all come after every surviving one.
    const onOld = report.acked.filter((w) => w.on === t.servers[0].address);
    const firstMissing = onOld.findIndex((w) => missing.has(w.id));
    if (firstMissing >= 0) expect(onOld.slice(firstMissing).every((w) => missing.has(w.id))).toBe(true);
    expect(report.acked.filter((w) => w.on !== t.servers[0].address && missing.has(w.id))).toEqual([]);
  });

  it("a replica hung with SIGSTOP during the failover: the failover ends within its timeouts and hides no acknowledged write", async () => {
    const t = await start({ serverIdBase: 1120 });
    await t.writer.start();
    await t.writer.waitForAcks(300);
    // Hang member 2 once the failover has chosen its candidates (it is then alive but never answers).
    let hungAt = 0;
    t.onLine = (line) => {
      if (!hungAt && /candidates:/.test(line)) {
        hungAt = Date.now();
        void t.servers[2].signal("SIGSTOP");
      }
    };
    await t.servers[0].signal("SIGKILL");
    const started = Date.now();
    let result;
    let firstError: string | undefined;
    try {
      result = await within(20000, "failover with a hung replica", failover(t.members, undefined, t.settings));
    } catch (err) {
      // Refusing (a candidate does not answer) is acceptable; a retry must then succeed without the hung member.
      firstError = (err as Error).message;
      result = await within(20000, "second failover", failover(t.members, undefined, t.settings));
    }
    const tookMs = Date.now() - started;
    t.primary = result.primary;
    await t.writer.waitForAcks(100);
    await t.writer.stop();
    t.onLine = undefined;

    expect(hungAt).toBeGreaterThan(0);
    expect(firstError ?? "").not.toMatch(/did not finish within/);
    expect(result.primary).toBe(1);
    expect(tookMs).toBeLessThan(25000);
    const missing = await t.writer.verify(t.servers[1]);
    await t.servers[2].signal("SIGCONT");
    if (missing.length) {
      // Only the hung replica could hold them: the engine must then report it as divergent, never attach it silently.
      const view = await inspect(t.members, t.settings);
      expect(view.members[2].errantGtids.length).toBeGreaterThan(0);
    } else {
      // Thawed, it is attached to the new primary and catches up with every acknowledged write.
      await within(30000, "reconcile", reconcile(t, { members: 3, allowFailover: true }));
      expect(await caughtUp(t.servers[2], t.servers[1])).toBe(true);
      expect(await t.writer.verify(t.servers[2])).toEqual([]);
    }
  });
});
