/**
 * The agent alone is cut off from the primary (its own network namespace drops everything to the primary's address;
 * the members still reach each other): the replicas keep streaming from the primary, so the agent must not fail
 * over however many checks it misses.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { destroyAll, LocalServer, sleep } from "../../local/mariadbd";
import { NetworkLab } from "../../local/netns";
import { startChaosTopology, startMembersIn, writableMembers } from "../chaos/support";
import { AGENT_MEMBER_OPTIONS, AgentChild, agentArgs, FAST, spawnAgent } from "./support";

const run = promisify(execFile);

describe("agent partitioned from the primary only", () => {
  let lab: NetworkLab | undefined;
  let servers: LocalServer[] = [];
  let agent: AgentChild | undefined;
  afterEach(async () => {
    await agent?.stop();
    await destroyAll(servers);
    await lab?.destroy();
    [lab, servers, agent] = [undefined, [], undefined];
  });

  it("does not fail over while the replicas still stream from the primary", async () => {
    lab = await NetworkLab.create();
    const network = lab;
    const members = await startMembersIn(network, 3, AGENT_MEMBER_OPTIONS, 2300);
    servers = members.servers;
    const agentHost = await network.addHost("agent");
    await startChaosTopology({ serverIdBase: 2300, servers });
    // Only the agent's namespace loses its route to member 0.
    await run("ip", ["-n", agentHost.netns, "route", "add", "blackhole", `${members.hosts[0].ip}/32`]);

    agent = spawnAgent(agentArgs(servers), { netns: agentHost.netns });
    const suspect = await agent.events.wait("primary-suspect", (e) => e.event === "primary-suspect", 30000);
    expect(suspect).toMatchObject({
      primary: 0,
      reason: "member 0 does not answer this agent, but members 1, 2 still stream from it",
    });
    expect(agent.events.of("primary-unreachable").map((e) => e.failures)).toEqual([1, 2, 3]);
    // Keep missing checks well past the threshold.
    await sleep(6 * FAST.intervalMs);
    for (const event of ["failover", "refused", "fenced", "cooldown"]) expect(agent.events.of(event)).toEqual([]);
    expect(await writableMembers(servers)).toEqual([0]);
    expect(await agent.stop()).toBe(0);
    expect(agent.events.list[agent.events.list.length - 1]).toMatchObject({ event: "stopped" });
  });
});
