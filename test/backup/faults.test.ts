import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { runScript, ScriptError, startScript } from "../../cli/scripts";
import { sleep } from "../../local/mariadbd";
import {
  getObject,
  listKeys,
  putObject,
  restoreInto,
  Rig,
  runBackup,
  startRig,
  startS3Proxy,
  waitFor,
} from "./support";

jest.setTimeout(180000);

/** Enough data that a backup streams for a while (the kill and outage land mid-stream). */
async function seedData(rig: Rig): Promise<void> {
  await rig.source.query("CREATE DATABASE app");
  await rig.source.query("CREATE TABLE app.t (id INT PRIMARY KEY AUTO_INCREMENT, v VARCHAR(250))");
  for (let i = 0; i < 8; i++) {
    await rig.source.query(
      "INSERT INTO app.t (v) SELECT CONCAT(SHA2(RAND(), 256), SHA2(RAND(), 256)) FROM app.seq_1_to_5000",
    );
  }
}

/**
 * Watches DIR (created empty) for entries created in it; stop() returns their names, sorted, once every event before
 * it has been seen (a sentinel created after the watched work is the last event).
 */
async function watchEntries(dir: string): Promise<{ stop: () => Promise<string[]> }> {
  fs.mkdirSync(dir);
  const names = new Set<string>();
  const sentinel = ".test-sentinel";
  let seenSentinel: () => void;
  const sentinelSeen = new Promise<void>((resolve) => (seenSentinel = resolve));
  const watcher = fs.watch(dir, (_event, name) => {
    if (name === sentinel) seenSentinel();
    else if (name) names.add(String(name)); // a created entry, or one removed (it was created first)
  });
  return {
    async stop() {
      fs.writeFileSync(`${dir}/${sentinel}`, "");
      await sentinelSeen;
      watcher.close();
      fs.rmSync(`${dir}/${sentinel}`);
      return [...names].sort();
    },
  };
}

const manifests = async (rig: Rig) =>
  (await listKeys(rig, "base/")).filter((k) => k.key.endsWith("/manifest.json")).map((k) => k.key);

/** Starts backup.sh and resolves once it is streaming from the donor. */
async function backupStreaming(rig: Rig) {
  const running = startScript("backup.sh", rig.env());
  await waitFor("the backup to start streaming", async () => running.log().includes("streaming from"), 20000, 20);
  return running;
}

