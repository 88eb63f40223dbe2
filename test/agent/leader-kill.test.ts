/**
 * The Lease holder dies (kill -9) in the middle of a failover. Two agents run as separate processes on one Lease
 * through the API stand-in (a short --lease-seconds so the case stays short); the primary is killed; the failover is
 * made slow at an honest point so the leader can be killed inside it, where it can neither finish nor release the
 * Lease:
 * - five members, one replica hung (SIGSTOP): three of five still answer, and the leader spends a connect timeout on
 *   the hung one while taking the topology lock and again while inspecting; killed once it holds the lock;
 * - three members, one replica unable to apply its relay log (a session holds a table lock it needs): the leader
 *   stops every candidate's receiving and then waits for that one to catch up; killed there, a half-done failover.
 * Either way the other agent takes over only once the dead holder's lease has expired, fails over once, points the
 * objects; nothing is promoted twice and nothing acknowledged is lost.
 */
import type * as mysql from "mysql2/promise";
import { LocalServer, sleep } from "../../local/mariadbd";
import { NAMES, roleLabels } from "../connectors/program-objects";
import { LOCK_NAME } from "../../components/replication/operations";
import { within, writableMembers } from "../chaos/support";
import type { AgentEvent } from "../../components/agent/loop";
import { AgentChild, agentArgs, AgentLab, FAST, LEASE, spawnAgent, startAgentLab, stopAgentLab } from "./support";

const LEASE_SECONDS = 4;
const CONNECT_TIMEOUT_MS = 1000;

/** Server ids that ever wrote the GTIDs a member holds (gtid_binlog_state keeps the last one per domain and server). */
async function writers(server: LocalServer): Promise<number[]> {
  const [{ s }] = await server.query<{ s: string }>("SELECT @@global.gtid_binlog_state AS s");
  return [
    ...new Set(
      s
        .split(",")
        .filter(Boolean)
        .map((g) => Number(g.split("-")[1])),
    ),
  ].sort();
}

async function readOnly(server: LocalServer): Promise<number> {
  return Number((await server.query<{ ro: number }>("SELECT @@global.read_only AS ro"))[0].ro);
}

async function ioRunning(server: LocalServer): Promise<string> {
  return String((await server.query("SHOW SLAVE STATUS"))[0]?.Slave_IO_Running);
}

