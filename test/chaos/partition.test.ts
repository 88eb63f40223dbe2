/**
 * Chaos: the primary is cut off by a network partition (each member in its own network namespace, local/netns.ts),
 * the engine fails over on the majority side, then the partition heals.
 * Promises checked:
 * - every write the writer saw acknowledged is on the new primary;
 * - the cut-off primary acknowledges nothing for the semi-sync timeout (no replica can confirm); a write it accepts
 *   after falling back to async is the "async: loss reported" case;
 * - when the partition heals, the old primary is not left as a second primary: the next reconcile (what `pulumi up`
 *   runs) fences it (read-only, client sessions killed), reports what it committed alone as lost, and refuses to
 *   attach it again without re-seeding. Until that reconcile, only clients that bypass the primary Service (which
 *   follows the engine's primary) can reach it; members restarted in the meantime come back read-only.
 */
import * as mysql from "mysql2/promise";
import { destroyAll, LocalServer } from "../../local/mariadbd";
import { NetworkLab } from "../../local/netns";
import { WRITER_DEFAULTS } from "../../local/writer";
import { failover, inspect, plan } from "../../components/replication";
import {
  ChaosTopology,
  MEMBER_OPTIONS,
  reconcile,
  startChaosTopology,
  startMembersIn,
  within,
  writableMembers,
} from "./support";

const ISOLATED_ID = 900_000_001;

/** One INSERT through the application account on the given connection options; resolves with its latency. */
async function appInsert(options: mysql.ConnectionOptions, id: number): Promise<number> {
  const conn = await mysql.createConnection({
    user: WRITER_DEFAULTS.user,
    password: WRITER_DEFAULTS.password,
    connectTimeout: 3000,
    ...options,
  });
  try {
    const start = Date.now();
    await conn.query(`INSERT INTO ${WRITER_DEFAULTS.database}.acks (id) VALUES (?)`, [id]);
    return Date.now() - start;
  } finally {
    conn.destroy();
  }
}

describe("chaos: network partition of the primary", () => {
  let lab: NetworkLab | undefined;
  let servers: LocalServer[] = [];
  let t: ChaosTopology | undefined;
  afterEach(async () => {
    await t?.writer.stop().catch(() => undefined);
    await destroyAll(servers);
    await lab?.destroy();
    [lab, servers, t] = [undefined, [], undefined];
  });

  it("fails over on the majority side; when the partition heals the old primary is fenced and its lone write reported lost", async () => {
    lab = await NetworkLab.create();
    const network = lab;
    servers = (await startMembersIn(network, 3, MEMBER_OPTIONS, 1300)).servers;
    t = await startChaosTopology({ serverIdBase: 1300, servers, settings: { semiSyncTimeoutMs: 2000 } });
    await t.writer.start();
    await t.writer.waitForAcks(300);

    await lab.partition("m0");
    // A client on the old primary's side of the split (its unix socket does not cross the network) keeps writing.
    const isolated = appInsert({ socketPath: servers[0].socket }, ISOLATED_ID);
    const result = await within(20000, "failover", failover(t.members, undefined, t.settings));
    t.primary = result.primary;
    await t.writer.waitForAcks(100);
    const isolatedMs = await within(10000, "isolated write", isolated);
    // Held waiting for a replica's acknowledgement (a normal write takes a few ms) until the 2000 ms semi-sync timeout
    // ran out (counted from the oldest waiting commit, which may predate this one), then accepted asynchronously.
    expect(isolatedMs).toBeGreaterThanOrEqual(1000);

    await lab.heal("m0");
    const healed = await inspect(t.members, t.settings);
    expect(healed.splitBrain).toBe(true);

    const { plan: steps, applied } = await within(
      30000,
      "reconcile",
      reconcile(t, { members: 3, allowFailover: true }),
    );
    expect(steps.steps.map((s) => `${s.kind} ${s.members.join(",")}`)).toEqual(["fence 0"]);
    expect(applied.results[0].possiblyLost).toMatch(/^member 0 committed \S+ while cut off/);
    expect(applied.primary).toBe(t.primary);
    expect(await writableMembers(servers)).toEqual([t.primary]);
    await expect(appInsert({ host: servers[0].host, port: servers[0].port }, ISOLATED_ID + 1)).rejects.toThrow(
      /read-only/,
    );

    await t.writer.waitForAcks(50);
    await t.writer.stop();
    expect(await t.writer.verify(servers[t.primary])).toEqual([]);
    expect(await servers[t.primary].query("SELECT id FROM ackcheck.acks WHERE id = ?", [ISOLATED_ID])).toEqual([]);
    const next = plan(await inspect(t.members, t.settings), { members: 3, allowFailover: true });
    expect(next.refusals.map((r) => r.message).join("\n")).toMatch(/member 0 .*errant GTIDs/);
  });
});