describe("backup faults (real S3 API on loopback)", () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig(400);
    await seedData(rig);
  });

  afterAll(async () => {
    await rig?.cleanup();
  });

  test("S3 down during a backup: it fails loudly and writes no manifest", async () => {
    const running = await backupStreaming(rig);
    await rig.s3.kill();
    const err = await running.done.catch((e) => e);
    await rig.s3.start();
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toMatch(/FAILED.*no manifest written/);
    expect(await manifests(rig)).toEqual([]);
  });

  test("S3 keeping another size than was sent: the backup fails and writes no manifest, whatever RCLONE_* says", async () => {
    // An S3 endpoint that reports the object one byte short when asked for it: the check reads the object back after
    // the upload. RCLONE_IGNORE_SIZE=true alone would make rclone accept it.
    let lies = 0;
    const proxy = await startS3Proxy(rig, {
      headers: (req, status, headers) => {
        if (req.method !== "HEAD" || !req.url!.includes("/backup.xbstream.zst") || status !== 200) return;
        headers["content-length"] = String(Number(headers["content-length"]) - 1);
        lies++;
      },
    });
    try {
      const err = await runScript(
        "backup.sh",
        rig.env({ S3_ENDPOINT: proxy.endpoint, RCLONE_S3_NO_HEAD: "true", RCLONE_IGNORE_SIZE: "true" }),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(ScriptError);
      expect(err.message).toMatch(/Failed to rcat: corrupted on transfer/);
      expect(err.message).toMatch(/FAILED while streaming: no manifest written/);
      expect(lies).toBeGreaterThan(0);
      expect(await manifests(rig)).toEqual([]);
    } finally {
      proxy.close();
    }
  });

  test("a signature S3 refuses to store: the manifest that went up beside it is taken away again", async () => {
    const proxy = await startS3Proxy(rig, {
      answer: (req, res) => {
        if (req.method !== "PUT" || !req.url!.includes("/manifest.json.sig")) return false;
        req.resume();
        res.writeHead(403, { "content-type": "application/xml" });
        res.end("<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>");
        return true;
      },
    });
    try {
      const err = await runScript(
        "backup.sh",
        rig.env({ S3_ENDPOINT: proxy.endpoint, BACKUP_SIGNING_KEY: "a key" }),
      ).catch((e) => e);
      expect(err).toBeInstanceOf(ScriptError);
      expect(err.message).toMatch(/cannot write the manifest and its signature; no manifest left/);
      expect(await manifests(rig)).toEqual([]);
    } finally {
      proxy.close();
    }
  });

  test("a backup killed mid-stream leaves no manifest; the next run completes and restore uses it", async () => {
    const running = await backupStreaming(rig);
    await sleep(200);
    running.kill("SIGKILL");
    await running.done.catch(() => undefined);
    expect(await manifests(rig)).toEqual([]);
    const dest = await runBackup(rig);
    expect(await manifests(rig)).toEqual([`${dest}/manifest.json`]);
    const restored = await restoreInto(rig, 410, { REPLAY_BINLOGS: "0" });
    const [{ n }] = await restored.query("SELECT COUNT(*) AS n FROM app.t");
    expect(Number(n)).toBe(40000);
  });

  test("a corrupted backup object: restore refuses with a clear message and leaves the datadir empty", async () => {
    const [dest] = (await manifests(rig)).map((k) => k.replace(/\/manifest\.json$/, ""));
    const key = `${dest}/backup.xbstream.zst`;
    const original = await getObject(rig, key);
    const corrupted = Buffer.from(original);
    corrupted[Math.floor(corrupted.length / 2)] ^= 0xff; // same size, one flipped byte
    await putObject(rig, key, corrupted);
    const datadir = `${rig.source.dir}/restore-corrupt`;
    const created = await watchEntries(datadir);
    const err = await runScript("restore.sh", rig.env({ DATADIR: datadir, BACKUP: dest })).catch((e) => e);
    await putObject(rig, key, original);
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toMatch(
      /is corrupted: sha256 [0-9a-f]{64}, manifest says [0-9a-f]{64}; refusing to restore it/,
    );
    expect(fs.readdirSync(datadir)).toEqual([]);
    // Not only empty at the end (a failed restore empties the datadir): nothing of the object ever reached it, the
    // extraction stayed in its staging directory.
    expect(await created.stop()).toEqual([".mysql-ha-restore"]);
  });

  test("a truncated backup object: restore refuses naming the object and both sizes, nothing reaches the datadir", async () => {
    const [dest] = (await manifests(rig)).map((k) => k.replace(/\/manifest\.json$/, ""));
    const key = `${dest}/backup.xbstream.zst`;
    const original = await getObject(rig, key);
    await putObject(rig, key, original.subarray(0, original.length - 1000));
    const datadir = `${rig.source.dir}/restore-truncated`;
    const created = await watchEntries(datadir);
    const err = await runScript("restore.sh", rig.env({ DATADIR: datadir, BACKUP: dest })).catch((e) => e);
    await putObject(rig, key, original);
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toContain(
      `${key} is ${original.length - 1000} bytes, its manifest says ${original.length}: the object is truncated or replaced; refusing to restore it`,
    );
    expect(await created.stop()).toEqual([".mysql-ha-restore"]);
  });

  test("a good backup object reaches the datadir (the watch of the test above sees what lands there)", async () => {
    const [dest] = (await manifests(rig)).map((k) => k.replace(/\/manifest\.json$/, ""));
    const datadir = `${rig.source.dir}/restore-watched`;
    const created = await watchEntries(datadir);
    await runScript("restore.sh", rig.env({ DATADIR: datadir, BACKUP: dest, REPLAY_BINLOGS: "0" }));
    expect(await created.stop()).toEqual(expect.arrayContaining([".mysql-ha-restore", "ibdata1", "app"]));
    expect(fs.readdirSync(datadir)).not.toContain(".mysql-ha-restore");
  });

  test("restore as an account the backup does not have: it fails within seconds naming MYSQL_USER, the private server stopped and the datadir empty", async () => {
    const [dest] = (await manifests(rig)).map((k) => k.replace(/\/manifest\.json$/, ""));
    const datadir = `${rig.source.dir}/restore-wrong-account`;
    const started = Date.now();
    const err = await runScript(
      "restore.sh",
      rig.env({ DATADIR: datadir, BACKUP: dest, REPLAY_BINLOGS: "0", MYSQL_USER: "nobody" }),
    ).catch((e) => e);
    // The private server refuses the account at once: no waiting for it to "start".
    expect(Date.now() - started).toBeLessThan(20000);
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toMatch(
      /cannot reach the restored server as MYSQL_USER 'nobody' \(an account in the backup\): .*Access denied/,
    );
    expect(require("node:child_process").execFileSync("ps", ["-eo", "args"]).toString()).not.toContain(datadir);
    expect(require("node:fs").readdirSync(datadir)).toEqual([]);
  });

  test("prune keeps the newest complete backup even when newer attempts failed, and deletes older ones", async () => {
    const older = await runBackup(rig);
    await sleep(1100); // distinct timestamps
    const newest = await runBackup(rig);
    // Data without a manifest: a failed attempt before the newest complete backup, and one after it (maybe running).
    await putObject(rig, "base/20000101T000000Z/backup.xbstream.zst", Buffer.from("partial"));
    await putObject(rig, "base/29990101T000000Z/backup.xbstream.zst", Buffer.from("partial"));
    const before = await manifests(rig);
    expect(before).toEqual(expect.arrayContaining([`${older}/manifest.json`, `${newest}/manifest.json`]));

    // Younger than RETENTION_DAYS is kept whatever the count: only the old failed attempt goes.
    await runScript("prune.sh", rig.env({ RETENTION_COUNT: "1", RETENTION_DAYS: "1" }));
    expect(await manifests(rig)).toEqual(before);
    expect(await listKeys(rig, "base/20000101T000000Z/")).toEqual([]);

    // Two days later only the newest complete backup is within the retention count.
    const inTwoDays = new Date(Date.now() + 2 * 86400000).toISOString();
    const { stderr } = await runScript(
      "prune.sh",
      rig.env({ RETENTION_COUNT: "1", RETENTION_DAYS: "1", PRUNE_NOW: inTwoDays }),
    );
    expect(stderr).toContain(`newest complete: ${newest}`);
    expect(await manifests(rig)).toEqual([`${newest}/manifest.json`]);
    expect(await listKeys(rig, `${older}/`)).toEqual([]);
    expect((await listKeys(rig, "base/29990101T000000Z/")).length).toBe(1);
    // And the kept backup is still whole: it restores.
    const restored = await restoreInto(rig, 420, { BACKUP: newest, REPLAY_BINLOGS: "0" });
    const [{ n }] = await restored.query("SELECT COUNT(*) AS n FROM app.t");
    expect(Number(n)).toBe(40000);
  });

  test("prune deletes nothing when no backup is complete", async () => {
    const { stderr } = await runScript("prune.sh", rig.env({ BACKUP_URL: `${rig.url}-empty`, RETENTION_COUNT: "1" }));
    expect(stderr).toMatch(/no complete backup .*deleting nothing/);
  });
});

