import { asUsage, Command, parseCommandArgs, UsageError } from "../command";
import { adminCredentials, backupSigningKey } from "../credentials";
import { parseMembers, tlsSettings } from "../engine-args";

export const command: Command = {
  name: "backup",
  usage: `Usage: mysql-ha backup --members HOST:PORT[,HOST:PORT...] --to s3://bucket/prefix [options]

Streams a physical backup (mariadb-backup, zstd) of one member to s3://bucket/prefix/base/<timestamp>/ and writes
its manifest (GTID position, sizes, sha256) last: a backup without a manifest does not count. The stream comes from
the member's donor port (the clone sidecar), or, with --datadir, from a donor started here beside a local member.
With a signing key the manifest is signed (manifest.json.sig, HMAC-SHA256), so restore can tell it from a forged one.

Options:
  --members LIST     members' SQL addresses, as for the other commands
  --member N         which member to back up (default: the last one, usually a replica)
  --donor-port N     the members' donor port (default 4444); its token is read from MYSQL_HA_CLONE_TOKEN
  --tls-ca FILE      the donor serves TLS (the stack's tls on): verify it against this CA (PEM; else
                     MYSQL_HA_TLS_CA) and its name before the token is sent; never plain text then
  --tls-server-names N,...  the name each member's certificate carries, in --members order (default: the
                     --members host; e.g. pod DNS names through port-forwards)
  --datadir DIR      the member's datadir is on this machine: serve the stream from here (needs the admin
                     password from MYSQL_HA_PASSWORD or --password-file)
  --user NAME        administrative user for --datadir (default MYSQL_HA_USER, else root)
  --password-file F  file holding that user's password
  --to URL           s3://bucket/prefix
  --endpoint URL     S3-compatible endpoint (path-style); default AWS S3
  --signing-key-file F  file holding the stack's backup signing key (the credentials Secret's backup-signing-key);
                     else MYSQL_HA_BACKUP_SIGNING_KEY; never on the command line

Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION.
Example: mysql-ha backup --members 127.0.0.1:3306 --datadir /var/lib/mysql --to s3://backups/prod`,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      members: { type: "string" },
      member: { type: "string" },
      "donor-port": { type: "string" },
      datadir: { type: "string" },
      user: { type: "string" },
      "password-file": { type: "string" },
      to: { type: "string" },
      endpoint: { type: "string" },
      "signing-key-file": { type: "string" },
      "tls-ca": { type: "string" },
      "tls-server-names": { type: "string" },
    });
    if (!args) return 0;
    const { parseBackupUrl, rootUrl } = await import("../../components/backup/location");
    const { runScript, startDonor } = await import("../scripts");
    const { randomBytes } = await import("node:crypto");
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const members = parseMembers(args.members as string | undefined);
    if (!args.to) throw new UsageError("--to s3://bucket/prefix is required");
    const location = asUsage(() => parseBackupUrl(String(args.to), "--to"));
    if (location.backup) throw new UsageError(`--to '${args.to}' names a backup; give the prefix (s3://bucket/prefix)`);
    const index = args.member === undefined ? members.length - 1 : Number(args.member);
    if (!Number.isInteger(index) || index < 0 || index >= members.length) {
      throw new UsageError(`--member '${args.member}' must be a member index from 0 to ${members.length - 1}`);
    }
    const member = members[index];
    const signingKey = backupSigningKey(args["signing-key-file"] as string | undefined);
    let donor: { host: string; port: number; stop(): Promise<void> };
    let token: string;
    // The donor port of a member with TLS on speaks TLS only: backup.sh verifies it by the CA and the member's name.
    let tls: { ca: string; name: string } | undefined;
    if (args.datadir) {
      for (const flag of ["tls-ca", "tls-server-names"] as const) {
        if (args[flag] !== undefined) throw new UsageError(`--${flag} does not go with --datadir: the stream is served on this machine, not by the member's donor`);
      }
      token = randomBytes(24).toString("hex");
      const admin = adminCredentials(args["password-file"] as string | undefined);
      donor = await startDonor({ ...member, datadir: String(args.datadir), adminUser: (args.user as string) ?? admin.user, adminPassword: admin.password }, token);
    } else {
      token = process.env.MYSQL_HA_CLONE_TOKEN ?? "";
      if (!token) throw new UsageError("MYSQL_HA_CLONE_TOKEN is not set: it is needed to use the member's donor port (or give --datadir)");
      const port = Number(args["donor-port"] ?? 4444);
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`--donor-port '${args["donor-port"]}' must be a TCP port`);
      donor = { host: member.host, port, stop: async () => undefined };
      const settings = tlsSettings(args);
      if (settings) tls = { ca: settings.ca, name: settings.serverName?.(index) ?? member.host };
    }
    const out = (line: string) => process.stderr.write(line + "\n");
    // The CA tlsSettings read and checked, in a file of this run's own for socat to read.
    const caDir = tls ? fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-backup-")) : undefined;
    try {
      const caFile = caDir ? path.join(caDir, "ca.crt") : undefined;
      if (caFile) fs.writeFileSync(caFile, tls!.ca, { mode: 0o600 });
      out(`backing up member ${index} (${member.host}:${member.port}) to ${rootUrl(location)}`);
      const { stdout } = await runScript(
        "backup.sh",
        {
          BACKUP_URL: rootUrl(location),
          S3_ENDPOINT: args.endpoint as string | undefined,
          DONOR_HOST: donor.host,
          DONOR_PORT: String(donor.port),
          CLONE_TOKEN: token,
          BACKUP_SIGNING_KEY: signingKey,
          TLS_CA: caFile,
          DONOR_TLS_NAME: tls?.name,
        },
        { onLog: out },
      );
      process.stdout.write(`${rootUrl(location)}/${stdout.trim().split("\n").pop()}\n`);
      return 0;
    } catch (err) {
      out(`mysql-ha backup: ${(err as Error).message.split("\n")[0]}`);
      return 1;
    } finally {
      await donor.stop();
      if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
    }
  },
};
