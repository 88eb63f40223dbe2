/**
 * The benchmark's data set and its raw references: what a plain copy (`cp -a`) and a plain physical backup stream
 * (`mariadb-backup --stream > /dev/null`) achieve on the same machine, same data, same run.
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import * as mysql from "mysql2";
import { LOCAL_ROOT_PASSWORD, LOCAL_ROOT_USER, LocalServer } from "../local/mariadbd";

const run = promisify(execFile);

/**
 * Grows `bench.fill` to 2^doublings rows of ~1 KB (an MD5 prefix, then padding) by doubling it: 2^17 rows give a
 * datadir of ~340 MB with its binlog, large enough that copies take seconds; each doubling after that doubles it.
 */
export async function fillDatabase(server: LocalServer, doublings = 17): Promise<void> {
  await server.query("CREATE DATABASE IF NOT EXISTS bench");
  await server.query(
    "CREATE TABLE IF NOT EXISTS bench.fill (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000)) ENGINE=InnoDB",
  );
  const [{ n }] = await server.query<{ n: number }>("SELECT COUNT(*) AS n FROM bench.fill");
  if (Number(n) === 0) await server.query("INSERT INTO bench.fill (pad) VALUES (REPEAT('x', 1000))");
  for (let rows = Math.max(1, Number(n)); rows < 2 ** doublings; rows *= 2) {
    await server.query("INSERT INTO bench.fill (pad) SELECT CONCAT(MD5(RAND()), REPEAT('y', 968)) FROM bench.fill");
  }
}

/** Bytes under a directory (du -sb). */
export async function directoryBytes(dir: string): Promise<number> {
  const { stdout } = await run("du", ["-sb", dir]);
  return Number(stdout.split(/\s+/)[0]);
}

/** Time of `cp -a <datadir> <tmp>` (the copy is removed afterwards). */
export async function timeCopy(datadir: string): Promise<number> {
  const target = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-cp-"));
  try {
    const start = performance.now();
    await run("cp", ["-a", datadir, path.join(target, "data")]);
    return performance.now() - start;
  } finally {
    fs.rmSync(target, { recursive: true, force: true });
  }
}

/**
 * `mariadb-backup --backup --stream=xbstream` of a running server with stdout on /dev/null itself (no pipe through
 * node, so the reference is the fastest the tool goes). The password goes through a temporary option file, never argv.
 */