describe("the completion check of a donor stream", () => {
  let rig: Rig;
  let fake: import("node:net").Server | undefined;
  beforeAll(async () => {
    rig = await startRig(420);
  });
  afterAll(async () => {
    fake?.close();
    await rig?.cleanup();
  });

  test("a stream cut short whose data holds marker-like text (even a whole marker from another stream) gets no manifest", async () => {
    // A donor stand-in that answers the token, sends bytes that look like a completed stream's tail, and hangs up.
    const net = require("node:net") as typeof import("node:net");
    const text =
      "mysql-ha-stream-complete\nmysql-ha-nonce=0123456789abcdef0123456789abcdef\nmysql-ha-gtid=0-420-7\n" +
      "mysql-ha-binlog-file=mysql-bin.000001\nmysql-ha-binlog-pos=4\nmysql-ha-finished=2026-12-01T00:00:00Z\n";
    fake = net.createServer((socket) => {
      socket.once("data", () => socket.end(Buffer.concat([Buffer.alloc(4096, 7), Buffer.from(text)])));
    });
    await new Promise<void>((resolve) => fake!.listen(0, "127.0.0.1", resolve));
    const port = (fake.address() as import("node:net").AddressInfo).port;
    const err = await runScript("backup.sh", rig.env({ DONOR_HOST: "127.0.0.1", DONOR_PORT: String(port) })).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toMatch(/the donor stream is incomplete \(no completion marker/);
    expect(await manifests(rig)).toEqual([]);
    // The real donor's stream, with this request's own nonce in its marker, does count.
    const dest = await runBackup(rig);
    expect(await manifests(rig)).toEqual([`${dest}/manifest.json`]);
  });

  test("a donor that streams raw (an older clone-stream.sh, which ignores the request's form line) gets no manifest, and says why", async () => {
    // Its stream is complete, with this request's nonce in the marker, but not compressed and without the raw size.
    const net = require("node:net") as typeof import("node:net");
    const before = await manifests(rig);
    fake?.close();
    fake = net.createServer((socket) => {
      let request = "";
      socket.on("data", (chunk) => {
        request += chunk;
        const nonce = request.split("\n")[1];
        if (!/^[0-9a-f]{32}$/.test(nonce ?? "")) return;
        const marker = `mysql-ha-stream-complete\nmysql-ha-nonce=${nonce}\nmysql-ha-gtid=0-420-7\nmysql-ha-binlog-file=mysql-bin.000001\nmysql-ha-binlog-pos=4\nmysql-ha-finished=2026-12-01T00:00:00Z\n`;
        socket.end(Buffer.concat([Buffer.alloc(4096, 7), Buffer.from(marker)]));
      });
    });
    await new Promise<void>((resolve) => fake!.listen(0, "127.0.0.1", resolve));
    const port = (fake.address() as import("node:net").AddressInfo).port;
    const err = await runScript("backup.sh", rig.env({ DONOR_HOST: "127.0.0.1", DONOR_PORT: String(port) })).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(ScriptError);
    expect(err.message).toMatch(
      /the donor sent no compressed stream with its size \(its clone-stream.sh predates them/,
    );
    expect(await manifests(rig)).toEqual(before);
  });

  test("the donor compresses a backup's stream and ends it with its marker and raw size; the object restores as plain zstd", async () => {
    const dest = await runBackup(rig);
    const object = await getObject(rig, `${dest}/backup.xbstream.zst`);
    const manifest = JSON.parse((await getObject(rig, `${dest}/manifest.json`)).toString());
    // The trailer: a zstd skippable frame (magic 0x184D2A5E, little-endian length) holding the marker, last.
    const frame = object.lastIndexOf(Buffer.from([0x5e, 0x2a, 0x4d, 0x18]));
    const text = object.subarray(frame + 8).toString();
    expect(object.readUInt32LE(frame + 4)).toBe(object.length - frame - 8);
    expect(text).toMatch(/^mysql-ha-nonce=[0-9a-f]{32}\nmysql-ha-gtid=[0-9,-]*\nmysql-ha-binlog-file=mysql-bin\.\d+\n/);
    expect(text).toContain(`mysql-ha-stream-bytes=${manifest.streamBytes}\n`);
    // zstd skips it: what decompresses is exactly the raw stream the manifest names.
    const raw = execFileSync("zstd", ["-dc"], { input: object, maxBuffer: 1 << 30 });
    expect(raw.length).toBe(manifest.streamBytes);
    expect(raw.subarray(0, 8).toString()).toBe("XBSTCK01");
  });

  test("the donor refuses a stream form it does not know, naming it", async () => {
    const err = await runScript("backup.sh", rig.env({ BACKUP_ZSTD_LEVEL: "99" })).catch((e) => e);
    expect(err).toBeInstanceOf(ScriptError);
    await waitFor("the donor's refusal", async () =>
      /bad stream form 'zstd:99' from .* \(raw or zstd:<1-19>\): refusing to stream/.test(rig.donor.log()),
    );
  });
});
