/**
 * Runs the shipped scripts (components/scripts) on this machine, with the same environment variables the pods give
 * them: the CLI's backup, backups and restore, and a donor beside a member whose datadir is here. The local
 * stand-ins, the tests and the benchmarks run the scripts through this too.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as net from "node:net";
import * as path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { SCRIPTS_DIR } from "../components/package-root";

export type ScriptEnv = Record<string, string | undefined>;

export interface ScriptResult {
  stdout: string;
  stderr: string;
}

/** Error of a failed script: its exit code and the tail of its log (the scripts never log passwords). */
export class ScriptError extends Error {
  constructor(
    readonly script: string,
    readonly code: number | null,
    readonly stderr: string,
    /** What it printed (a probe's reason). */
    readonly stdout = "",
  ) {
    super(`${script} failed (exit ${code}): ${lastLines(stderr, 12)}`);
  }
}

export interface RunOptions {
  /** Kill the script after this long. */
  timeoutMs?: number;
  /** Progress lines of the script's log, as they come. */
  onLog?: (line: string) => void;
}

/** A script started in the background; `done` settles when it exits. */
export interface RunningScript {
  child: ChildProcess;
  done: Promise<ScriptResult>;
  /** The log so far. */
  log(): string;
  /** Ends the script and its children (its process group). */
  kill(sig?: NodeJS.Signals): void;
}

/** Starts `name` from components/scripts with `env` on top of this process's environment. */
export function startScript(name: string, env: ScriptEnv, options: RunOptions = {}): RunningScript {
  const child = spawn("bash", [path.join(SCRIPTS_DIR, name)], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so kill() reaches socat, mariadb-backup, rclone
  });
  let stdout = "";
  let stderr = "";
  let partial = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => {
    stderr += d;
    if (!options.onLog) return;
    const lines = (partial + d).split("\n");
    partial = lines.pop()!;
    lines.forEach((l) => options.onLog!(l));
  });
  const kill = (sig: NodeJS.Signals = "SIGTERM") => {
    try {
      if (child.pid) process.kill(-child.pid, sig);
    } catch {
      // already gone
    }
  };
  const timer = options.timeoutMs ? setTimeout(() => kill("SIGKILL"), options.timeoutMs) : undefined;
  const done = new Promise<ScriptResult>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve({ stdout, stderr });
      else reject(new ScriptError(name, code, stderr, stdout));
    });
  });
  done.catch(() => undefined); // callers that only kill() must not see an unhandled rejection
  return { child, done, log: () => stderr, kill };
}

/** Runs a script to completion; rejects with a ScriptError naming the failure. */
export function runScript(name: string, env: ScriptEnv, options: RunOptions = {}): Promise<ScriptResult> {
  return startScript(name, env, options).done;
}

/** A member whose datadir is on this machine (a server the CLI was pointed at, or a local stand-in). */
export interface LocalMember {
  host: string;
  port: number;
  datadir: string;
  /** Administrative account. */
  adminUser: string;
  adminPassword: string;
}

/** Environment giving a script a member's administrative account and datadir. */
export function serverEnv(member: LocalMember): ScriptEnv {
  return {
    MYSQL_HOST: member.host,
    MYSQL_PORT: String(member.port),
    MYSQL_USER: member.adminUser,
    MYSQL_PASSWORD: member.adminPassword,
    DATADIR: member.datadir,
  };
}

export interface Donor {
  host: string;
  port: number;
  /** The donor's log so far (one block per stream served). */
  log(): string;
  stop(): Promise<void>;
}

/** Starts clone-serve.sh beside a local server (the donor sidecar of a pod) and waits until its port accepts. */
export async function startDonor(
  server: LocalMember,
  token: string,
  port?: number,
  env: ScriptEnv = {},
): Promise<Donor> {
  const donorPort = port ?? (await freePort());
  const running = startScript("clone-serve.sh", {
    ...serverEnv(server),
    CLONE_PORT: String(donorPort),
    CLONE_BIND: server.host,
    CLONE_TOKEN: token,
    ...env,
  });
  for (let i = 0; ; i++) {
    if (running.child.exitCode !== null)
      throw new Error(`donor of ${server.host}:${server.port} exited: ${lastLines(running.log(), 5)}`);
    if (await canConnect(server.host, donorPort)) break;
    if (i > 100) {
      running.kill("SIGKILL");
      throw new Error(`donor of ${server.host}:${server.port} not listening on ${donorPort}`);
    }
    await sleep(50);
  }
  return {
    host: server.host,
    port: donorPort,
    log: running.log,
    stop: async () => {
      running.kill("SIGTERM");
      await running.done.catch(() => undefined);
    },
  };
}

function canConnect(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

export function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}

/** A TCP port free on loopback now (for a donor started here). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
