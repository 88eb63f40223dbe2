/**
 * Runs the shipped backup scripts (components/scripts) for real against local servers and a local S3: the same
 * scripts the pods run, with the same environment variables. Used by the engine's seed hook locally, the CLI, the
 * tests, the demo and the benchmarks.
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { freePort, LOCAL_ROOT_PASSWORD, LOCAL_ROOT_USER, LocalServer, sleep } from "./mariadbd";

export const BACKUP_SCRIPTS_DIR = path.join(__dirname, "..", "components", "scripts");

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
  const child = spawn("bash", [path.join(BACKUP_SCRIPTS_DIR, name)], {
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

/** A member whose datadir is on this machine (a LocalServer, or a server the CLI was pointed at). */
export interface LocalMember {
  host: string;
  port: number;
  datadir: string;
  /** Administrative account; default the local harness's root and its password. */
  adminUser?: string;
  adminPassword?: string;
}

/** Environment giving a script a member's administrative account and datadir. */
export function serverEnv(member: LocalMember): ScriptEnv {
  return {
    MYSQL_HOST: member.host,
    MYSQL_PORT: String(member.port),
    MYSQL_USER: member.adminUser ?? LOCAL_ROOT_USER,
    MYSQL_PASSWORD: member.adminPassword ?? LOCAL_ROOT_PASSWORD,
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
export async function startDonor(server: LocalMember, token: string, port?: number, env: ScriptEnv = {}): Promise<Donor> {
  const donorPort = port ?? (await freePort());
  const running = startScript("clone-serve.sh", {
    ...serverEnv(server),
    CLONE_PORT: String(donorPort),
    CLONE_BIND: server.host,
    CLONE_TOKEN: token,
    ...env,
  });
  for (let i = 0; ; i++) {
    if (running.child.exitCode !== null) throw new Error(`donor of ${server.host}:${server.port} exited: ${lastLines(running.log(), 5)}`);
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

/**
 * Seeds `joiner` with a copy of the donor (clone.sh against the donor's port, which also positions the copy at its
 * GTID): stops it, empties its datadir, clones and starts it, exactly as a pod's seed init container and then its
 * database container do. The caller (the engine) attaches it. Returns the GTID position of the copy.
 */
export async function seedFromPeer(joiner: LocalServer, donor: Donor, token: string, onLog?: (line: string) => void): Promise<string> {
  await joiner.stop();
  fs.rmSync(joiner.datadir, { recursive: true, force: true });
  fs.mkdirSync(joiner.datadir);
  const { stdout } = await runScript(
    "clone.sh",
    { DONOR_HOST: donor.host, DONOR_PORT: String(donor.port), CLONE_TOKEN: token, DATADIR: joiner.datadir },
    { onLog },
  ).catch((err) => {
    throw new Error(`${err.message}\ndonor ${donor.host}:${donor.port} log:\n${lastLines(donor.log(), 8)}`);
  });
  const gtid = (stdout.match(/^GTID=(.*)$/m) ?? [])[1] ?? "";
  await joiner.start();
  return gtid;
}

/**
 * The engine's `seed(joinerIndex, donorIndex)` hook for local members: one donor process per donor, started on
 * first use and stopped by `close()`.
 */
export function localSeeder(servers: LocalServer[], token: string, onLog?: (line: string) => void) {
  const donors = new Map<number, Donor>();
  return {
    seed: async (joinerIndex: number, donorIndex: number): Promise<void> => {
      let donor = donors.get(donorIndex);
      if (!donor) {
        donor = await startDonor(servers[donorIndex], token);
        donors.set(donorIndex, donor);
      }
      await seedFromPeer(servers[joinerIndex], donor, token, onLog);
    },
    close: async (): Promise<void> => {
      await Promise.all([...donors.values()].map((d) => d.stop()));
      donors.clear();
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

function lastLines(text: string, n: number): string {
  return text.trim().split("\n").slice(-n).join("\n");
}
