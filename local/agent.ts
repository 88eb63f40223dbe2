/**
 * The failover agent as a separate process (`node bin/mysql-ha.js agent ...`, as it runs in the cluster), its JSON
 * event lines collected, and bounded waits on those events: used by the demo and the agent tests.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as path from "node:path";
import type { AgentEvent } from "../components/agent/loop";
import { PACKAGE_ROOT } from "../components/package-root";

export const BIN = path.join(PACKAGE_ROOT, "bin", "mysql-ha.js");

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
          reject(
            new Error(`no ${what} event within ${ms} ms; events: ${list.map((e) => JSON.stringify(e)).join("\n")}`),
          );
        }, ms);
        waiters.add(check);
        check();
      });
    },
  };
}

export interface AgentChild {
  process: ChildProcess;
  events: Events;
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then the exit code (SIGKILL after 15 s: a test never leaves it behind). */
  stop(): Promise<number | null>;
}

/**
 * `node bin/mysql-ha.js agent <args>`, optionally inside a network namespace; every stdout line must be JSON. `env`
 * carries the credentials (never argv).
 */
export function spawnAgent(
  args: string[],
  opts: {
    netns?: string;
    env?: Record<string, string>;
    wrap?: (command: string, args: string[]) => { command: string; args: string[] };
  } = {},
): AgentChild {
  const argv = [BIN, "agent", ...args];
  const wrap =
    opts.wrap ??
    (opts.netns
      ? (command: string, rest: string[]) => ({ command: "ip", args: ["netns", "exec", opts.netns!, command, ...rest] })
      : undefined);
  const run = wrap ? wrap(process.execPath, argv) : { command: process.execPath, args: argv };
  const child = spawn(run.command, run.args, {
    env: { ...process.env, ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
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
