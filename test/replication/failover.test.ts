import { sleep } from "../../local/mariadbd";
import { failover, inspect, plan } from "../../components/replication";
import { Lab, Writer, cleanup, ids, startLab, waitReplicated } from "./support";

describe("failover", () => {
  let lab: Lab | undefined;
  afterEach(async () => cleanup(lab));

  it("with semi-sync, every write acknowledged before kill -9 of the primary is on the new primary", async () => {
    lab = await startLab(3, { setUp: true });
    const writer = new Writer(lab, 0);
    await sleep(700);
    const ackedBeforeKill = writer.acked.length;
    await lab.servers[0].signal("SIGKILL");
    const killedAt = Date.now();
    const acked = writer.acked.slice(); // every write acknowledged before the kill (the writer gets errors from now on)
    expect(acked.length).toBeGreaterThanOrEqual(ackedBeforeKill);

    const t = await inspect(lab.members, lab.settings);
    const p = plan(t, { members: 3, allowFailover: true });
    expect(p.steps.map((s) => s.kind)).toEqual(["failover"]);
    const r = await failover(lab.members, undefined, lab.settings);
    await sleep(300);
    await writer.stop();
    const firstWriteAfter = writer.ackTimes.find((at) => at > killedAt);
    console.log(
      `failover: ${acked.length} writes acknowledged before kill -9; first write on the new primary ${firstWriteAfter ? firstWriteAfter - killedAt : "n/a"} ms after the kill`,
    );

    expect([1, 2]).toContain(r.chosen);
    expect(r.possiblyLost).toMatch(/^none acknowledged: semi-sync/);
    const onNew = await ids(lab.servers[r.chosen!]);
    expect(acked.filter((id) => !onNew.has(id))).toEqual([]);
    expect(writer.acked.filter((id) => !onNew.has(id))).toEqual([]);
    const after = await inspect(lab.members, lab.settings);
    expect(after.primary).toBe(r.chosen);
    const other = r.chosen === 1 ? 2 : 1;
    expect(after.members[other].replica?.sourceIndex).toBe(r.chosen);
  });

  it("after kill -9 with one replica lagging, promotes the most advanced replica and refuses the lagging one", async () => {
    lab = await startLab(3, { setUp: true, settings: { semiSync: false } });
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (1), (2)");
    await waitReplicated(lab);
    await lab.servers[1].query("STOP SLAVE"); // member 1 falls behind
    await lab.servers[0].query("INSERT INTO app.w (id) VALUES (3), (4), (5)");
    const [{ p }] = await lab.servers[0].query("SELECT @@gtid_binlog_pos AS p");
    await lab.servers[2].query("SELECT MASTER_GTID_WAIT(?, 10)", [p]);
    await lab.servers[0].signal("SIGKILL");

    await expect(failover(lab.members, 1, lab.settings)).rejects.toThrow(
      /cannot fail over to member 1: member 2 has transactions it lacks/,
    );
    // The refused operation has let go of its topology lock by the time it returns, so a retry is not refused.
    for (const i of [1, 2])
      expect(await lab.servers[i].query("SELECT IS_USED_LOCK('mysql-ha.topology') AS holder")).toEqual([
        { holder: null },
      ]);
    const r = await failover(lab.members, undefined, lab.settings);
    expect(r.chosen).toBe(2);
    expect(r.possiblyLost).toMatch(/^asynchronous replication: transactions member 0 committed after/);
    await waitReplicated(lab);
    expect([...(await ids(lab.servers[1]))].sort()).toEqual([1, 2, 3, 4, 5]);
    const t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(2);
    expect(t.members[1].replica?.sourceIndex).toBe(2);
  });

  it("refuses a candidate with an errant transaction and promotes a clean one instead", async () => {
    lab = await startLab(3, { setUp: true, settings: { semiSync: false } });
    // A write made directly on replica 1 by an account that ignores read_only, in its own GTID domain.
    const conn = await lab.servers[1].connect();
    await conn.query("SET SESSION gtid_domain_id = 9");
    await conn.query("INSERT INTO app.w (id) VALUES (900)");
    await conn.end();
    let t = await inspect(lab.members, lab.settings);
    expect(t.members[1].errantGtids).toEqual(["9-101-1"]);
    expect(t.problems.map((p) => p.message).join("\n")).toMatch(/member 1 .* has errant GTIDs 9-101-1/);

    await lab.servers[0].signal("SIGKILL");
    await expect(failover(lab.members, 1, lab.settings)).rejects.toThrow(
      /cannot fail over to member 1: it has errant GTIDs 9-101-1/,
    );
    const r = await failover(lab.members, undefined, lab.settings);
    expect(r.chosen).toBe(2);
    expect(r.warnings.join("\n")).toMatch(/member 1 has errant GTIDs 9-101-1 and was not repointed/);
    t = await inspect(lab.members, lab.settings);
    expect(t.primary).toBe(2);
  });
});
