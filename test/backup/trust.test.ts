/**
 * Restore does not trust the bucket: signed manifests, strict patterns for every value read from it, and a replay
 * server that cannot touch files outside the restored datadir. Real mariadbd, mariadb-backup, rclone and s3rver.
 */
import { execFileSync } from "node:child_process";
import { createHmac, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { runScript, ScriptError } from "../../cli/scripts";
import { getObject, listKeys, putObject, restoreInto, Rig, startRig, waitFor } from "./support";

jest.setTimeout(180000);

const KEY = randomBytes(32).toString("hex");
const hmac = (key: string, data: Buffer | string) => createHmac("sha256", key).update(data).digest("hex");

describe("restore against a bucket others can write (signed manifests, checked values)", () => {
  let rig: Rig;
  let dest: string;
  let manifest: string;
  let data: Buffer;
  let backupLog: string;

  beforeAll(async () => {
    rig = await startRig(700);
    await rig.source.query("CREATE DATABASE app");
    await rig.source.query("CREATE TABLE app.t (id INT PRIMARY KEY, v INT)");
    await rig.source.query("INSERT INTO app.t SELECT seq, seq * 3 FROM app.seq_1_to_1000");
    const { stdout, stderr } = await runScript("backup.sh", rig.env({ BACKUP_SIGNING_KEY: KEY }), {
      timeoutMs: 120000,
    });
    backupLog = stdout + stderr;
    dest = stdout.trim().split("\n").pop()!;
    manifest = (await getObject(rig, `${dest}/manifest.json`)).toString();
    data = await getObject(rig, `${dest}/backup.xbstream.zst`);
  });

  afterAll(async () => {
    await rig?.cleanup();
  });

  /** Writes a backup under base/<stamp>: the real data object, `text` as its manifest (stamp put in), and `sig`. */
  async function plant(
    stamp: string,
    edit: (m: string) => string,
    sig: "sign" | "none" | ((m: string) => string) = "sign",
  ): Promise<string> {
    const backup = `base/${stamp}`;
    const text = edit(manifest.replace(/"timestamp": "[^"]*"/, `"timestamp": "${stamp}"`));
    await putObject(rig, `${backup}/backup.xbstream.zst`, data);
    if (sig !== "none")
      await putObject(
        rig,
        `${backup}/manifest.json.sig`,
        Buffer.from((sig === "sign" ? hmac(KEY, text) : sig(text)) + "\n"),
      );
    await putObject(rig, `${backup}/manifest.json`, Buffer.from(text));
    return backup;
  }

  /** Runs restore.sh of `backup` into an empty directory; returns its error and what it left there and beside it. */
  async function refusedRestore(backup: string, extra: Record<string, string> = { BACKUP_SIGNING_KEY: KEY }) {
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-trust-"));
    const datadir = path.join(parent, "data");
    // Its work directory in `parent`, where the rclones it starts ahead of the listing read their objects' names.
    const err = await runScript(
      "restore.sh",
      rig.env({ DATADIR: datadir, BACKUP: backup, REPLAY_BINLOGS: "0", TMPDIR: parent, ...extra }),
    ).catch((e) => e);
    const left = { datadir: fs.readdirSync(datadir), parent: fs.readdirSync(parent) };
    expect(err).toBeInstanceOf(ScriptError);
    // Refused before the object is read: nothing is extracted, and its early download (started beside the manifest's
    // checks) ends with the restore.
    expect(err.stderr).not.toMatch(/restoring s3:\/\//);
    expect(left).toEqual({ datadir: [], parent: ["data"] });
    await waitFor("the early download to end", async () => rclonesUnder(parent) === 0, 5000, 50);
    fs.rmSync(parent, { recursive: true, force: true });
    return err as ScriptError;
  }

  /** rclone processes of a restore whose work directory is under `dir` (their arguments name files there). */
  const rclonesUnder = (dir: string) =>
    execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
      .split("\n")
      .filter((args) => args.startsWith("rclone ") && args.includes(`${dir}/`)).length;

  test("backup.sh signs the manifest (HMAC-SHA256 under the key, written beside it) and the signed backup restores with the key", async () => {
    expect(backupLog).toMatch(/complete and signed in/);
    expect(backupLog).not.toContain(KEY);
    const keys = (await listKeys(rig, `${dest}/`)).map((k) => k.key);
    expect(keys).toEqual([`${dest}/backup.xbstream.zst`, `${dest}/manifest.json`, `${dest}/manifest.json.sig`]);
    expect((await getObject(rig, `${dest}/manifest.json.sig`)).toString()).toBe(hmac(KEY, manifest) + "\n");
    const restored = await restoreInto(rig, 710, { BACKUP: dest, REPLAY_BINLOGS: "0", BACKUP_SIGNING_KEY: KEY });
    const [{ n }] = await restored.query("SELECT COUNT(*) AS n FROM app.t");
    expect(Number(n)).toBe(1000);
  });

  test("a manifest whose object key climbs out of the work directory (../) is refused before the object is read, even when signed", async () => {
    const backup = await plant("20200101T000001Z", (m) => m.replace(/"key": "[^"]*"/, `"key": "../../escaped"`));
    const err = await refusedRestore(backup);
    expect(err.message).toContain(`manifest ${rig.url}/${backup}/manifest.json: field 'key' is not a plain file name`);
    for (const bad of ["sub/x", ".hidden", "-rf", "a..b"]) {
      const other = await plant("20200101T000002Z", (m) => m.replace(/"key": "[^"]*"/, `"key": "${bad}"`));
      expect((await refusedRestore(other)).message).toContain("field 'key' is not a plain file name");
    }
  });

  test("a manifest naming another object than backup.xbstream.zst: restore downloads the one it names", async () => {
    // The early download takes backup.xbstream.zst, as backup.sh names it; here that is garbage, the manifest's own
    // object elsewhere, so a restore from the early one would fail its size and sha256 checks.
    const backup = await plant("20200101T000020Z", (m) => m.replace(/"key": "[^"]*"/, `"key": "other.xbstream.zst"`));
    await putObject(rig, `${backup}/other.xbstream.zst`, data);
    await putObject(rig, `${backup}/backup.xbstream.zst`, randomBytes(data.length));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-trust-"));
    const restored = await restoreInto(rig, 720, {
      BACKUP: backup,
      REPLAY_BINLOGS: "0",
      BACKUP_SIGNING_KEY: KEY,
      TMPDIR: tmp,
    });
    const [{ n }] = await restored.query("SELECT COUNT(*) AS n FROM app.t");
    expect(Number(n)).toBe(1000);
    // The download of the object it did not use was stopped.
    expect(rclonesUnder(tmp)).toBe(0);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test("a GTID with SQL in it is refused before the object is read or anything run", async () => {
    const backup = await plant("20200101T000003Z", (m) =>
      m.replace(/"gtid": "[^"]*"/, `"gtid": "0-1-1'; DROP DATABASE app; SELECT '"`),
    );
    const err = await refusedRestore(backup);
    expect(err.message).toContain(`manifest ${rig.url}/${backup}/manifest.json: field 'gtid' is not a GTID position`);
  });

  test("sizes, checksums, times, binlog names and positions, and anything not in the manifest format are refused by field", async () => {
    const cases: Array<[string, (m: string) => string, RegExp]> = [
      [
        "20200101T000004Z",
        (m) => m.replace(/"size": \d+/, `"size": 99999999999999999999`),
        /field 'size' is not a byte count/,
      ],
      ["20200101T000005Z", (m) => m.replace(/"sha256": "[^"]*"/, `"sha256": "abc"`), /field 'sha256' is not a sha256/],
      [
        "20200101T000006Z",
        (m) => m.replace(/"finished": "[^"]*"/, `"finished": "$(id)"`),
        /field 'finished' is not a time/,
      ],
      [
        "20200101T000007Z",
        (m) => m.replace(/"binlogFile": "[^"]*"/, `"binlogFile": "../mysql-bin.000001"`),
        /field 'binlogFile' is not a binlog file name/,
      ],
      [
        "20200101T000008Z",
        (m) => m.replace(/"compression"/, `"evil": {},\n  "compression"`),
        /line 10 is not in the manifest format/,
      ],
      [
        "20200101T000009Z",
        (m) => m.replace(/"binlogPosition": "[^"]*"/, `"binlogPosition": "-4"`),
        /field 'binlogPosition' is not a binlog position/,
      ],
      ["20200101T000010Z", (m) => m.replace(/"gtid"/, `"gtid": "0-1-1",\n  "gtid"`), /field 'gtid' appears twice/],
      [
        "20200101T000018Z",
        (m) => m.replace(/"compression"/, `"evil": "x",\n  "compression"`),
        /unknown field 'evil' on line 10/,
      ],
      [
        "20200101T000011Z",
        (m) => m.replace(/\}\n {2}\]/, `},\n    { "key": "x", "size": 1, "sha256": "${"0".repeat(64)}" }\n  ]`),
        /field 'objects' must list exactly one object, it lists 2/,
      ],
    ];
    for (const [stamp, edit, message] of cases) {
      const backup = await plant(stamp, edit);
      expect([stamp, (await refusedRestore(backup)).message]).toEqual([stamp, expect.stringMatching(message)]);
    }
  });

  test("a signed manifest copied to another backup's place is refused (its timestamp names the original)", async () => {
    const backup = "base/20200101T000012Z";
    for (const f of ["backup.xbstream.zst", "manifest.json.sig", "manifest.json"])
      await putObject(rig, `${backup}/${f}`, await getObject(rig, `${dest}/${f}`));
    expect((await refusedRestore(backup)).message).toContain(
      `field 'timestamp' names another backup (${dest.slice(5)})`,
    );
  });

  test("with a key, a manifest edited after signing, one re-signed with another key, and an unsigned one are refused", async () => {
    const edited = await plant(
      "20200101T000013Z",
      (m) => m,
      (m) => hmac(KEY, m.replace(/"streamBytes": \d+/, `"streamBytes": 1`)),
    );
    expect((await refusedRestore(edited)).message).toContain(
      `manifest ${rig.url}/${edited}/manifest.json does not match its signature under BACKUP_SIGNING_KEY`,
    );
    const otherKey = await plant(
      "20200101T000014Z",
      (m) => m,
      (m) => hmac("another key", m),
    );
    expect((await refusedRestore(otherKey)).message).toContain("does not match its signature under BACKUP_SIGNING_KEY");
    const garbage = await plant(
      "20200101T000015Z",
      (m) => m,
      () => "not a signature",
    );
    expect((await refusedRestore(garbage)).message).toContain("does not match its signature under BACKUP_SIGNING_KEY");
    const unsigned = await plant("20200101T000016Z", (m) => m, "none");
    expect((await refusedRestore(unsigned)).message).toContain(
      `manifest ${rig.url}/${unsigned}/manifest.json is not signed (no manifest.json.sig) and BACKUP_SIGNING_KEY is set`,
    );
  });

  test("a manifest or a signature over 64 KiB is not taken: no manifest, or an unsigned one", async () => {
    // Valid JSON lines would pass the format check only without the padding: the size rule must decide first.
    const big = await plant("20200101T000018Z", (m) => m + " ".repeat(65536));
    expect((await refusedRestore(big)).message).toContain(
      `${rig.url}/${big} is not a complete backup (no manifest.json of at most 65536 bytes`,
    );
    const bigSig = await plant(
      "20200101T000019Z",
      (m) => m,
      (m) => hmac(KEY, m) + "\n".repeat(65536),
    );
    expect((await refusedRestore(bigSig)).message).toContain(
      `manifest ${rig.url}/${bigSig}/manifest.json is not signed (no manifest.json.sig)`,
    );
  });

  test("without a key an unsigned backup restores, with one warning", async () => {
    const unsigned = await plant("20200101T000017Z", (m) => m, "none");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-trust-"));
    const { stderr } = await runScript("restore.sh", rig.env({ DATADIR: dir, BACKUP: unsigned, REPLAY_BINLOGS: "0" }));
    fs.rmSync(dir, { recursive: true, force: true });
    expect(stderr.match(/BACKUP_SIGNING_KEY is not set/g)).toHaveLength(1);
    expect(stderr).toMatch(/restore complete/);
  });

  test("list-backups.sh marks each backup's signature (verified, forged, unsigned; signed when no key checks it) and invalid manifests", async () => {
    const list = async (env: Record<string, string>) => {
      const { stdout } = await runScript("list-backups.sh", rig.env(env));
      return Object.fromEntries(
        stdout
          .trim()
          .split("\n")
          .map((l) => l.split(";"))
          .map((f) => [f[0], [f[1], f[5]]]),
      );
    };
    const withKey = await list({ BACKUP_SIGNING_KEY: KEY });
    expect(withKey[dest.slice(5)]).toEqual(["complete", "verified"]);
    expect(withKey["20200101T000013Z"]).toEqual(["complete", "forged"]);
    expect(withKey["20200101T000014Z"]).toEqual(["complete", "forged"]);
    expect(withKey["20200101T000016Z"]).toEqual(["complete", "unsigned"]);
    expect(withKey["20200101T000001Z"]).toEqual(["invalid", "verified"]); // signed, but its key is a path
    const noKey = await list({});
    expect(noKey[dest.slice(5)]).toEqual(["complete", "signed"]);
    expect(noKey["20200101T000016Z"]).toEqual(["complete", "unsigned"]);
  });

  test("an object replaced under a signed manifest extracts no more than the manifest's streamBytes before it is refused", async () => {
    // The real stream followed by a second one that holds a 5 MB file: the object's hash is judged only once it is
    // all read, so the extraction must stop at the size the signed manifest names.
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-forged-"));
    fs.writeFileSync(path.join(work, "bomb.bin"), Buffer.alloc(5_000_000));
    const big = { maxBuffer: 1 << 28 };
    const stream = execFileSync("zstd", ["-q", "-d", "-c"], { input: data, ...big });
    const extra = execFileSync("mbstream", ["-c", "bomb.bin"], { cwd: work, ...big });
    const backup = await plant("20200101T000030Z", (m) => m);
    await putObject(
      rig,
      `${backup}/backup.xbstream.zst`,
      execFileSync("zstd", ["-q", "-c"], { input: Buffer.concat([stream, extra]), ...big }),
    );
    const datadir = path.join(work, "data");
    fs.mkdirSync(datadir);
    const seen = new Set<string>();
    const watcher = fs.watch(
      datadir,
      { recursive: true },
      (_event, name) => name && seen.add(path.basename(String(name))),
    );
    watcher.on("error", () => undefined); // the staging directory vanishing under the watch when the restore gives up
    const err = await runScript(
      "restore.sh",
      rig.env({ DATADIR: datadir, BACKUP: backup, REPLAY_BINLOGS: "0", BACKUP_SIGNING_KEY: KEY }),
    ).catch((e) => e);
    watcher.close();
    const left = fs.readdirSync(datadir);
    fs.rmSync(work, { recursive: true, force: true });
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.stderr).toMatch(
      /backup\.xbstream\.zst is \d+ bytes, its manifest says \d+: the object is truncated or replaced; refusing to restore it/,
    );
    expect(seen.has("ibdata1")).toBe(true); // the watch saw the extraction of the real stream
    expect(seen.has("bomb.bin")).toBe(false);
    expect(left).toEqual([]);
  });

  describe("manifests newer than the real backup, written without the key (unsigned, and signed with another)", () => {
    const planted = ["base/29990101T000001Z", "base/29990101T000002Z"];
    beforeAll(async () => {
      await plant(planted[0].slice(5), (m) => m, "none");
      await plant(
        planted[1].slice(5),
        (m) => m,
        (m) => hmac("another key", m),
      );
    });

    test("restore of the newest backup with the key passes over them and restores the real one", async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-trust-"));
      const { stderr } = await runScript(
        "restore.sh",
        rig.env({ DATADIR: dir, REPLAY_BINLOGS: "0", BACKUP_SIGNING_KEY: KEY }),
      );
      fs.rmSync(dir, { recursive: true, force: true });
      for (const b of planted)
        expect(stderr).toContain(`skipping ${b}: its manifest is not signed under BACKUP_SIGNING_KEY`);
      expect(stderr).toContain(`restore complete: ${rig.url}/${dest},`);
    });

    test("prune with the key does not count them, nor delete them: the real backup stays the newest complete one", async () => {
      // And one older than the real backup, unsigned (as from before a stack signed): neither counted nor deleted.
      const older = "base/20200101T000040Z";
      await plant(older.slice(5), (m) => m, "none");
      const inTwoDays = new Date(Date.now() + 2 * 86400000).toISOString();
      const { stderr } = await runScript(
        "prune.sh",
        rig.env({ RETENTION_COUNT: "1", RETENTION_DAYS: "1", PRUNE_NOW: inTwoDays, BACKUP_SIGNING_KEY: KEY }),
      );
      expect(stderr).toContain(`newest complete: ${dest}`);
      for (const b of [...planted, older]) {
        expect(stderr).toContain(`${b}: its manifest cannot be read or is not signed under BACKUP_SIGNING_KEY`);
        expect((await listKeys(rig, `${b}/`)).map((k) => k.key)).toContain(`${b}/manifest.json`);
      }
      expect((await listKeys(rig, `${dest}/`)).map((k) => k.key)).toContain(`${dest}/manifest.json`);
    });
  });
});

describe("the replay server (binlogs come from the bucket too)", () => {
  let rig: Rig;
  let secretDir: string;
  beforeAll(async () => {
    rig = await startRig(720);
    secretDir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-outside-"));
    fs.writeFileSync(path.join(secretDir, "secret.txt"), "outside-the-datadir");
  });
  afterAll(async () => {
    fs.rmSync(secretDir, { recursive: true, force: true });
    await rig?.cleanup();
  });

  test("a replayed statement cannot read a file outside the datadir (LOAD_FILE): the replay server's secure_file_priv is an empty private directory", async () => {
    await rig.source.query("CREATE DATABASE app");
    await rig.source.query("CREATE TABLE app.t (id INT PRIMARY KEY)");
    const { stdout } = await runScript("backup.sh", rig.env({ BACKUP_SIGNING_KEY: KEY }), { timeoutMs: 120000 });
    const backup = stdout.trim().split("\n").pop()!;
    // A crafted archive: statements logged as text, so the replay runs them as written.
    const file = path.join(secretDir, "secret.txt");
    const conn = await rig.source.connect();
    await conn.query("SET SESSION binlog_format = 'STATEMENT'");
    await conn.query(`CREATE TABLE app.leak AS SELECT LOAD_FILE('${file}') AS f`);
    await conn.end();
    await rig.source.query("FLUSH BINARY LOGS");
    for (const f of fs.readdirSync(rig.source.datadir).filter((n) => /^mysql-bin\.\d+$/.test(n))) {
      await putObject(rig, `binlog/720/20200101T000000Z/${f}`, fs.readFileSync(path.join(rig.source.datadir, f)));
    }
    const [{ leaked }] = await rig.source.query("SELECT f AS leaked FROM app.leak");
    expect(String(leaked)).toBe("outside-the-datadir"); // the source could read it: the crafted events are real

    const restored = await restoreInto(rig, 730, { BACKUP: backup, BACKUP_SIGNING_KEY: KEY });
    const [{ f }] = await restored.query("SELECT f FROM app.leak");
    expect(f).toBeNull();
  });
});
