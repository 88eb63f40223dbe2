import { asUsage, Command, parseCommandArgs, UsageError } from "../command";
import { adminCredentials, backupSigningKey } from "../credentials";

export const command: Command = {
  name: "restore",
  usage: `Usage: mysql-ha restore --from s3://bucket/prefix[/base/<timestamp>] --datadir DIR [--until TIME | --gtid POS]

Fills the EMPTY directory DIR with a base backup (verified against its manifest: size and sha256; a corrupted or
incomplete backup is refused; with a signing key, so is a manifest the key did not sign), then replays the archived binlogs from the backup's GTID position up to --until or
--gtid, or to the end of the archive. Start mariadbd on DIR afterwards; it continues the original GTID history.

Options:
  --from URL         s3://bucket/prefix (the newest complete backup) or s3://bucket/prefix/base/<timestamp>
  --datadir DIR      empty target directory
  --until TIME       stop before the first event at or after TIME: ISO 8601 (2026-01-31T12:00:00Z) or
                     'YYYY-MM-DD HH:MM:SS' (UTC); 1 s resolution
  --gtid POS         stop after GTID POS (e.g. 0-1-4711), inclusive
  --no-binlogs       restore the base backup only
  --user NAME        an administrative account in the backup, used to replay (default MYSQL_HA_USER, else
                     root); its password comes from MYSQL_HA_PASSWORD or --password-file
  --password-file F  file holding that password
  --endpoint URL     S3-compatible endpoint (path-style); default AWS S3
  --signing-key-file F  file holding the stack's backup signing key (the credentials Secret's backup-signing-key);
                     else MYSQL_HA_BACKUP_SIGNING_KEY; without either, signatures are not checked (a warning)

Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION.`,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      from: { type: "string" },
      datadir: { type: "string" },
      until: { type: "string" },
      gtid: { type: "string" },
      "no-binlogs": { type: "boolean" },
      user: { type: "string" },
      "password-file": { type: "string" },
      endpoint: { type: "string" },
      "signing-key-file": { type: "string" },
    });
    if (!args) return 0;
    const { parseBackupUrl, rootUrl, untilTime, isGtidPosition } = await import("../../components/backup/location");
    const { runScript } = await import("../scripts");
    if (!args.from) throw new UsageError("--from s3://bucket/prefix[/base/<timestamp>] is required");
    if (!args.datadir) throw new UsageError("--datadir DIR (an empty directory) is required");
    if (args.until && args.gtid) throw new UsageError("give --until or --gtid, not both");
    const location = asUsage(() => parseBackupUrl(String(args.from), "--from"));
    const until = args.until ? asUsage(() => untilTime(String(args.until))) : undefined;
    if (args.gtid && !isGtidPosition(String(args.gtid)))
      throw new UsageError(`--gtid '${args.gtid}' is not a GTID position such as 0-1-4711`);
    if (args["no-binlogs"] && (until || args.gtid))
      throw new UsageError("--no-binlogs cannot reach a point in time: drop --until/--gtid");
    const admin = adminCredentials(args["password-file"] as string | undefined);
    const signingKey = backupSigningKey(args["signing-key-file"] as string | undefined);
    const out = (line: string) => process.stderr.write(line + "\n");
    try {
      const { stdout } = await runScript(
        "restore.sh",
        {
          BACKUP_URL: rootUrl(location),
          BACKUP: location.backup,
          S3_ENDPOINT: args.endpoint as string | undefined,
          DATADIR: require("node:path").resolve(String(args.datadir)),
          UNTIL_TIME: until,
          UNTIL_GTID: args.gtid as string | undefined,
          REPLAY_BINLOGS: args["no-binlogs"] ? "0" : "1",
          MYSQL_USER: (args.user as string) ?? admin.user,
          MYSQL_PASSWORD: admin.password,
          BACKUP_SIGNING_KEY: signingKey,
        },
        { onLog: out },
      );
      process.stdout.write(stdout);
      return 0;
    } catch (err) {
      out(
        `mysql-ha restore: ${
          (err as Error).message
            .split("\n")
            .filter((l) => l.includes("ERROR"))
            .pop() ?? (err as Error).message
        }`,
      );
      return 1;
    }
  },
};
