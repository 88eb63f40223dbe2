/**
 * Chaos: S3 goes down in the middle of a backup taken from a replica while the primary serves a 1 ms writer.
 * Promises checked: the outage costs the database nothing (writes keep being acknowledged, none lost); the backup
 * fails loudly (non-zero exit naming the failure) and never writes a manifest, so it never counts as a backup; the
 * previous good backup stays the newest complete one, and restore uses it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { ListObjectsV2Command } from "@aws-sdk/client-s3";
import { Donor, runScript, ScriptError, serverEnv, startDonor, startScript } from "../../cli/scripts";
import { LocalS3, startLocalS3 } from "../../local/s3";
import { caughtUp, ChaosTopology, sleep, startChaosTopology, stopChaosTopology, within } from "./support";

const TOKEN = "chaos-backup-token";

/** Manifest keys in the bucket: a backup counts only if its manifest exists. */
async function manifests(s3: LocalS3): Promise<string[]> {
  const client = s3.client();
  try {
    const out = await client.send(new ListObjectsV2Command({ Bucket: "chaos", Prefix: "db/base/" }));
    return (out.Contents ?? []).map((o) => o.Key!).filter((k) => k.endsWith("/manifest.json"));
  } finally {
    client.destroy();
  }
}

describe("chaos: S3 unreachable during a backup", () => {
  let t: ChaosTopology | undefined;
  let s3: LocalS3 | undefined;
  let donor: Donor | undefined;
  let work: string | undefined;
  afterEach(async () => {
    await donor?.stop();
    await s3?.stop();
    await stopChaosTopology(t);
    if (work) fs.rmSync(work, { recursive: true, force: true });
    [t, s3, donor, work] = [undefined, undefined, undefined, undefined];
  });

  it("the backup fails loudly without a manifest, writes go on unharmed, and restore uses the last good backup", async () => {
    t = await startChaosTopology({ count: 2, serverIdBase: 1400 });
    const [primary, replica] = t.servers;
    await primary.query("CREATE TABLE ackcheck.bulk (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(250)) ENGINE=InnoDB");
    await primary.query("INSERT INTO ackcheck.bulk (v) VALUES (REPEAT('x', 250))");
    for (let i = 0; i < 15; i++)
      await primary.query(
        "INSERT INTO ackcheck.bulk (v) SELECT CONCAT(SHA2(RAND(), 256), REPEAT('y', 186)) FROM ackcheck.bulk",
      );
    expect(await caughtUp(replica, primary)).toBe(true);
    s3 = await startLocalS3(["chaos"]);
    donor = await startDonor(replica, TOKEN);
    const env = {
      ...s3.env(),
      BACKUP_URL: "s3://chaos/db",
      DONOR_HOST: donor.host,
      DONOR_PORT: String(donor.port),
      CLONE_TOKEN: TOKEN,
    };

    await t.writer.start();
    const good = (await within(60000, "first backup", runScript("backup.sh", env))).stdout.trim().split("\n").pop()!;
    await sleep(1100); // backups are named by the second

    const running = startScript("backup.sh", env);
    while (!running.log().includes("streaming from") && running.child.exitCode === null) await sleep(10);
    await s3.kill();
    const acksBefore = t.writer.ackedCount;
    const failure = await within(
      90000,
      "backup during the outage",
      running.done.then(
        () => undefined,
        (err: Error) => err,
      ),
    );
    await t.writer.waitForAcks(100); // the database does not care that S3 is gone
    expect(t.writer.ackedCount).toBeGreaterThan(acksBefore);
    await s3.start();

    expect(failure).toBeInstanceOf(ScriptError);
    expect((failure as ScriptError).message).toMatch(/FAILED/);
    expect(await manifests(s3)).toEqual([`db/${good}/manifest.json`]);

    work = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-chaos-restore-"));
    const restored = await within(
      60000,
      "restore",
      runScript("restore.sh", { ...env, ...serverEnv(primary), DATADIR: path.join(work, "data"), REPLAY_BINLOGS: "0" }),
    );
    expect(restored.stderr).toContain(`restoring s3://chaos/db/${good} (`);

    const report = await t.writer.stop();
    expect(report.acked.length).toBeGreaterThan(100);
    expect(await t.writer.verify(primary)).toEqual([]);
  });
});
