import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runScript, RunningScript, ScriptError, startScript } from "../../cli/scripts";
import { BACKUP_METRICS } from "../../components/backup/metrics";
import { freePort, sleep } from "../../local/mariadbd";
import { checkMetrics } from "../monitoring/promtool";
import { checksum, getObject, listKeys, putObject, restoreInto, Rig, runBackup, startRig, waitFor } from "./support";

jest.setTimeout(120000);

/**
 * One source server with an application table, and the archiver of its binlogs started and stopped by the tests
 * (`env`: extra archiver settings). `serverLogs` lists the server's binlogs (name -> size). Call it inside a
 * describe: it sets the lab up before the suite's tests and tears it down after them.
 */
function archiveLab(serverId: number, prefix: string | undefined, env: Record<string, string> = {}) {
  const lab = {
    rig: undefined as unknown as Rig,
    archiver: undefined as RunningScript | undefined,
    async setUp() {
      lab.rig = await startRig(serverId, prefix);
      await lab.rig.source.query("CREATE DATABASE app");
      await lab.rig.source.query("CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(50))");
    },
    start(extra: Record<string, string> = {}) {
      lab.archiver = startScript(
        "binlog-archive.sh",
        lab.rig.env({ SPOOL_DIR: `${lab.rig.source.dir}/spool`, ARCHIVE_INTERVAL: "1", ...env, ...extra }),
      );
      return lab.archiver;
    },
    async stop() {
      lab.archiver?.kill("SIGTERM");
      await lab.archiver?.done.catch(() => undefined);
      lab.archiver = undefined;
    },
    serverLogs: async () =>
      Object.fromEntries(
        (await lab.rig.source.query("SHOW BINARY LOGS")).map((r: any) => [r.Log_name, Number(r.File_size)]),
      ),
  };
  beforeAll(() => lab.setUp());
  afterAll(async () => {
    await lab.stop();
    await lab.rig?.cleanup();
  });
  return lab;
}

describe("binlog archive: resume and gaps (real mariadb-binlog, s3rver)", () => {
  const lab = archiveLab(500, undefined);
  const archived = async () =>
    Object.fromEntries((await listKeys(lab.rig, "binlog/500/")).map((k) => [k.key.split("/").pop()!, k.size]));

  test("after a restart the lab.archiver resumes where it stopped: every binlog archived whole, none missing", async () => {
    lab.start();
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('a')");
    await waitFor(
      "the first binlog archived",
      async () => JSON.stringify(await archived()) === JSON.stringify(await lab.serverLogs()),
      15000,
    );
    await lab.stop();
    // While it is down: more writes and two rotations.
    for (const v of ["b", "c", "d"]) {
      await lab.rig.source.query("INSERT INTO app.t (v) VALUES (?)", [v]);
      await lab.rig.source.query("FLUSH BINARY LOGS");
    }
    lab.start();
    await waitFor(
      "all binlogs archived at their full size",
      async () => JSON.stringify(await archived()) === JSON.stringify(await lab.serverLogs()),
      15000,
    );
    expect(Object.keys(await archived())).toEqual([
      "mysql-bin.000001",
      "mysql-bin.000002",
      "mysql-bin.000003",
      "mysql-bin.000004",
    ]);
    expect(lab.archiver!.log()).toMatch(/from mysql-bin\.000001 to/); // resumed from the newest archived file
    // Rotated files are dropped from the spool once archived.
    expect(fs.readdirSync(`${lab.rig.source.dir}/spool`).filter((f) => !f.startsWith("."))).toEqual([
      "mysql-bin.000004",
    ]);
    await lab.stop();
  });

  test("binlogs purged while the lab.archiver was down: it reports the gap, records it in S3, and restore refuses to replay across it", async () => {
    lab.start();
    await waitFor(
      "the archive to catch up",
      async () => JSON.stringify(await archived()) === JSON.stringify(await lab.serverLogs()),
      15000,
    );
    await lab.stop();
    const dest = await runBackup(lab.rig); // a base from before the gap
    const lastArchived = Object.keys(await archived()).pop()!;
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('lost')");
    await lab.rig.source.query("FLUSH BINARY LOGS");
    await lab.rig.source.query("FLUSH BINARY LOGS");
    const logs = Object.keys(await lab.serverLogs());
    // PURGE skips files a binlog dump thread still reads; the stopped archiver's may linger until its next event.
    for (const { ID } of await lab.rig.source.query(
      "SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'",
    )) {
      await lab.rig.source.query(`KILL ${ID}`).catch(() => undefined);
    }
    // ... and files the binlog checkpoint has not passed yet (it moves asynchronously after a rotation).
    await waitFor("the purge", async () => {
      await lab.rig.source.query(`PURGE BINARY LOGS TO '${logs[logs.length - 1]}'`);
      return Object.keys(await lab.serverLogs()).length === 1;
    });
    lab.start();
    await waitFor(
      "the gap report",
      async () => /GAP in the binlog archive[^]*archiving binlogs/.test(lab.archiver!.log()),
      15000,
    ).catch((e) => {
      throw new Error(`${e.message}\n${lab.archiver!.log()}`);
    });
    const oldest = logs[logs.length - 1];
    expect(lab.archiver!.log()).toContain(`archived up to ${lastArchived}, the server's oldest binlog is ${oldest}`);
    expect((await listKeys(lab.rig, "binlog/500/")).some((k) => /\/GAP-\d{8}T\d{6}Z$/.test(k.key))).toBe(true);
    await waitFor("the first binlog after the gap archived", async () => oldest in (await archived()), 15000);
    await lab.stop();

    const err = await runScript(
      "restore.sh",
      lab.rig.env({ DATADIR: `${lab.rig.source.dir}/restore-gap`, BACKUP: dest }),
    ).catch((e) => e);
    expect(err).toBeInstanceOf(ScriptError);
    const missing = (n: number) => `mysql-bin.${String(n).padStart(6, "0")}`;
    const firstMissing = missing(Number(lastArchived.split(".")[1]) + 1);
    const lastMissing = missing(Number(oldest.split(".")[1]) - 1);
    expect(err.message).toMatch(
      new RegExp(
        `binlog archive gap: ${firstMissing} \\.\\. ${lastMissing} of server 500 \\(history \\d{8}T\\d{6}Z\\) are missing`,
      ),
    );
  });
});

