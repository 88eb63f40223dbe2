import { asUsage, Command, parseCommandArgs, UsageError } from "../command";
import { backupSigningKey } from "../credentials";

export const command: Command = {
  name: "backups",
  usage: `Usage: mysql-ha backups --from s3://bucket/prefix [--endpoint URL] [--signing-key-file F] [--json]

Lists base backups under s3://bucket/prefix/base/, newest first. A backup is complete only when its manifest
(written last) exists; incomplete ones are failed or running attempts and are never restored; invalid ones have a
manifest restore refuses. SIGNATURE: verified or forged (checked with the signing key), signed (not checked: no
key), unsigned; restore with a key accepts only verified.

Options:
  --from URL       s3://bucket/prefix of the backups
  --endpoint URL   S3-compatible endpoint (path-style), e.g. http://127.0.0.1:9000; default AWS S3
  --signing-key-file F  file holding the stack's backup signing key; else MYSQL_HA_BACKUP_SIGNING_KEY
  --json           print JSON instead of a table

Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or a web
identity / instance role).`,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      from: { type: "string" },
      endpoint: { type: "string" },
      json: { type: "boolean" },
      "signing-key-file": { type: "string" },
    });
    if (!args) return 0;
    const { parseBackupUrl, rootUrl, parseListing } = await import("../../components/backup/location");
    const { runScript } = await import("../scripts");
    if (!args.from) throw new UsageError("--from s3://bucket/prefix is required");
    const location = asUsage(() => parseBackupUrl(String(args.from), "--from"));
    const signingKey = backupSigningKey(args["signing-key-file"] as string | undefined);
    const { stdout } = await runScript("list-backups.sh", {
      BACKUP_URL: rootUrl(location), S3_ENDPOINT: args.endpoint as string | undefined, BACKUP_SIGNING_KEY: signingKey,
    });
    const list = parseListing(stdout);
    if (args.json) {
      process.stdout.write(JSON.stringify(list, null, 2) + "\n");
      return 0;
    }
    if (!list.length) {
      process.stdout.write(`no backups under ${rootUrl(location)}/base/\n`);
      return 0;
    }
    const rows = list.map((b) => [
      `base/${b.timestamp}`, b.complete ? "yes" : b.state, formatBytes(b.bytes), b.gtid || "-", b.finished || "-", b.signature || "-",
    ]);
    const header = ["BACKUP", "COMPLETE", "SIZE", "GTID", "FINISHED", "SIGNATURE"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [header, ...rows]) process.stdout.write(r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd() + "\n");
    return 0;
  },
};

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}
