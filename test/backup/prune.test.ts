import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { runScript } from "../../cli/scripts";
import { LocalS3, startLocalS3 } from "../../local/s3";
import { manifestText } from "./support";

jest.setTimeout(60000);

const BUCKET = "backups";
const PREFIX = "prune";

/**
 * Objects as the scripts leave them, last written at the given times: rclone reads an object's modification time
 * from its mtime metadata (what binlog-archive.sh's uploads carry), so the archive's past can be laid out exactly.
 */
async function put(client: S3Client, key: string, written: string, body = "x"): Promise<void> {
  const mtime = String(Date.parse(written) / 1000);
  await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${PREFIX}/${key}`, Body: body, Metadata: { mtime } }));
}

async function keys(client: S3Client, under: string): Promise<string[]> {
  const out = await client.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: `${PREFIX}/${under}` }));
  return (out.Contents ?? []).map((o) => o.Key!.slice(PREFIX.length + 1)).sort();
}

/** A complete base backup whose copy started at `started` (prune reads only the manifest's times). */
async function backup(client: S3Client, stamp: string, started: string): Promise<void> {
  await put(client, `base/${stamp}/backup.xbstream.zst`, started);
  await put(client, `base/${stamp}/manifest.json`, started, manifestText({ timestamp: stamp, started, gtid: "0-1-1" }));
}

describe("prune.sh and binlog histories (binlog/<server id>/<history>/<file>, s3rver)", () => {
  let s3: LocalS3;
  let client: S3Client;

  beforeAll(async () => {
    s3 = await startLocalS3([BUCKET]);
    client = s3.client();
  });

  afterAll(async () => {
    client?.destroy();
    await s3?.stop();
  });

  /** prune.sh keeping 2 backups (and a day) on 2026-02-01: the two newest backups laid out below stay. */
  const prune = () =>
    runScript("prune.sh", {
      ...s3.env(),
      BACKUP_URL: `s3://${BUCKET}/${PREFIX}`,
      RETENTION_COUNT: "2",
      RETENTION_DAYS: "1",
      PRUNE_NOW: "2026-02-01T00:00:00Z",
    });

  test("each history keeps what the oldest kept backup needs (from the newest file written before it started); an older history that ended before it goes whole", async () => {
    await backup(client, "20260101T000000Z", "2026-01-01T00:00:00Z"); // beyond the retention: dropped
    await backup(client, "20260110T000000Z", "2026-01-10T00:00:00Z"); // the oldest kept backup
    await backup(client, "20260120T000000Z", "2026-01-20T00:00:00Z");
    // Server 501: an old history (ended by RESET MASTER before the backup) and the current one across it.
    await put(client, "binlog/501/20251201T000000Z/mysql-bin.000001", "2025-12-01T00:00:00Z");
    await put(client, "binlog/501/20251201T000000Z/GAP-20251203T000000Z", "2025-12-03T00:00:00Z");
    await put(client, "binlog/501/20251201T000000Z/mysql-bin.000002", "2025-12-05T00:00:00Z");
    await put(client, "binlog/501/20251220T000000Z/mysql-bin.000001", "2025-12-20T00:00:00Z");
    await put(client, "binlog/501/20251220T000000Z/mysql-bin.000002", "2026-01-05T00:00:00Z");
    await put(client, "binlog/501/20251220T000000Z/mysql-bin.000003", "2026-01-09T00:00:00Z");
    await put(client, "binlog/501/20251220T000000Z/mysql-bin.000004", "2026-01-12T00:00:00Z");
    await put(client, "binlog/501/20251220T000000Z/mysql-bin.000005", "2026-01-15T00:00:00Z");
    // Server 502: its only history ends before the backup (an idle or removed member): its last file stays.
    await put(client, "binlog/502/20251215T000000Z/mysql-bin.000007", "2025-12-15T00:00:00Z");
    await put(client, "binlog/502/20251215T000000Z/mysql-bin.000008", "2025-12-30T00:00:00Z");
    // Server 503: an older history written on after the backup started is still needed, next to a newer one.
    await put(client, "binlog/503/20251201T000000Z/mysql-bin.000001", "2026-01-08T00:00:00Z");
    await put(client, "binlog/503/20251201T000000Z/mysql-bin.000002", "2026-01-11T00:00:00Z");
    await put(client, "binlog/503/20260112T000000Z/mysql-bin.000001", "2026-01-12T00:00:00Z");

    const { stderr } = await prune();

    expect(await keys(client, "base/")).toEqual([
      "base/20260110T000000Z/backup.xbstream.zst",
      "base/20260110T000000Z/manifest.json",
      "base/20260120T000000Z/backup.xbstream.zst",
      "base/20260120T000000Z/manifest.json",
    ]);
    expect(await keys(client, "binlog/")).toEqual([
      "binlog/501/20251220T000000Z/mysql-bin.000003",
      "binlog/501/20251220T000000Z/mysql-bin.000004",
      "binlog/501/20251220T000000Z/mysql-bin.000005",
      "binlog/502/20251215T000000Z/mysql-bin.000008",
      "binlog/503/20251201T000000Z/mysql-bin.000001",
      "binlog/503/20251201T000000Z/mysql-bin.000002",
      "binlog/503/20260112T000000Z/mysql-bin.000001",
    ]);
    expect(stderr).toContain(`deleted s3://${BUCKET}/${PREFIX}/binlog/501/20251201T000000Z/`);
    expect(stderr).toContain("kept 2 backup(s) (newest complete: base/20260120T000000Z), deleted 1");
  });

  test("a file last written in the second the oldest kept backup started counts as written after it (times have whole seconds)", async () => {
    // Server 504: an old history whose last file was written in that second (2026-01-10T00:00:00Z), then a newer one.
    await put(client, "binlog/504/20251201T000000Z/mysql-bin.000001", "2026-01-09T00:00:00Z");
    await put(client, "binlog/504/20251201T000000Z/mysql-bin.000002", "2026-01-10T00:00:00Z");
    await put(client, "binlog/504/20260111T000000Z/mysql-bin.000001", "2026-01-11T00:00:00Z");
    await prune();
    expect(await keys(client, "binlog/504/")).toEqual([
      "binlog/504/20251201T000000Z/mysql-bin.000001",
      "binlog/504/20251201T000000Z/mysql-bin.000002",
      "binlog/504/20260111T000000Z/mysql-bin.000001",
    ]);
  });
});
