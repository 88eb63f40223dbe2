/**
 * Shared pieces of the agent suites: real members set up by the engine, the agent in this process or as a child
 * process (`node bin/mysql-ha.js agent ...`) whose JSON event lines are collected, and bounded waits on events.
 */
import { Agent, AgentOptions } from "../../components/agent/loop";
import { AgentChild, BIN, events, Events, membersArg, spawnAgent as spawnLocalAgent } from "../../local/agent";
import { LOCAL_ROOT_PASSWORD, ServerOptions } from "../../local/mariadbd";
import { MEMBER_OPTIONS } from "../chaos/support";

export { BIN, membersArg };
export type { AgentChild, Events };
export const REPL = { user: "repl", password: "chaos-repl-pw" };
/** Credentials as the agent command takes them (environment only). */
export const AGENT_ENV = { MYSQL_HA_PASSWORD: LOCAL_ROOT_PASSWORD, MYSQL_HA_REPLICATION_USER: REPL.user, MYSQL_HA_REPLICATION_PASSWORD: REPL.password };
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
