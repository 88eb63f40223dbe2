import * as fs from "node:fs";
import { runScript, RunningScript, ScriptError, startScript } from "../../local/backup";
import { listKeys, Rig, runBackup, startRig, waitFor } from "./support";

jest.setTimeout(120000);

describe("binlog archive: resume and gaps (real mariadb-binlog, s3rver)", () => {
  let rig: Rig;
  let archiver: RunningScript | undefined;
  const start = () => {
    archiver = startScript("binlog-archive.sh", rig.env({ SPOOL_DIR: `${rig.source.dir}/spool`, ARCHIVE_INTERVAL: "1" }));
    return archiver;
  };
  const stop = async () => {
    archiver?.kill("SIGTERM");
    await archiver?.done.catch(() => undefined);
    archiver = undefined;
  };
  /** Server binlogs (name -> size) vs archived objects (name -> size). */
  const serverLogs = async () =>
    Object.fromEntries((await rig.source.query("SHOW BINARY LOGS")).map((r: any) => [r.Log_name, Number(r.File_size)]));
  const archived = async () => Object.fromEntries((await listKeys(rig, "binlog/500/")).map((k) => [k.key.split("/").pop()!, k.size]));

  beforeAll(async () => {
    rig = await startRig(500);
    await rig.source.query("CREATE DATABASE app");
    await rig.source.query("CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(50))");
  });

  afterAll(async () => {
    await stop();
    await rig?.cleanup();
  });

  test("after a restart the archiver resumes where it stopped: every binlog archived whole, none missing", async () => {
    start();
    await rig.source.query("INSERT INTO app.t (v) VALUES ('a')");
    await waitFor("the first binlog archived", async () => JSON.stringify(await archived()) === JSON.stringify(await serverLogs()), 15000);
    await stop();
    // While it is down: more writes and two rotations.
    for (const v of ["b", "c", "d"]) {
      await rig.source.query("INSERT INTO app.t (v) VALUES (?)", [v]);
      await rig.source.query("FLUSH BINARY LOGS");
    }
    start();
    await waitFor("all binlogs archived at their full size", async () => JSON.stringify(await archived()) === JSON.stringify(await serverLogs()), 15000);
    expect(Object.keys(await archived())).toEqual(["mysql-bin.000001", "mysql-bin.000002", "mysql-bin.000003", "mysql-bin.000004"]);
    expect(archiver!.log()).toMatch(/from mysql-bin\.000001 to/); // resumed from the newest archived file
    // Rotated files are dropped from the spool once archived.
    expect(fs.readdirSync(`${rig.source.dir}/spool`).filter((f) => !f.startsWith("."))).toEqual(["mysql-bin.000004"]);
    await stop();
  });

  test("binlogs purged while the archiver was down: it reports the gap, records it in S3, and restore refuses to replay across it", async () => {
    start();
    await waitFor("the archive to catch up", async () => JSON.stringify(await archived()) === JSON.stringify(await serverLogs()), 15000);
    await stop();
    const dest = await runBackup(rig); // a base from before the gap
    const lastArchived = Object.keys(await archived()).pop()!;
    await rig.source.query("INSERT INTO app.t (v) VALUES ('lost')");
    await rig.source.query("FLUSH BINARY LOGS");
    await rig.source.query("FLUSH BINARY LOGS");
    const logs = Object.keys(await serverLogs());
    // PURGE skips files a binlog dump thread still reads; the stopped archiver's may linger until its next event.
    for (const { ID } of await rig.source.query("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")) {
      await rig.source.query(`KILL ${ID}`).catch(() => undefined);
    }
    // ... and files the binlog checkpoint has not passed yet (it moves asynchronously after a rotation).
    await waitFor("the purge", async () => {
      await rig.source.query(`PURGE BINARY LOGS TO '${logs[logs.length - 1]}'`);
      return Object.keys(await serverLogs()).length === 1;
    });
    start();
    await waitFor("the gap report", async () => /GAP in the binlog archive[^]*archiving binlogs/.test(archiver!.log()), 15000).catch((e) => {
      throw new Error(`${e.message}\n${archiver!.log()}`);
    });
    const oldest = logs[logs.length - 1];
    expect(archiver!.log()).toContain(`archived up to ${lastArchived}, the server's oldest binlog is ${oldest}`);
    expect((await listKeys(rig, "binlog/500/")).some((k) => /\/GAP-\d{8}T\d{6}Z$/.test(k.key))).toBe(true);
    await waitFor("the first binlog after the gap archived", async () => oldest in (await archived()), 15000);
    await stop();

    const err = await runScript("restore.sh", rig.env({ DATADIR: `${rig.source.dir}/restore-gap`, BACKUP: dest })).catch((e) => e);
    expect(err).toBeInstanceOf(ScriptError);
    const missing = (n: number) => `mysql-bin.${String(n).padStart(6, "0")}`;
    const firstMissing = missing(Number(lastArchived.split(".")[1]) + 1);
    const lastMissing = missing(Number(oldest.split(".")[1]) - 1);
    expect(err.message).toContain(`binlog archive gap: ${firstMissing} .. ${lastMissing} of server 500 are missing`);
  });
});