describe("binlog archive: waiting for the server, and binlog histories (real mariadb-binlog, s3rver)", () => {
  const lab = archiveLab(501, "hist", { CONNECT_RETRY_MAX: "2" });
  /** Archived objects by history: history -> name -> size. */
  const histories = async () => {
    const out: Record<string, Record<string, number>> = {};
    for (const { key, size } of await listKeys(lab.rig, "binlog/501/")) {
      const [, , history, name] = key.split("/");
      (out[history] ??= {})[name] = size;
    }
    return out;
  };
  const newest = async () => {
    const h = await histories();
    return h[Object.keys(h).sort().pop()!] ?? {};
  };
  const caughtUp = async () => JSON.stringify(await newest()) === JSON.stringify(await lab.serverLogs());
  /** The two backups of the RESET MASTER test (one per history) and the table's checksum at the first one's end. */
  let before = "";
  let after = "";
  let oldChecksum = "";

  test("started before the server accepts connections, it waits and retries (logged) instead of exiting, then archives", async () => {
    await lab.rig.source.stop();
    lab.start();
    await waitFor(
      "a logged retry",
      async () => /waiting for 127\.0\.0\.1:\d+ to accept connections .*next attempt in 2s/.test(lab.archiver!.log()),
      15000,
    );
    expect(lab.archiver!.child.exitCode).toBeNull();
    expect(fs.existsSync(`${lab.rig.source.dir}/spool/.alive`)).toBe(true); // the liveness probe sees the wait as progress
    await lab.rig.source.start();
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('after start')");
    await waitFor("the archive to catch up", caughtUp, 20000).catch((e) => {
      throw new Error(`${e.message}\n${lab.archiver!.log()}`);
    });
    expect(Object.keys(await histories())).toHaveLength(1);
    await lab.stop();
  });

  test("after RESET MASTER it archives to a new history prefix, leaves the old one untouched, and restore replays the right one", async () => {
    lab.start();
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('old history')");
    await waitFor("the archive to catch up", caughtUp, 20000);
    before = await runBackup(lab.rig); // a backup of the old history
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('old history, after the backup')");
    await waitFor("the archive to catch up", caughtUp, 20000);
    oldChecksum = await checksum(lab.rig.source, "app.t");
    await lab.stop();
    const [oldHistory] = Object.keys(await histories());
    const oldObjects = await listKeys(lab.rig, `binlog/501/${oldHistory}/`);
    const oldBytes = await Promise.all(oldObjects.map((o) => getObject(lab.rig, o.key)));

    await sleep(1100); // binlog creation times have 1 s resolution
    await lab.rig.source.query("RESET MASTER"); // a new binlog history: numbering and GTIDs start over
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('new history')");
    lab.start();
    await waitFor(
      "a second history, caught up",
      async () => Object.keys(await histories()).length === 2 && (await caughtUp()),
      20000,
    ).catch(async (e) => {
      throw new Error(
        `${e.message}\n${JSON.stringify(await histories())} ${JSON.stringify(await lab.serverLogs())}\n${lab.archiver!.log()}`,
      );
    });
    expect(lab.archiver!.log()).toMatch(
      /new binlog history \S+binlog\/501\/\d{8}T\d{6}Z\/ of server 501: .*RESET MASTER/,
    );
    expect(lab.archiver!.log()).not.toMatch(/archived mysql-bin\.000002 \(/); // nothing of the old history leaks into the new one
    const newHistory = Object.keys(await histories())
      .sort()
      .pop()!;
    expect(newHistory > oldHistory).toBe(true);
    // The old history is exactly as it was.
    expect(await listKeys(lab.rig, `binlog/501/${oldHistory}/`)).toEqual(oldObjects);
    expect(await Promise.all(oldObjects.map((o) => getObject(lab.rig, o.key)))).toEqual(oldBytes);
    await lab.stop();

    // The backup of the old history replays the old history (the newer one does not hold its position).
    const restored = await restoreInto(lab.rig, 601, { BACKUP: before });
    expect(await checksum(restored, "app.t")).toBe(oldChecksum);
    const rows = await restored.query("SELECT v FROM app.t ORDER BY id");
    expect(rows.map((r: any) => r.v).slice(-2)).toEqual(["old history", "old history, after the backup"]);
    // A backup of the new history replays the new one.
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('new history 2')");
    after = await runBackup(lab.rig);
    lab.start();
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('new history, after the backup')");
    await waitFor("the archive to catch up", caughtUp, 20000);
    await lab.stop();
    const restoredNew = await restoreInto(lab.rig, 602, { BACKUP: after });
    expect(await checksum(restoredNew, "app.t")).toBe(await checksum(lab.rig.source, "app.t"));
  });

  test("prune keeps what each kept backup replays from across histories, and drops the old history once no kept backup needs it", async () => {
    const prune = (count: string) =>
      runScript(
        "prune.sh",
        lab.rig.env({ RETENTION_COUNT: count, RETENTION_DAYS: "1", PRUNE_NOW: "2999-01-01T00:00:00Z" }),
      );
    const [oldHistory, newHistory] = Object.keys(await histories()).sort();
    await prune("2");
    expect(Object.keys(await histories()).sort()).toEqual([oldHistory, newHistory]);
    expect(await checksum(await restoreInto(lab.rig, 603, { BACKUP: before }), "app.t")).toBe(oldChecksum);

    await prune("1"); // only the backup of the new history is left: the old history ended before it started
    expect(Object.keys(await histories())).toEqual([newHistory]);
    expect(await checksum(await restoreInto(lab.rig, 604, { BACKUP: after }), "app.t")).toBe(
      await checksum(lab.rig.source, "app.t"),
    );
  });
});

describe("backup and archive metrics: the archiver's endpoint (real archiver, backup.sh, s3rver)", () => {
  const lab = archiveLab(502, "metrics");
  const RECOVERY_POINT = BACKUP_METRICS.recoveryPoint.name;
  const LAST_BACKUP = BACKUP_METRICS.lastComplete.name;
  let port = 0;
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    return { status: res.status, type: res.headers.get("content-type"), text: await res.text() };
  };
  /** The value of `name`'s sample, undefined without one. */
  const sample = async (name: string) => {
    const found = (await scrape()).text.match(new RegExp(`^${name} (\\S+)$`, "m"));
    return found ? Number(found[1]) : undefined;
  };
  const now = () => Math.floor(Date.now() / 1000);
  const stampSeconds = (dest: string) => {
    const [, y, mo, d, h, mi, se] = dest.match(/^base\/(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/)!.map(Number);
    return Date.UTC(y, mo - 1, d, h, mi, se) / 1000;
  };

  test("both metrics pass promtool; the recovery point keeps up, stands still while a write cannot reach S3, and moves once it is archived", async () => {
    port = await freePort();
    lab.start({ METRICS_PORT: String(port), BACKUP_CHECK_INTERVAL: "1" });
    await waitFor("a recovery point", async () => (await sample(RECOVERY_POINT)) !== undefined, 20000).catch((e) => {
      throw new Error(`${e.message}\n${lab.archiver!.log()}`);
    });
    const first = await scrape();
    expect([first.status, first.type]).toEqual([200, "text/plain; version=0.0.4; charset=utf-8"]);
    const lint = await checkMetrics(first.text);
    expect([lint.code, lint.stdout + lint.stderr]).toEqual([0, ""]);
    for (const m of Object.values(BACKUP_METRICS))
      expect(first.text).toContain(`# HELP ${m.name} ${m.help}\n# TYPE ${m.name} ${m.type}\n`);
    expect(await sample(LAST_BACKUP)).toBeUndefined(); // no complete backup yet
    expect(now() - (await sample(RECOVERY_POINT))!).toBeLessThanOrEqual(3);

    // S3 down: a write the archive cannot take stops the recovery point at the last round before it.
    await lab.rig.s3.kill();
    await lab.rig.source.query("INSERT INTO app.t (v) VALUES ('during the outage')");
    const written = now();
    await sleep(2000);
    const stalled = (await sample(RECOVERY_POINT))!;
    await sleep(4000);
    expect(await sample(RECOVERY_POINT)).toBe(stalled);
    expect(stalled).toBeLessThanOrEqual(written);
    // S3 back: the write is archived and the recovery point passes it.
    await lab.rig.s3.start();
    await waitFor("the recovery point past the write", async () => (await sample(RECOVERY_POINT))! > written, 30000);
    const logs = await lab.serverLogs();
    const [current] = Object.keys(logs).slice(-1);
    const archived = await listKeys(lab.rig, "binlog/502/");
    expect(archived.find((k) => k.key.endsWith(`/${current}`))?.size).toBeGreaterThanOrEqual(logs[current]);
  });

  test("the newest complete backup's time appears when backup.sh writes its manifest; a newer backup without one does not count", async () => {
    const dest = await runBackup(lab.rig);
    await waitFor("the backup's time", async () => (await sample(LAST_BACKUP)) === stampSeconds(dest), 15000);
    // A newer backup cut short (no manifest) is no backup.
    const cut = new Date((stampSeconds(dest) + 60) * 1000).toISOString().replace(/[-:]|\.\d+/g, "");
    await putObject(lab.rig, `base/${cut}/backup.xbstream.zst`, Buffer.from("cut short"));
    await sleep(3000);
    expect(await sample(LAST_BACKUP)).toBe(stampSeconds(dest));
    await sleep(1000); // backup names have 1 s resolution
    const second = await runBackup(lab.rig);
    expect(stampSeconds(second)).toBeGreaterThan(stampSeconds(dest));
    await waitFor("the second backup's time", async () => (await sample(LAST_BACKUP)) === stampSeconds(second), 15000);
    await lab.stop();
  });
});

describe("without rclone in the image", () => {
  test("the backup job and the archiver fail at start, naming rclone and the backupImage config key", async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "no-rclone-"));
    try {
      // Every tool of this machine except rclone.
      for (const dir of ["/usr/local/bin", "/usr/bin", "/bin"]) {
        for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
          if (name !== "rclone" && !fs.existsSync(path.join(bin, name)))
            fs.symlinkSync(path.join(dir, name), path.join(bin, name));
        }
      }
      const env = {
        PATH: `${bin}:/usr/sbin:/sbin`,
        BACKUP_URL: "s3://backups/x",
        DONOR_HOST: "127.0.0.1",
        DONOR_PORT: "1",
        CLONE_TOKEN: "t",
        MYSQL_HOST: "127.0.0.1",
        MYSQL_PORT: "1",
        MYSQL_USER: "root",
        MYSQL_PASSWORD: "pw",
        SPOOL_DIR: path.join(bin, "spool"),
      };
      for (const script of ["backup.sh", "binlog-archive.sh"]) {
        const started = Date.now();
        const err = await runScript(script, env, { timeoutMs: 20000 }).catch((e) => e);
        expect(err).toBeInstanceOf(ScriptError);
        expect([script, err.code]).toEqual([script, 1]);
        expect(err.stderr).toMatch(/ERROR: rclone is not installed in this image.*mysql-ha:backupImage/);
        expect(Date.now() - started).toBeLessThan(5000);
      }
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });
});
