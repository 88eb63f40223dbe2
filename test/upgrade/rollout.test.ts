/**
 * Rolling upgrades against real local MariaDB: three members set up by the replication engine, restarted through the
 * local restarter (stop, new options, start) while a steady writer checks that no acknowledged write is lost.
 */
import * as net from "node:net";
import { apply, EngineSettings, inspect, MemberAddress, plan } from "../../components/replication";
import { RolloutArgs, runRollout, RolloutError } from "../../components/upgrade/executor";
import { LocalRestarter } from "../../local/restarter";
import { destroyAll, LocalServer, REPLICATION_OPTIONS, ServerOptions, startServers } from "../../local/mariadbd";
import { AckWriter, prepareWriterSchema } from "../../local/writer";
import { localSettings } from "../chaos/support";

/**
 * What every member runs with: all start read-only and as semi-sync replicas; the engine turns the primary side on
 * for the primary only (on a restarted replica it would make the applier wait for acknowledgements nobody sends).
 */
const MEMBER_OPTIONS: ServerOptions = {
  ...REPLICATION_OPTIONS,
  "read-only": 1,
  "rpl-semi-sync-slave-enabled": 1,
  "rpl-semi-sync-master-timeout": 5000,
};
/** A change that needs a restart (table_open_cache_instances is read-only at runtime) plus a live one. */
const NEW_OPTIONS: ServerOptions = { ...MEMBER_OPTIONS, "table-open-cache-instances": 3, "max-connections": 321 };

async function globals(server: LocalServer): Promise<{ instances: number; maxConnections: number }> {
  const [row] = await server.query<{ i: number; m: number }>(
    "SELECT @@table_open_cache_instances AS i, @@max_connections AS m",
  );
  return { instances: Number(row.i), maxConnections: Number(row.m) };
}

async function writablePrimary(servers: LocalServer[]): Promise<LocalServer | undefined> {
  for (const s of servers.filter((s) => s.running)) {
    try {
      const [row] = await s.query<{ ro: number }>("SELECT @@read_only AS ro");
      if (Number(row.ro) === 0) return s;
    } catch {
      // a restarting member: not the primary
    }
  }
  return undefined;
}

