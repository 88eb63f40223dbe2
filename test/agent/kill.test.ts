/**
 * The agent as it runs in the cluster: a separate process (`node bin/mysql-ha.js agent`) holding a Lease through the
 * API stand-in and pointing the topology ConfigMap and the members' role labels (which the primary Service selects).
 * The primary dies (kill -9) under the acknowledged-write checker: the agent fails over after `failureThreshold`
 * missed checks, loses no acknowledged write (semi-sync), points the objects, and on SIGTERM stops cleanly and
 * releases the Lease. Its /metrics say so before and after, in a form promtool accepts.
 */
import { freePort, LOCAL_ROOT_PASSWORD } from "../../local/mariadbd";
import { NAMES, roleLabels } from "../connectors/program-objects";
import { agentArgs, FAST, LEASE, agentLabPerTest, REPL, spawnAgent, startAgentLab } from "./support";
import { checkMetrics } from "../monitoring/promtool";

/** One scrape of the agent's /metrics, checked by promtool: sample (name{labels}) -> value. */
async function scrape(port: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  const text = await res.text();
  expect(await checkMetrics(text)).toMatchObject({ code: 0 });
  return new Map(
    text
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => [l.slice(0, l.lastIndexOf(" ")), Number(l.slice(l.lastIndexOf(" ") + 1))]),
  );
}

describe("agent process: kill -9 of the primary under load", () => {
  const running = agentLabPerTest();

  it("fails over within the threshold, loses no acknowledged write, points the objects, stops on SIGTERM", async () => {
    const { t, api } = (running.lab = await startAgentLab({ serverIdBase: 2100 }));
    const servers = t.servers;
    const metricsPort = await freePort();
    const agent = (running.agent = spawnAgent(["--metrics-port", String(metricsPort), ...agentArgs(servers, { api })]));
    const started = await agent.events.wait("started", (e) => e.event === "started", 20000);
    expect(started).toMatchObject({
      members: servers.map((s) => s.address),
      intervalMs: 300,
      failureThreshold: 3,
      cooldownSeconds: 60,
      kubernetesObjects: true,
    });
    const leader = await agent.events.wait("leader", (e) => e.event === "leader" && e.leading === true, 10000);
    await agent.events.wait("healthy", (e) => e.event === "healthy" && e.primary === 0, 10000);
    expect(api.lease(LEASE).spec.holderIdentity).toBe(leader.identity);
    const before = await scrape(metricsPort);
    expect(
      [0, 1, 2].map((m) => [
        before.get(`mysql_ha_member_up{member="${m}"}`),
        before.get(`mysql_ha_member_is_primary{member="${m}"}`),
      ]),
    ).toEqual([
      [1, 1],
      [1, 0],
      [1, 0],
    ]);
    expect([
      before.get("mysql_ha_semi_sync_primary_on"),
      before.get("mysql_ha_semi_sync_replicas_connected"),
      before.get("mysql_ha_agent_is_leader"),
    ]).toEqual([1, 2, 1]);
    expect([
      before.get('mysql_ha_failovers_total{result="success"}'),
      before.has("mysql_ha_last_failover_timestamp_seconds"),
    ]).toEqual([0, false]);
    expect(before.get('mysql_ha_replica_lag_seconds{member="1"}')).toBe(0);

    await t.writer.start();
    await t.writer.waitForAcks(300);
    const killedAt = Date.now();
    await servers[0].signal("SIGKILL");
    const failover = await agent.events.wait("failover", (e) => e.event === "failover", 20000);
    const to = failover.to as number;
    await agent.events.wait("pointed", (e) => e.event === "pointed", 5000);
    await t.writer.waitForAcks(100);
    const firstWrite = t.writer.firstAckOn(servers[to], killedAt)!;
    const report = await t.writer.stop();

    const failoverAt = Date.parse(failover.time);
    const unreachable = agent.events.of("primary-unreachable");
    process.stdout.write(
      `agent kill -9: failover event ${failoverAt - killedAt} ms after the kill (engine failover ${failover.ms} ms); first acknowledged write on member ${to} ${firstWrite - killedAt} ms after the kill; ${report.acked.length} writes acknowledged, longest gap ${report.longestGapMs} ms\n`,
    );
    expect([1, 2]).toContain(to);
    expect(failover).toMatchObject({ from: 0, possiblyLost: expect.stringMatching(/^none acknowledged/) });
    expect(unreachable.map((e) => e.failures)).toEqual([1, 2, 3]);
    expect(unreachable.every((e) => e.primary === 0 && Date.parse(e.time) < failoverAt)).toBe(true);
    // Three missed checks 300 ms apart (a refused connection fails at once), then the engine's failover.
    expect(failoverAt - killedAt).toBeLessThan(3 * FAST.intervalMs + (failover.ms as number) + 1500);
    expect(firstWrite - killedAt).toBeLessThan(5000);
    expect(await t.writer.verify(servers[to])).toEqual([]);
    expect(api.configMaps.get(NAMES.topology)!.primary).toBe(String(to));
    expect(JSON.parse(api.configMaps.get(NAMES.topology)!["last-move"])).toMatchObject({
      from: 0,
      to,
      by: "the agent",
      operation: "failover",
    });
    expect(api.serviceEndpoints(NAMES.primaryService)).toEqual([`mysql-${to}`]);
    expect(roleLabels(api)).toEqual(
      Object.fromEntries([0, 1, 2].map((o) => [`mysql-${o}`, o === to ? "primary" : "replica"])),
    );
    expect(agent.events.of("refused")).toEqual([]);
    await agent.events.wait("healthy", (e) => e.event === "healthy" && e.primary === to, 5000);
    const after = await scrape(metricsPort);
    expect(
      [0, 1, 2].map((m) => [
        after.get(`mysql_ha_member_up{member="${m}"}`),
        after.get(`mysql_ha_member_is_primary{member="${m}"}`),
      ]),
    ).toEqual([0, 1, 2].map((m) => [m === 0 ? 0 : 1, m === to ? 1 : 0]));
    expect(after.get('mysql_ha_failovers_total{result="success"}')).toBe(1);
    expect(after.get("mysql_ha_last_failover_timestamp_seconds")! * 1000).toBeGreaterThan(killedAt);
    expect(after.get("mysql_ha_last_failover_timestamp_seconds")! * 1000).toBeLessThanOrEqual(failoverAt + 1000);

    const code = await agent.stop();
    expect(code).toBe(0);
    expect(agent.events.list[agent.events.list.length - 1]).toMatchObject({ event: "stopped" });
    expect(agent.events.list.every((e) => typeof e.time === "string" && typeof e.event === "string")).toBe(true);
    expect(api.lease(LEASE).spec.holderIdentity).toBeUndefined();
    expect(agent.stderr()).toBe("");
    for (const secret of [LOCAL_ROOT_PASSWORD, REPL.password])
      expect(agent.stdout() + agent.stderr()).not.toContain(secret);
  });
});