/** Polls `check` every 10 ms until it holds; throws after `ms` naming `what`. */
async function until(what: string, ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} not within ${ms} ms`);
    await sleep(10);
  }
}

interface Lab extends AgentLab {
  servers: LocalServer[];
  idBase: number;
  leader: AgentChild;
  follower: AgentChild;
  leaderIdentity: string;
  /** Server ids behind each member's GTIDs before the fault. */
  before: number[][];
}

describe("agent processes: the Lease holder killed during a failover", () => {
  let agentLab: AgentLab | undefined;
  const agents: AgentChild[] = [];
  const sessions: mysql.Connection[] = [];
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.destroy();
    await Promise.all(agents.splice(0).map((a) => a.stop()));
    for (const s of agentLab?.t.servers ?? []) await s.signal("SIGCONT");
    await stopAgentLab(agentLab);
    agentLab = undefined;
  });

  /** Members set up by the engine, the API stand-in with the program's objects, two agents, one leading, the writer running. */
  async function startLab(count: number, idBase: number): Promise<Lab> {
    agentLab = await startAgentLab({ count, serverIdBase: idBase });
    const { t, api } = agentLab;
    const servers = t.servers;
    const args = agentArgs(servers, { api, leaseSeconds: LEASE_SECONDS, connectTimeoutMs: CONNECT_TIMEOUT_MS });
    const pair = [spawnAgent(args), spawnAgent(args)];
    agents.push(...pair);
    for (const a of pair) await a.events.wait("healthy", (e) => e.event === "healthy" && e.primary === 0, 20000);
    const leader = await Promise.race(
      pair.map((a) => a.events.wait("leader", (e) => e.event === "leader" && e.leading === true, 10000).then(() => a)),
    );
    const follower = pair.find((a) => a !== leader)!;
    const leaderIdentity = leader.events.of("leader")[0].identity as string;
    expect(follower.events.of("leader")).toEqual([]);
    expect(api.lease(LEASE).spec).toMatchObject({
      holderIdentity: leaderIdentity,
      leaseDurationSeconds: LEASE_SECONDS,
    });
    const before = await Promise.all(servers.map(writers));
    await t.writer.start();
    await t.writer.waitForAcks(200);
    return { t, api, servers, idBase, leader, follower, leaderIdentity, before };
  }

  /** SIGKILL of the leader; then it can neither finish nor release. Returns when its lease (as last renewed) expires. */
  async function killLeader(lab: Lab): Promise<{ killedAt: number; expiresAt: number }> {
    const { leader } = lab;
    const exited = new Promise((resolve) =>
      leader.process.exitCode !== null || leader.process.signalCode !== null
        ? resolve(undefined)
        : leader.process.once("exit", resolve),
    );
    leader.process.kill("SIGKILL");
    await exited;
    const killedAt = Date.now();
    for (const event of ["failover", "pointed", "fenced"]) expect(leader.events.of(event)).toEqual([]);
    // Its last renewal stands: nobody released the Lease.
    const held = lab.api.lease(LEASE).spec;
    expect(held.holderIdentity).toBe(lab.leaderIdentity);
    return { killedAt, expiresAt: Date.parse(held.renewTime) + LEASE_SECONDS * 1000 };
  }

  /** The follower takes over after the lease expired, fails over once, points the objects; returns the new primary. */
  async function takeover(
    lab: Lab,
    killed: { killedAt: number; expiresAt: number },
    candidates: number[],
    label: string,
  ): Promise<{ to: number; failover: AgentEvent }> {
    const { follower, servers } = lab;
    const took = await follower.events.wait(
      "leader",
      (e) => e.event === "leader" && e.leading === true,
      3 * LEASE_SECONDS * 1000,
    );
    const tookAt = Date.parse(took.time);
    const failover = await follower.events.wait("failover", (e) => e.event === "failover", 15000);
    await follower.events.wait("pointed", (e) => e.event === "pointed", 5000);
    const to = failover.to as number;
    await lab.t.writer.waitForAcks(100);
    process.stdout.write(
      `agent leader killed ${label}: takeover ${tookAt - killed.killedAt} ms after the kill (${tookAt - killed.expiresAt} ms after the lease expired), failover event ${Date.parse(failover.time) - tookAt} ms later (engine ${failover.ms} ms)\n`,
    );

    // Taken over only after the dead holder's lease expired, and not much later: the follower first sees the last
    // renewal up to one renew interval (a third of the lease) after it was written, counts the whole lease from
    // then, and notices at its next round.
    expect(tookAt).toBeGreaterThanOrEqual(killed.expiresAt);
    expect(tookAt).toBeLessThan(killed.expiresAt + 2 * ((LEASE_SECONDS * 1000) / 3) + 1500);
    expect(lab.api.lease(LEASE).spec).toMatchObject({ holderIdentity: took.identity, leaseTransitions: 1 });
    // Before that the follower saw the failed primary and did nothing.
    const before = follower.events.list.filter((e) => Date.parse(e.time) < tookAt);
    expect(before.some((e) => e.event === "primary-failed" && e.leading === false)).toBe(true);
    for (const event of ["failover", "pointed", "fenced", "refused"])
      expect(before.filter((e) => e.event === event)).toEqual([]);
    expect(Date.parse(failover.time)).toBeGreaterThan(tookAt);

    // One failover in all, from the dead primary to an answering replica, nothing acknowledged lost, objects pointed.
    expect(failover).toMatchObject({ from: 0, possiblyLost: expect.stringMatching(/^none acknowledged/) });
    expect(candidates).toContain(to);
    expect(follower.events.of("failover")).toHaveLength(1);
    expect(await writableMembers(servers.filter((_, i) => i === 0 || candidates.includes(i)))).toEqual([to]);
    expect(await lab.t.writer.verify(servers[to])).toEqual([]);
    expect(lab.api.configMaps.get(NAMES.topology)!.primary).toBe(String(to));
    expect(JSON.parse(lab.api.configMaps.get(NAMES.topology)!["last-move"])).toMatchObject({
      from: 0,
      to,
      by: "the agent",
      operation: "failover",
    });
    expect(lab.api.serviceEndpoints(NAMES.primaryService)).toEqual([`mysql-${to}`]);
    expect(Object.values(roleLabels(lab.api)).filter((role) => role === "primary")).toHaveLength(1);
    return { to, failover };
  }

  /** After a while: still one failover and no other action, one writable member, nobody but `to` ever promoted. */
  async function settled(lab: Lab, to: number): Promise<void> {
    const { servers, follower } = lab;
    await sleep(6 * FAST.intervalMs);
    const report = await lab.t.writer.stop();
    expect(await writableMembers(servers)).toEqual([to]);
    expect(await lab.t.writer.verify(servers[to])).toEqual([]);
    expect(follower.events.of("failover")).toHaveLength(1);
    for (const event of ["fenced", "refused", "error"]) expect(follower.events.of(event)).toEqual([]);
    // The only new writer anywhere is the promoted member (its server id): nobody else was ever writable.
    for (let i = 1; i < servers.length; i++) {
      const added = (await writers(servers[i])).filter((id) => !lab.before[i].includes(id));
      expect({ member: i, added }).toEqual({ member: i, added: added.length ? [lab.idBase + to] : [] });
    }
    expect(await writers(servers[to])).toContain(lab.idBase + to);
    expect(report.primaries.filter((p) => p !== servers[0].address)).toEqual([servers[to].address]);

    // The new leader stops cleanly and releases the Lease; neither process wrote to stderr.
    expect(await follower.stop()).toBe(0);
    expect(follower.events.list[follower.events.list.length - 1]).toMatchObject({ event: "stopped" });
    expect(lab.api.lease(LEASE).spec.holderIdentity).toBeUndefined();
    expect(follower.stderr()).toBe("");
    expect(lab.leader.stderr()).toBe("");
  }

  it("killed while it takes the lock past a hung replica: the other agent takes over after the lease and fails over once", async () => {
    const begun = Date.now();
    const HUNG = 4;
    const lab = await startLab(5, 2400);
    const { servers, leader } = lab;
    // The last member hangs, so the leader takes the lock on members 1-3 before it waits on it; then the primary
    // dies: three of five members answer, a majority.
    await servers[HUNG].signal("SIGSTOP");
    await servers[0].signal("SIGKILL");
    await leader.events.wait(
      "threshold",
      (e) => e.event === "primary-unreachable" && e.failures === FAST.failureThreshold,
      20000,
    );
    // The failover has begun once the leader holds the topology lock on member 1; it then spends a connect timeout on
    // the hung member (lock), another (inspect), and only then changes anything.
    await until(
      "the leader's topology lock on member 1",
      5000,
      async () => (await servers[1].query("SELECT IS_USED_LOCK(?) AS h", [LOCK_NAME]))[0].h !== null,
    );
    const killed = await killLeader(lab);
    // Killed before it changed anything: the answering replicas are read-only and still receiving.
    expect(await Promise.all([1, 2, 3].map((i) => readOnly(servers[i])))).toEqual([1, 1, 1]);

    const { to } = await takeover(lab, killed, [1, 2, 3], "taking the lock");
    // The hung replica wakes up: read-only, still pointed at the dead primary, not a second primary.
    await servers[HUNG].signal("SIGCONT");
    expect(await within(10000, "the woken replica answering", readOnly(servers[HUNG]))).toBe(1);
    await settled(lab, to);
    expect(await readOnly(servers[HUNG])).toBe(1);
    expect(Date.now() - begun).toBeLessThan(60000);
  });

  it("killed half-way (every candidate's receiving stopped, one still applying): the other agent finishes it, once", async () => {
    const begun = Date.now();
    const SLOW = 2;
    const lab = await startLab(3, 2410);
    const { servers, leader } = lab;
    // A session on member 2 holds a lock the replicated inserts need: it receives (and acknowledges) them but cannot
    // apply them, so a failover must wait for it to catch up (the engine's catch-up timeout) before promoting.
    const blocker = await servers[SLOW].connect();
    sessions.push(blocker);
    await blocker.query("LOCK TABLES ackcheck.acks READ");
    await lab.t.writer.waitForAcks(50);
    await servers[0].signal("SIGKILL");
    await leader.events.wait(
      "threshold",
      (e) => e.event === "primary-unreachable" && e.failures === FAST.failureThreshold,
      20000,
    );
    // The leader has stopped receiving on both candidates (STOP SLAVE IO_THREAD) and waits on member 2's relay log.
    await until("the leader's STOP SLAVE IO_THREAD on both candidates", 5000, async () =>
      (await Promise.all([1, 2].map((i) => ioRunning(servers[i])))).every((s) => s === "No"),
    );
    const killed = await killLeader(lab);
    expect(await Promise.all([1, 2].map((i) => readOnly(servers[i])))).toEqual([1, 1]);
    // The session ends (as a finished long transaction would): member 2 can apply what it received.
    await blocker.query("UNLOCK TABLES");

    const { to } = await takeover(lab, killed, [1, 2], "half-way");
    await settled(lab, to);
    expect(Date.now() - begun).toBeLessThan(60000);
  });
});
