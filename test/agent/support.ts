/**
 * Shared pieces of the agent suites: real members set up by the engine, the agent in this process or as a child
 * process (`node bin/mysql-ha.js agent ...`) whose JSON event lines are collected, and bounded waits on events; the
 * lab of the agent processes that act on the program's objects in the Kubernetes API stand-in.
 */
import { Agent, AgentOptions } from "../../components/agent/loop";
import { agentNames } from "../../components/kubernetes/agent";
import type { EngineSettings } from "../../components/replication";
import { AgentChild, BIN, events, Events, membersArg, spawnAgent as spawnLocalAgent } from "../../local/agent";
import type { KubeApiStandin, StandinOptions } from "../../local/kube-api-standin";
import { LOCAL_ROOT_PASSWORD, LocalServer, ServerOptions, startServers } from "../../local/mariadbd";
import { AckWriter, writableMember } from "../../local/writer";
import { ChaosTopology, MEMBER_OPTIONS, startChaosTopology, stopChaosTopology } from "../chaos/support";
import { applyProgramObjects, memberStandin, NAME, NAMES } from "../connectors/program-objects";

export { BIN, membersArg };
export type { AgentChild, Events };
export const REPL = { user: "repl", password: "chaos-repl-pw" };
/** Credentials as the agent command takes them (environment only). */
export const AGENT_ENV = {
  MYSQL_HA_PASSWORD: LOCAL_ROOT_PASSWORD,
  MYSQL_HA_REPLICATION_USER: REPL.user,
  MYSQL_HA_REPLICATION_PASSWORD: REPL.password,
};
/** Fast agent timing for tests: a failed primary is confirmed within about a second. */
export const FAST = { intervalMs: 300, failureThreshold: 3 };
/**
 * Member options: a replica notices a primary that went silent (hung, partitioned) after slave_net_timeout; the
 * server default of 60 s would make every such test a minute long. Heartbeats come every second.
 */
export const AGENT_MEMBER_OPTIONS: ServerOptions = { ...MEMBER_OPTIONS, "slave-net-timeout": 3 };

/** An agent in this process, its events collected. */
export function startAgent(options: Omit<AgentOptions, "emit">): { agent: Agent; events: Events } {
  const ev = events();
  const agent = new Agent({ ...options, emit: (e) => ev.push(e) });
  agent.start();
  return { agent, events: ev };
}

/** The agent as a child process with the test credentials (see local/agent.ts). */
export function spawnAgent(args: string[], opts: { netns?: string; env?: Record<string, string> } = {}): AgentChild {
  return spawnLocalAgent(args, { ...opts, env: { ...AGENT_ENV, ...opts.env } });
}

/** The Lease the agents of the program share. */
export const LEASE = agentNames(NAME).lease;

/**
 * `count` real members with the agent's server options, member 0 set up as primary; the writer (not started)
 * follows the single writable member, as a client behind the primary Service would.
 */
export async function startAgentMembers(opts: {
  count?: number;
  serverIdBase: number;
  settings?: Partial<EngineSettings>;
}): Promise<ChaosTopology> {
  const servers = await startServers(opts.count ?? 3, AGENT_MEMBER_OPTIONS, opts.serverIdBase);
  // startChaosTopology destroys the servers itself when the set-up fails.
  const t = await startChaosTopology({ serverIdBase: opts.serverIdBase, servers, settings: opts.settings });
  t.writer = new AckWriter({ resolvePrimary: writableMember(servers), writeTimeoutMs: 3000 });
  return t;
}

/** Members (see startAgentMembers) and the API stand-in of their StatefulSet holding the program's objects. */
export interface AgentLab {
  t: ChaosTopology;
  api: KubeApiStandin;
}

export async function startAgentLab(opts: {
  count?: number;
  serverIdBase: number;
  standin?: Partial<StandinOptions>;
}): Promise<AgentLab> {
  const t = await startAgentMembers(opts);
  const api = memberStandin({ replicas: t.servers.length, ...opts.standin });
  try {
    await api.start();
    // The program's objects as Pulumi applies them: neither names the primary; the agent points them when it leads.
    await applyProgramObjects(api);
  } catch (err) {
    await stopAgentLab({ t, api });
    throw err;
  }
  return { t, api };
}

/** Test teardown: the writer, the members and the API stand-in (stop the agents first). */
export async function stopAgentLab(lab: AgentLab | undefined): Promise<void> {
  await stopChaosTopology(lab?.t);
  await lab?.api.stop();
}

/** What each test of the calling describe block starts: stopped after the test (the agent first), whatever happened. */
export function agentLabPerTest(): { lab?: AgentLab; agent?: AgentChild } {
  const running: { lab?: AgentLab; agent?: AgentChild } = {};
  afterEach(async () => {
    await running.agent?.stop();
    await stopAgentLab(running.lab);
    running.lab = running.agent = undefined;
  });
  return running;
}

/**
 * The agent command's arguments: the members with fast timing and, with `api`, the Lease and the program's objects
 * in the stand-in.
 */
export function agentArgs(
  servers: LocalServer[],
  opts: { api?: KubeApiStandin; leaseSeconds?: number; connectTimeoutMs?: number } = {},
): string[] {
  const { api, leaseSeconds } = opts;
  return [
    "--members",
    membersArg(servers),
    "--interval-ms",
    String(FAST.intervalMs),
    "--failure-threshold",
    String(FAST.failureThreshold),
    "--cooldown-seconds",
    "60",
    "--connect-timeout-ms",
    String(opts.connectTimeoutMs ?? 1000),
    "--semi-sync-timeout-ms",
    "5000",
    ...(api
      ? [
          "--kube-api",
          api.url,
          "--namespace",
          api.options.namespace,
          "--lease",
          LEASE,
          ...(leaseSeconds ? ["--lease-seconds", String(leaseSeconds)] : []),
          "--statefulset",
          NAMES.statefulSet,
          "--topology-configmap",
          NAMES.topology,
          "--primary-service",
          NAMES.primaryService,
        ]
      : []),
  ];
}