export async function timeRawStream(server: LocalServer): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-raw-"));
  const options = clientOptions(server, work);
  const devNull = fs.openSync("/dev/null", "w");
  try {
    const start = performance.now();
    const child = spawn(
      "mariadb-backup",
      [
        `--defaults-extra-file=${options}`,
        "--backup",
        "--stream=xbstream",
        `--target-dir=${path.join(work, "target")}`,
      ],
      {
        stdio: ["ignore", devNull, "pipe"],
      },
    );
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    if (code !== 0)
      throw new Error(
        `mariadb-backup --stream exited with ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`,
      );
    return performance.now() - start;
  } finally {
    fs.closeSync(devNull);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The limits of the copy paths: the same tools our scripts use, run by hand as one pipeline each, on the same data
 * and the same S3 in the same run. Our figure over these is our own overhead (safety checks, process start-up,
 * serial steps). They get the same transport settings as our scripts (zstd with two workers here, socat's 1 MiB blocks), so the
 * reference is the strict one. Passwords go through an option file, never argv.
 */
export interface HandS3 {
  /** AWS_* and S3_ENDPOINT of the local S3 (LocalS3.env()). */
  env: Record<string, string>;
  bucket: string;
}

/**
 * rclone's on-the-fly ":s3:" remote for the local S3, set up as backup-lib.sh's s3_init does (the pipelines call
 * `rclone "${ca[@]}"`: rclone takes a CA bundle only as --ca-cert, see there).
 */
function rcloneEnv(s3: HandS3): Record<string, string> {
  return {
    ...s3.env,
    RCLONE_CONFIG: "/dev/null",
    RCLONE_S3_ENV_AUTH: "true",
    RCLONE_S3_NO_CHECK_BUCKET: "true",
    RCLONE_S3_PROVIDER: "Other",
    RCLONE_S3_ENDPOINT: s3.env.S3_ENDPOINT,
    RCLONE_S3_FORCE_PATH_STYLE: "true",
    RCLONE_S3_REGION: s3.env.AWS_REGION,
  };
}

/** Runs a bash pipeline (pipefail) with `env` and returns its wall time; the error names its stderr's last lines. */
async function timeBash(script: string, env: Record<string, string>): Promise<number> {
  const start = performance.now();
  try {
    const ca = 'ca=(); if [ -n "${AWS_CA_BUNDLE:-}" ]; then ca=(--ca-cert "$AWS_CA_BUNDLE"); unset AWS_CA_BUNDLE; fi';
    await run("bash", ["-c", `set -euo pipefail\n${ca}\n${script}`], {
      env: { ...process.env, ...env },
      maxBuffer: 16 << 20,
    });
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? "")
      .trim()
      .split("\n")
      .slice(-3)
      .join(" | ");
    throw new Error(`hand reference failed: ${stderr || (err as Error).message}`);
  }
  return performance.now() - start;
}

function clientOptions(server: LocalServer, dir: string): string {
  const file = path.join(dir, "client.cnf");
  fs.writeFileSync(
    file,
    `[client]\nuser=${LOCAL_ROOT_USER}\npassword=${LOCAL_ROOT_PASSWORD}\nsocket=${server.socket}\n`,
    { mode: 0o600 },
  );
  return file;
}

/** `mariadb-backup --backup --stream=xbstream | zstd -3 | rclone rcat s3://<bucket>/<key>`. */
export async function timeHandBackup(server: LocalServer, s3: HandS3, key: string): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-hand-"));
  try {
    return await timeBash(
      'mariadb-backup --defaults-extra-file="$OPTS" --backup --stream=xbstream --target-dir="$WORK/target" 2>"$WORK/log" |' +
        ' zstd -q -T0 -3 | rclone "${ca[@]}" rcat ":s3:$BUCKET/$KEY"',
      { ...rcloneEnv(s3), OPTS: clientOptions(server, work), WORK: work, BUCKET: s3.bucket, KEY: key },
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** `rclone cat s3://<bucket>/<key> | zstd -d | mbstream -x`, then `mariadb-backup --prepare`, into an empty directory. */
export async function timeHandRestore(s3: HandS3, key: string): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-hand-"));
  try {
    return await timeBash(
      'mkdir "$WORK/data"; rclone "${ca[@]}" cat ":s3:$BUCKET/$KEY" | zstd -q -d | mbstream -x -C "$WORK/data"\n' +
        'mariadb-backup --prepare --target-dir="$WORK/data" 2>"$WORK/log"',
      { ...rcloneEnv(s3), WORK: work, BUCKET: s3.bucket, KEY: key },
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/** The donor's TLS pair and the CA and name the receiving side verifies it with (the bench runs with TLS on). */
export interface HandTls {
  cert: string;
  key: string;
  caPath: string;
  name: string;
}

/**
 * The donor's `mariadb-backup --stream` served by socat over TLS (its certificate; socat's 1 MiB blocks, as our
 * donor), received by socat verifying it against the CA and its name, into `mbstream -x`; then
 * `mariadb-backup --prepare`. The same TLS socat our clone uses, so the reference pays for TLS as ours does.
 */
export async function timeHandClone(server: LocalServer, port: number, tls: HandTls): Promise<number> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-bench-hand-"));
  try {
    return await timeBash(
      [
        'mkdir "$WORK/data"',
        'mariadb-backup --defaults-extra-file="$OPTS" --backup --stream=xbstream --target-dir="$WORK/target" 2>"$WORK/log" |' +
          ' socat -u -b 1048576 - "OPENSSL-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,cert=$CERT,key=$KEY,verify=0" & donor=$!',
        'socat -u -b 1048576 "OPENSSL:127.0.0.1:$PORT,cafile=$CA,verify=1,commonname=$NAME,retry=200,interval=0.01" - | mbstream -x -C "$WORK/data"',
        'wait "$donor"',
        'mariadb-backup --prepare --target-dir="$WORK/data" 2>"$WORK/log"',
      ].join("\n"),
      {
        OPTS: clientOptions(server, work),
        WORK: work,
        PORT: String(port),
        CERT: tls.cert,
        KEY: tls.key,
        CA: tls.caPath,
        NAME: tls.name,
      },
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

/**
 * The minimal switchover done by hand in SQL, on connections opened beforehand (as an operator's would be): the old
 * primary gets read_only and loses its client sessions, the target waits until it applied the old primary's last
 * GTID and becomes writable. Nothing else (no commit lock, no re-pointing of the other replicas, no checks).
 */
export async function handSwitchover(from: LocalServer, to: LocalServer): Promise<void> {
  const [oldPrimary, target] = await Promise.all([from.connect(), to.connect()]);
  try {
    await oldPrimary.query("SET GLOBAL read_only = ON");
    const [sessions] = await oldPrimary.query(
      "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID() AND USER NOT IN ('system user', 'event_scheduler') AND COMMAND NOT IN ('Binlog Dump', 'Daemon')",
    );
    await Promise.all(
      (sessions as Array<{ id: number }>).map((s) =>
        oldPrimary.query("KILL CONNECTION ?", [s.id]).catch(() => undefined),
      ),
    );
    const [[{ pos }]] = (await oldPrimary.query("SELECT @@gtid_binlog_pos AS pos")) as unknown as [[{ pos: string }]];
    const [[{ r }]] = (await target.query("SELECT MASTER_GTID_WAIT(?, 30) AS r", [pos])) as unknown as [
      [{ r: number }],
    ];
    if (Number(r) !== 0) throw new Error(`hand switchover: the target did not reach ${pos} within 30 s`);
    await target.query("SET GLOBAL read_only = OFF");
  } finally {
    oldPrimary.destroy();
    target.destroy();
  }
}

/**
 * The minimal look at a topology done by hand: every member at once, each over a new connection (mysql2's callback
 * API, as the engine's), its read_only and GTID positions in one SELECT and its replica status, then closed. What
 * an inspect costs the machine at a member count, without the engine's own analysis.
 */
export async function handInspect(servers: LocalServer[]): Promise<void> {
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve, reject) => {
          const conn = mysql.createConnection({
            host: s.host,
            port: s.port,
            user: LOCAL_ROOT_USER,
            password: LOCAL_ROOT_PASSWORD,
            maxPreparedStatements: 1,
          });
          conn.on("error", () => {});
          conn.query("SELECT @@server_id, @@read_only, @@gtid_current_pos, @@gtid_slave_pos", (err) => {
            if (err) return reject(err);
            conn.query("SHOW SLAVE STATUS", (err2) => (err2 ? reject(err2) : conn.end(() => resolve())));
          });
        }),
    ),
  );
}
