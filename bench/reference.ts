/**
 * The benchmark's data set and its raw references: what a plain copy (`cp -a`) and a plain physical backup stream
 * (`mariadb-backup --stream > /dev/null`) achieve on the same machine, same data, same run.
 */
import { execFile, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { LOCAL_ROOT_PASSWORD, LOCAL_ROOT_USER, LocalServer } from "../local/mariadbd";

const run = promisify(execFile);

/**
 * Fills `bench.fill` with 2^doublings rows of ~1 KB (an MD5 prefix, then padding): 2^17 rows give a datadir of
 * ~340 MB with its binlog, large enough that copies take seconds, small enough that the bench takes ~1-2 minutes.
 */
export async function fillDatabase(server: LocalServer, doublings = 17): Promise<void> {
  await server.query("CREATE DATABASE IF NOT EXISTS bench");
  await server.query("CREATE TABLE IF NOT EXISTS bench.fill (id INT AUTO_INCREMENT PRIMARY KEY, pad VARCHAR(1000)) ENGINE=InnoDB");
  await server.query("INSERT INTO bench.fill (pad) VALUES (REPEAT('x', 1000))");
  for (let i = 0; i < doublings; i++) await server.query("INSERT INTO bench.fill (pad) SELECT CONCAT(MD5(RAND()), REPEAT('y', 968)) FROM bench.fill");
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
  const options = path.join(work, "client.cnf");
  fs.writeFileSync(options, `[client]\nuser=${LOCAL_ROOT_USER}\npassword=${LOCAL_ROOT_PASSWORD}\nsocket=${server.socket}\n`, { mode: 0o600 });
  const devNull = fs.openSync("/dev/null", "w");
  try {
    const start = performance.now();
    const child = spawn("mariadb-backup", [`--defaults-extra-file=${options}`, "--backup", "--stream=xbstream", `--target-dir=${path.join(work, "target")}`], {
      stdio: ["ignore", devNull, "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    if (code !== 0) throw new Error(`mariadb-backup --stream exited with ${code}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`);
    return performance.now() - start;
  } finally {
    fs.closeSync(devNull);
    fs.rmSync(work, { recursive: true, force: true });
  }
}