describe("rolling upgrade on a local 3-member topology", () => {
  let servers: LocalServer[] = [];
  let members: MemberAddress[];
  let log: string[];
  let settings: EngineSettings;

  beforeEach(async () => {
    servers = await startServers(3, MEMBER_OPTIONS);
    members = servers.map((s) => ({ host: s.host, port: s.port }));
    log = [];
    settings = localSettings((line) => log.push(line));
    await apply(
      members,
      plan(await inspect(members, settings), { members: 3, primary: 0, allowFailover: false }),
      settings,
    );
  });
  afterEach(() => destroyAll(servers));

  /** A rollout of `options` over the members, each restarted here with them. */
  const rollOut = (options: ServerOptions, extra: Partial<RolloutArgs> = {}) =>
    runRollout({
      members,
      settings,
      restarter: new LocalRestarter(servers, options),
      serverOptions: options,
      ...extra,
    });

  it("rolls a restart-only change through under a steady writer: no acknowledged write lost, one switchover's write gap", async () => {
    await prepareWriterSchema(servers[0]);
    const writer = new AckWriter({ resolvePrimary: async () => (await writablePrimary(servers)) ?? servers[0] });
    const writerStart = Date.now();
    await writer.start();
    const pids = servers.map((s) => s.process?.pid);

    const report = await rollOut(NEW_OPTIONS, { desiredPrimary: 0, pollMs: 100 });
    await writer.waitForAcks(50);
    const writes = await writer.stop();

    expect(report.plan).toBe("restart 2, 1; switch over 0 -> 1; restart 0; switch over 1 -> 0");
    expect(report.primary).toBe(0);
    expect(log).toContain(`rollout (local mariadbd members): ${report.plan}`);
    expect(servers.map((s) => s.process?.pid).filter((pid, i) => pid === pids[i])).toEqual([]);
    for (const s of servers) expect(await globals(s)).toEqual({ instances: 3, maxConnections: 321 });
    expect((await inspect(members, settings)).healthy).toBe(true);

    // Replicas apply asynchronously (semi-sync only waits for receipt): let them apply everything, then look.
    const [{ pos }] = await servers[0].query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
    for (const s of servers.slice(1))
      expect((await s.query<{ r: number }>("SELECT MASTER_GTID_WAIT(?, 10) AS r", [pos]))[0].r).toBe(0);
    for (const s of servers) expect(await writer.verify(s)).toEqual([]);
    const switchGaps = report.switchovers.map((s) => s.writeGapMs ?? 0);
    console.log(
      `rolling upgrade: ${report.plan} in ${report.durationMs} ms; ${writes.acked.length} writes acknowledged, ${writes.failed} failed; ` +
        `longest write gap ${writes.longestGapMs.toFixed(0)} ms (median write ${writes.medianWriteMs.toFixed(1)} ms); ` +
        `engine switchover gaps ${switchGaps.map((g) => g.toFixed(0)).join(", ")} ms; member restarts ${report.restarts.map((r) => `${r.ordinal}: ${r.endedAt - r.startedAt} ms`).join(", ")}`,
    );
    // Writes went on while each member restarted; the longest pause is about one switchover long.
    for (const r of report.restarts) {
      expect(writes.acked.some((w) => writerStart + w.at > r.startedAt && writerStart + w.at < r.endedAt)).toBe(true);
    }
    const longestSwitchover = Math.max(...report.switchovers.map((s) => s.endedAt - s.startedAt));
    expect(writes.longestGapMs).toBeLessThanOrEqual(longestSwitchover + 1000);
  });

  it("applies a live-only change with SET GLOBAL on every member and restarts nobody", async () => {
    const pids = servers.map((s) => s.process?.pid);
    const options = { ...MEMBER_OPTIONS, "max-connections": 222, "long-query-time": 3 };
    const report = await rollOut(options);
    expect(report.plan).toBe("all members up to date");
    expect(report.liveChanges).toEqual(
      [0, 1, 2].flatMap((m) => [`member ${m}: max_connections = 222`, `member ${m}: long_query_time = 3`]),
    );
    expect(servers.map((s) => s.process?.pid)).toEqual(pids);
    for (const s of servers) expect((await globals(s)).maxConnections).toBe(222);
    // Idempotent: a second run finds nothing to do.
    const again = await rollOut(options);
    expect(again.liveChanges).toEqual([]);
  });

  it("stops at the overall deadline before the next step, restarting nothing more", async () => {
    const pids = servers.map((s) => s.process?.pid);
    const failure = await rollOut(NEW_OPTIONS, { deadlineMs: 1 }).catch((e) => e);
    expect(failure).toBeInstanceOf(RolloutError);
    expect(failure.message).toMatch(
      /^rolling upgrade stopped at "restart 2": the rollout deadline \(0\.001 s\) passed\. Members 0, 1, 2 keep serving with primary 0\./,
    );
    expect(servers.map((s) => s.process?.pid)).toEqual(pids);
  });

  it("stops on a member that fails to start with a bad option, keeps a writable primary, and completes once the option is fixed", async () => {
    const before = (await globals(servers[1])).instances;
    const bad = { ...NEW_OPTIONS, "no-such-option": 1 };
    const failure = await rollOut(bad, { desiredPrimary: 0, pollMs: 100 }).catch((e) => e);
    expect(failure).toBeInstanceOf(RolloutError);
    expect(failure.message).toMatch(
      /rolling upgrade stopped at "restart 2": member 2 \(127\.0\.0\.1:\d+\) did not start with the new settings: .*unknown variable 'no-such-option=1'/s,
    );
    expect(failure.message).toContain("Members 0, 1 keep serving with primary 0");
    expect(failure.message).toContain(
      "it resumes with what is left (restart 2, 1; switch over 0 -> 1; restart 0; switch over 1 -> 0)",
    );
    expect(await writablePrimary(servers)).toBe(servers[0]);
    expect((await globals(servers[1])).instances).toBe(before); // untouched

    const fixed = await rollOut(NEW_OPTIONS, { desiredPrimary: 0, pollMs: 100 });
    expect(fixed.plan).toBe("restart 2, 1; switch over 0 -> 1; restart 0; switch over 1 -> 0");
    for (const s of servers) expect((await globals(s)).instances).toBe(3);
    expect((await inspect(members, settings)).healthy).toBe(true);
  });

  it("stops when a member does not come back and resumes at that member on the next run, skipping the ones already done", async () => {
    const restarter = new LocalRestarter(servers, NEW_OPTIONS);
    const restart = restarter.restart.bind(restarter);
    // Member 1's port is taken while it is down (a stuck node): its server cannot start.
    let blocker: net.Server | undefined;
    restarter.restart = async (ordinal, deadline) => {
      if (ordinal === 1 && !blocker) {
        await servers[1].stop();
        blocker = net.createServer().listen(servers[1].port, "127.0.0.1");
        await new Promise((resolve) => blocker!.once("listening", resolve));
      }
      return restart(ordinal, deadline);
    };
    const failure = await runRollout({ members, settings, restarter, serverOptions: NEW_OPTIONS, pollMs: 100 }).catch(
      (e) => e,
    );
    expect(failure).toBeInstanceOf(RolloutError);
    expect(failure.message).toMatch(
      /stopped at "restart 1": member 1 .* did not start with the new settings: .*(Address already in use|Bind on TCP\/IP port)/s,
    );
    expect(failure.done.length).toBe(1);
    expect(await writablePrimary(servers)).toBe(servers[0]);
    expect((await globals(servers[2])).instances).toBe(3);

    await new Promise((resolve) => blocker!.close(resolve));
    const pid2 = servers[2].process?.pid;
    const resumed = await rollOut(NEW_OPTIONS, { pollMs: 100 });
    expect(resumed.plan).toBe("restart 1; switch over 0 -> 1; restart 0");
    expect(servers[2].process?.pid).toBe(pid2);
    expect(resumed.primary).toBe(1);
    for (const s of servers) expect((await globals(s)).instances).toBe(3);
  });
});
