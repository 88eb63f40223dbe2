/**
 * Shared pieces of the agent suites: real members set up by the engine, the agent in this process or as a child
 * process (`node bin/mysql-ha.js agent ...`) whose JSON event lines are collected, and bounded waits on events.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import { Agent, AgentEvent, AgentOptions } from "../../components/agent/loop";
import { LOCAL_ROOT_PASSWORD, ServerOptions } from "../../local/mariadbd";
import { MEMBER_OPTIONS } from "../chaos/support";

export const BIN = path.join(__dirname, "..", "..", "bin", "mysql-ha.js");
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

export interface Events {
  list: AgentEvent[];
  /** Resolves with the first event (already seen or to come) matching, or rejects after `ms`. */
  wait(what: string, match: (e: AgentEvent) => boolean, ms: number): Promise<AgentEvent>;
  of(event: string): AgentEvent[];
}

export function events(): Events & { push(e: AgentEvent): void } {
  const list: AgentEvent[] = [];
  const waiters = new Set<() => void>();
  return {
    list,
    push(e) {
      list.push(e);
      for (const w of [...waiters]) w();
    },
    of: (event) => list.filter((e) => e.event === event),
    wait(what, match, ms) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = list.find(match);
          if (!hit) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hit);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no ${what} event within ${ms} ms; events: ${list.map((e) => JSON.stringify(e)).join("\n")}`));
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

/** An agent in this process, its events collected. */
export function startAgent(options: Omit<AgentOptions, "emit">): { agent: Agent; events: Events } {
  const ev = events();
  const agent = new Agent({ ...options, emit: (e) => ev.push(e) });
  agent.start();
  return { agent, events: ev };
}

export interface AgentChild {
  process: ChildProcess;
  events: Events;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then the exit code (SIGKILL after 15 s: a test never leaves it behind). */
  stop(): Promise<number | null>;
}

/** `node bin/mysql-ha.js agent <args>`, optionally inside a network namespace; every stdout line must be JSON. */
export function spawnAgent(args: string[], opts: { netns?: string; env?: Record<string, string> } = {}): AgentChild {
  const argv = [BIN, "agent", ...args];
  const child = opts.netns
    ? spawn("ip", ["netns", "exec", opts.netns, process.execPath, ...argv], { env: { ...process.env, ...AGENT_ENV, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] })
    : spawn(process.execPath, argv, { env: { ...process.env, ...AGENT_ENV, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
  const ev = events();
  let out = "";
  let err = "";
  let partial = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    out += chunk.toString();
    partial += chunk.toString();
    const lines = partial.split("\n");
    partial = lines.pop()!;
    for (const line of lines) if (line.trim()) ev.push(JSON.parse(line));
  });
  child.stderr!.on("data", (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    process: child,
    events: ev,
    stdout: () => out,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 15000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export function membersArg(servers: Array<{ host: string; port: number }>): string {
  return servers.map((s) => `${s.host}:${s.port}`).join(",");
}
