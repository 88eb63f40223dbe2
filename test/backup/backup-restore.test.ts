import { execFileSync } from "node:child_process";
import { runScript, RunningScript, startScript } from "../../cli/scripts";
import { sleep } from "../../local/mariadbd";
import { checksum, getObject, listKeys, restoreInto, Rig, runBackup, startRig, waitFor } from "./support";

jest.setTimeout(180000);

async function seedData(rig: Rig): Promise<void> {
  await rig.source.query("CREATE DATABASE app");
  await rig.source.query("CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(200))");
  await rig.source.query("CREATE TABLE app.u (id INT PRIMARY KEY, n INT)");
  for (let i = 0; i < 20; i++) {
    await rig.source.query("INSERT INTO app.t (v) SELECT CONCAT('row-', seq, '-', RAND()) FROM app.seq_1_to_100");
  }
  await rig.source.query("INSERT INTO app.u SELECT seq, seq * 7 FROM app.seq_1_to_500");
}

async function hasRow(server: { query: (sql: string) => Promise<any[]> }, v: string): Promise<boolean> {
  const rows = await server.query(`SELECT 1 FROM app.t WHERE v = '${v}'`);
  return rows.length === 1;
}

describe("backup to S3, binlog archive and restore (real mariadb-backup, mariadb-binlog, rclone, s3rver)", () => {
  let rig: Rig;
  let archiver: RunningScript | undefined;

  beforeAll(async () => {
    rig = await startRig(300);
    await seedData(rig);
  });

  afterAll(async () => {
    archiver?.kill();
    await archiver?.done.catch(() => undefined);
    await rig?.cleanup();
  });

  test("backup writes the data, then a manifest with GTID, sizes and sha256; restore gives identical table checksums", async () => {
    const { stdout, stderr } = await runScript("backup.sh", rig.env(), { timeoutMs: 120000 });
    const dest = stdout.trim().split("\n").pop()!;
    expect(dest).toMatch(/^base\/\d{8}T\d{6}Z$/);
    expect(stderr).not.toMatch(/warning: command substitution/); // the marker read from the raw stream's tail
    const keys = await listKeys(rig, `${dest}/`);
    expect(keys.map((k) => k.key)).toEqual([`${dest}/backup.xbstream.zst`, `${dest}/manifest.json`]);
    const manifest = JSON.parse((await getObject(rig, `${dest}/manifest.json`)).toString());
    const [{ pos }] = await rig.source.query("SELECT @@gtid_binlog_pos AS pos");
    expect(manifest.gtid).toBe(pos);
    const data = await getObject(rig, `${dest}/backup.xbstream.zst`);
    expect(manifest.objects[0].size).toBe(data.length);
    expect(manifest.objects[0].sha256).toBe(require("node:crypto").createHash("sha256").update(data).digest("hex"));
    expect(manifest.streamBytes).toBeGreaterThan(data.length); // compressed
    // zstd's own counts (the donor's zstd reports them): the raw stream is what the object decompresses to.
    expect(manifest.streamBytes).toBe(execFileSync("zstd", ["-d", "-c"], { input: data, maxBuffer: 1 << 30 }).length);

    const restored = await restoreInto(rig, 310, { BACKUP: dest });
    for (const table of ["app.t", "app.u"])
      expect(await checksum(restored, table)).toBe(await checksum(rig.source, table));
    const [{ state }] = await restored.query("SELECT @@gtid_binlog_pos AS state");
    expect(state).toBe(pos); // the restored member continues the original GTID history
  });

  test("as the seed container restores it (nothing to replay), the member's first start takes the backup's GTID history; later starts keep their own", async () => {
    const dest = await runBackup(rig);
    const manifest = JSON.parse((await getObject(rig, `${dest}/manifest.json`)).toString());
    const restored = await restoreInto(rig, 320, { BACKUP: dest, REPLAY_BINLOGS: "0" }, true);
    expect(restored.spec.options?.init_file).toBe(`${restored.datadir}/.mysql-ha-position.sql`);
    for (const table of ["app.t", "app.u"])
      expect(await checksum(restored, table)).toBe(await checksum(rig.source, table));
    const position = async () =>
      (
        await restored.query<{ binlog: string; slave: string }>(
          "SELECT @@gtid_binlog_pos AS binlog, @@gtid_slave_pos AS slave",
        )
      )[0];
    expect(await position()).toEqual({ binlog: manifest.gtid, slave: manifest.gtid });
    // It takes writes as member 0; restarted with the init_file still set, its binlog history stays (no second RESET
    // MASTER) and so does the write.
    await restored.query("INSERT INTO app.u VALUES (100000, 1)");
    const [{ after }] = await restored.query<{ after: string }>("SELECT @@gtid_binlog_pos AS after");
    expect(after).not.toBe(manifest.gtid);
    await restored.stop();
    await restored.start();
    expect(await position()).toEqual({ binlog: after, slave: manifest.gtid });
    const binlogs = await restored.query<{ Log_name: string }>("SHOW BINARY LOGS");
    expect(binlogs.length).toBeGreaterThan(1); // a new file at the restart, the first one kept
    expect((await restored.query("SELECT n FROM app.u WHERE id = 100000")).length).toBe(1);
  });

  test("with the archiver running, a write is in S3 within 10 s; PITR to a moment between two writes keeps the first, not the second", async () => {
    archiver = startScript(
      "binlog-archive.sh",
      rig.env({ SPOOL_DIR: `${rig.source.dir}/spool`, ARCHIVE_INTERVAL: "1" }),
    );
    const [{ id: serverId }] = await rig.source.query("SELECT @@server_id AS id");
    await waitFor("the first archived binlog", async () => (await listKeys(rig, `binlog/${serverId}/`)).length > 0);
    await runBackup(rig); // the base for the point-in-time restore

    // Recovery point: commit a uniquely marked row and time until an archived binlog object contains it.
    const marker = `rpo-${Date.now()}`;
    await rig.source.query("INSERT INTO app.t (v) VALUES (?)", [marker]);
    const committed = Date.now();
    const inS3 = async (text: string) => {
      for (const { key } of await listKeys(rig, `binlog/${serverId}/`))
        if ((await getObject(rig, key)).includes(text)) return true;
      return false;
    };
    await waitFor("the marked write in the S3 binlog archive", () => inS3(marker), 10000, 50).catch((e) => {
      throw new Error(`${e.message}\narchiver log:\n${archiver!.log()}`);
    });
    const recoveryPointMs = Date.now() - committed;
    process.stdout.write(`recovery point: write visible in S3 after ${recoveryPointMs} ms\n`);
    expect(recoveryPointMs).toBeLessThan(10000);

    // Two writes with a moment between them (binlog times have 1 s resolution).
    await rig.source.query("INSERT INTO app.t (v) VALUES ('first')");
    const [{ gtidFirst }] = await rig.source.query("SELECT @@gtid_binlog_pos AS gtidFirst");
    await sleep(1100 - (Date.now() % 1000)); // into the next second
    const moment = new Date(Math.floor(Date.now() / 1000) * 1000);
    await sleep(1200);
    await rig.source.query("INSERT INTO app.t (v) VALUES ('second')");
    await waitFor("the second write in S3", () => inS3("second"), 10000, 50);

    const until = moment.toISOString().replace("T", " ").slice(0, 19);
    const atMoment = await restoreInto(rig, 320, { UNTIL_TIME: until });
    expect(await hasRow(atMoment, "first")).toBe(true);
    expect(await hasRow(atMoment, "second")).toBe(false);
    expect(await hasRow(atMoment, marker)).toBe(true);

    const atGtid = await restoreInto(rig, 321, { UNTIL_GTID: gtidFirst });
    expect(await hasRow(atGtid, "first")).toBe(true);
    expect(await hasRow(atGtid, "second")).toBe(false);

    const latest = await restoreInto(rig, 322);
    expect(await checksum(latest, "app.t")).toBe(await checksum(rig.source, "app.t"));
  });
});
