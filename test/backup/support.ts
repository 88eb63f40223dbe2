/** A source member with its donor port and a local S3: what the backup tests share. */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import {
  destroyAll,
  freePort,
  LocalServer,
  readOptionDir,
  REPLICATION_OPTIONS,
  sleep,
  startServers,
} from "../../local/mariadbd";
import { Donor, runScript, ScriptEnv, serverEnv, startDonor } from "../../cli/scripts";
import { LocalS3, startLocalS3 } from "../../local/s3";

export const TOKEN = "backup-test-token";

export interface Rig {
  s3: LocalS3;
  source: LocalServer;
  donor: Donor;
  url: string;
  /** Environment of backup.sh / restore.sh / prune.sh / binlog-archive.sh for this rig. */
  env(extra?: ScriptEnv): ScriptEnv;
  client: S3Client;
  cleanup(): Promise<void>;
  extra: LocalServer[];
}

export async function startRig(serverId: number, prefix = "prod"): Promise<Rig> {
  const s3 = await startLocalS3(["backups"]);
  const [source] = await startServers(1, REPLICATION_OPTIONS, serverId);
  const donor = await startDonor(source, TOKEN);
  const url = `s3://backups/${prefix}`;
  const client = s3.client();
  const rig: Rig = {
    s3,
    source,
    donor,
    url,
    client,
    extra: [],
    env: (extra = {}) => ({
      ...s3.env(),
      ...serverEnv(source),
      BACKUP_URL: url,
      DONOR_HOST: donor.host,
      DONOR_PORT: String(donor.port),
      CLONE_TOKEN: TOKEN,
      ...extra,
    }),
    cleanup: async () => {
      client.destroy();
      await donor.stop();
      await destroyAll([source, ...rig.extra]);
      await s3.stop();
    },
  };
  return rig;
}

/** Keys under the rig's prefix (relative), sorted. */
export async function listKeys(rig: Rig, under = ""): Promise<{ key: string; size: number }[]> {
  const prefix = `${rig.url.split("/").slice(3).join("/")}/`;
  const out = await rig.client.send(new ListObjectsV2Command({ Bucket: "backups", Prefix: prefix + under }));
  return (out.Contents ?? [])
    .map((o) => ({ key: o.Key!.slice(prefix.length), size: o.Size ?? 0 }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

export async function getObject(rig: Rig, key: string): Promise<Buffer> {
  const prefix = rig.url.split("/").slice(3).join("/");
  const out = await rig.client.send(new GetObjectCommand({ Bucket: "backups", Key: `${prefix}/${key}` }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

export async function putObject(rig: Rig, key: string, body: Buffer): Promise<void> {
  const prefix = rig.url.split("/").slice(3).join("/");
  await rig.client.send(new PutObjectCommand({ Bucket: "backups", Key: `${prefix}/${key}`, Body: body }));
}

/** A manifest in the exact form backup.sh writes (restore, list and prune accept no other), for laid-out archives. */
export function manifestText(m: { timestamp: string; started: string; gtid: string }): string {
  return `{
  "format": "mysql-ha-base-backup/1",
  "timestamp": "${m.timestamp}",
  "started": "${m.started}",
  "finished": "${m.started}",
  "donor": "127.0.0.1:4444",
  "gtid": "${m.gtid}",
  "binlogFile": "mysql-bin.000001",
  "binlogPosition": "4",
  "compression": "zstd",
  "streamBytes": 0,
  "objects": [
    { "key": "backup.xbstream.zst", "size": 0, "sha256": "${"0".repeat(64)}" }
  ]
}
`;
}

export async function runBackup(rig: Rig): Promise<string> {
  const { stdout } = await runScript("backup.sh", rig.env(), { timeoutMs: 120000 });
  return stdout.trim().split("\n").pop()!;
}

/**
 * Runs restore.sh into a fresh directory and starts a server on the result (like member 0 of a restored stack). With
 * `asSeed`, as the seed container runs it: with the pod's conf volume (CONF_OUT), whose options the server then starts
 * with, as the database container does.
 */
export async function restoreInto(
  rig: Rig,
  serverId: number,
  extra: ScriptEnv = {},
  asSeed = false,
): Promise<LocalServer> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mysql-ha-restored-${serverId}-`));
  const server = new LocalServer(dir, await freePort(), { serverId, options: REPLICATION_OPTIONS });
  rig.extra.push(server);
  const conf = path.join(dir, "conf.d");
  if (asSeed) fs.mkdirSync(conf);
  await runScript("restore.sh", rig.env({ DATADIR: server.datadir, ...(asSeed ? { CONF_OUT: conf } : {}), ...extra }), {
    timeoutMs: 120000,
  });
  if (asSeed) server.spec.options = { ...server.spec.options, ...readOptionDir(conf) };
  await server.start();
  return server;
}

export async function checksum(server: LocalServer, table: string): Promise<string> {
  const [row] = await server.query(`CHECKSUM TABLE ${table}`);
  return String(row.Checksum);
}

/** Waits until `predicate` holds, polling; returns the elapsed ms or throws after the timeout. */
export async function waitFor(
  what: string,
  predicate: () => Promise<boolean>,
  timeoutMs = 20000,
  everyMs = 100,
): Promise<number> {
  const start = Date.now();
  for (;;) {
    if (await predicate().catch(() => false)) return Date.now() - start;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * An S3 endpoint in front of the rig's, for faults: `answer` may answer a request itself (returns true), `headers`
 * may change a response's headers on the way back.
 */
export async function startS3Proxy(
  rig: Rig,
  hooks: {
    answer?: (req: http.IncomingMessage, res: http.ServerResponse) => boolean;
    headers?: (req: http.IncomingMessage, status: number, headers: http.IncomingHttpHeaders) => void;
  },
): Promise<{ endpoint: string; close: () => void }> {
  const proxy = http.createServer((req, res) => {
    if (hooks.answer?.(req, res)) return;
    const upstream = http.request(rig.s3.endpoint + req.url, { method: req.method, headers: req.headers }, (up) => {
      const headers = { ...up.headers };
      hooks.headers?.(req, up.statusCode!, headers);
      res.writeHead(up.statusCode!, headers);
      up.pipe(res);
    });
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const { port } = proxy.address() as import("node:net").AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, close: () => proxy.close() };
}
