/**
 * A real S3 API on loopback for tests, the demo and the benchmarks: s3rver (npm) in its own node process, so a test
 * can take S3 down (kill) or freeze it (SIGSTOP) like a real outage, and so heavy uploads do not load the test process.
 * Objects live in a temp directory removed by `stop()`.
 */
import { ChildProcess, spawn } from "node:child_process";
import { S3Client } from "@aws-sdk/client-s3";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { PACKAGE_ROOT } from "../components/package-root";
import { freePort, sleep } from "./mariadbd";

/** s3rver's built-in account: any client signing with these keys is accepted. */
export const LOCAL_S3_ACCESS_KEY = "S3RVER";
export const LOCAL_S3_SECRET_KEY = "S3RVER";
export const LOCAL_S3_REGION = "us-east-1";

/** Runs inside the child: serve `directory` on `port`, create the buckets, say READY on stdout. */
const SERVER_SCRIPT = `
const S3rver = require("s3rver");
const [port, directory, buckets] = process.argv.slice(1);
new S3rver({ port: Number(port), address: "127.0.0.1", silent: true, directory, vhostBuckets: false,
  configureBuckets: buckets.split(",").filter(Boolean).map((name) => ({ name })) })
  .run().then(() => process.stdout.write("READY\\n"), (err) => { console.error(err); process.exit(1); });
`;

export class LocalS3 {
  private child?: ChildProcess;
  private exited?: Promise<void>;

  constructor(
    readonly dir: string,
    readonly port: number,
    readonly buckets: string[],
  ) {}

  /** Endpoint URL for path-style clients (rclone `--s3-force-path-style`, AWS SDK `forcePathStyle`). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** AWS_* variables for a script or CLI talking to this server (the same names a pod gets). */
  env(): Record<string, string> {
    return {
      AWS_ACCESS_KEY_ID: LOCAL_S3_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_SECRET_KEY,
      AWS_REGION: LOCAL_S3_REGION,
      S3_ENDPOINT: this.endpoint,
    };
  }

  /** An AWS SDK client for this server (path style, its account); the caller destroys it. */
  client(): S3Client {
    return new S3Client({
      endpoint: this.endpoint,
      region: LOCAL_S3_REGION,
      forcePathStyle: true,
      credentials: { accessKeyId: LOCAL_S3_ACCESS_KEY, secretAccessKey: LOCAL_S3_SECRET_KEY },
    });
  }

  /** Starts (or restarts after `kill`) the server on the same port and data directory. */
  async start(timeoutMs = 20000): Promise<void> {
    if (this.running) return;
    const child = spawn(
      process.execPath,
      ["-e", SERVER_SCRIPT, String(this.port), path.join(this.dir, "data"), this.buckets.join(",")],
      {
        cwd: PACKAGE_ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.child = child;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    let stderr = "";
    child.stderr!.on("data", (d) => (stderr += d));
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on("data", (d) => String(d).includes("READY") && resolve());
      child.once("exit", (code) => reject(new Error(`s3rver exited with ${code} during start-up: ${stderr.trim()}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`s3rver not ready on port ${this.port} after ${timeoutMs} ms: ${stderr.trim()}`)),
        timeoutMs,
      );
    });
    try {
      await Promise.race([ready, timeout]);
    } catch (err) {
      await this.kill();
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Takes the S3 API down at once (an outage); `start()` brings it back with the same objects. */
  async kill(): Promise<void> {
    if (!this.running || !this.child) return;
    this.child.kill("SIGKILL");
    await this.exited;
  }

  /** Freezes (SIGSTOP) or thaws (SIGCONT) the server: requests hang instead of failing. */
  signal(sig: "SIGSTOP" | "SIGCONT"): void {
    if (this.running) this.child!.kill(sig);
  }

  /** Stops the server and removes its objects. */
  async stop(): Promise<void> {
    this.signal("SIGCONT");
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Starts s3rver on a free loopback port with the given buckets created. */
export async function startLocalS3(buckets: string[] = ["backups"]): Promise<LocalS3> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-s3-"));
  fs.mkdirSync(path.join(dir, "data"));
  const s3 = new LocalS3(dir, await freePort(), buckets);
  try {
    await s3.start();
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return s3;
}

export { sleep };
