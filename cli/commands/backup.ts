import { asUsage, Command, parseCommandArgs, UsageError } from "../command";
import { CLUSTER_OPTIONS, CLUSTER_OPTIONS_HELP, ClusterError, ClusterTarget, clusterTarget } from "../cluster";
import { adminCredentials, backupSigningKey } from "../credentials";
import { memberIndex, parseMembers, tlsSettings } from "../engine-args";

export const command: Command = {
  name: "backup",
  usage: `Usage: mysql-ha backup --members HOST:PORT[,HOST:PORT...] --to s3://bucket/prefix [options]
       mysql-ha backup --stack S [--member N] [--to s3://bucket/prefix] [--kubeconfig FILE] [--context NAME]

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
${CLUSTER_OPTIONS_HELP}
                     With --stack: the member's donor port through a port-forward, its token and (TLS on) the
                     CA from the stack's Secrets (--tls-ca overrides the CA), the donor verified by its pod DNS
                     name; the location (its backup CronJob's BACKUP_URL), endpoint, region, S3 keys and signing
                     key as 'backups --stack' reads them, each unless given.

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
      ...CLUSTER_OPTIONS,
    });
    if (!args) return 0;
    const target = clusterTarget(args);
    for (const flag of ["datadir", "donor-port", "tls-server-names", "user", "password-file"] as const) {
      if (target && args[flag] !== undefined)
        throw new UsageError(
          `--${flag} does not go with --stack: the stack's members are backed up from their donor port, by their DNS names`,
        );
    }
    const { parseBackupUrl, rootUrl } = await import("../../components/backup/location");
    const { runScript, startDonor } = await import("../scripts");
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const signingKey = backupSigningKey(args["signing-key-file"] as string | undefined);
    const out = (line: string) => process.stderr.write(line + "\n");
    let source: Source;
    try {
      source = target ? await stackSource(target, args) : await membersSource(args);
    } catch (err) {
      if (!(err instanceof ClusterError)) throw err;
      out(`mysql-ha backup: ${err.message}`);
      return 1;
    }
    // The CA tlsSettings or the stack's Secret gave, in a file of this run's own for socat to read.
    const caDir = source.tls ? fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-backup-")) : undefined;
    let donor: { host: string; port: number; stop(): Promise<void> } | undefined;
    try {
      const url = (args.to as string | undefined) ?? source.env.BACKUP_URL;
      if (!url) throw new UsageError("--to s3://bucket/prefix is required");
      const location = asUsage(() =>
        parseBackupUrl(url, args.to !== undefined ? "--to" : `the backup CronJob of stack ${target?.stack}`),
      );
      if (location.backup) throw new UsageError(`--to '${url}' names a backup; give the prefix (s3://bucket/prefix)`);
      const caFile = caDir ? path.join(caDir, "ca.crt") : undefined;
      if (caFile) fs.writeFileSync(caFile, source.tls!.ca, { mode: 0o600 });
      let token = source.token;
      if (source.datadir) {
        const { randomBytes } = await import("node:crypto");
        token = randomBytes(24).toString("hex");
        const admin = adminCredentials(args["password-file"] as string | undefined);
        donor = await startDonor(
          {
            ...source.member!,
            datadir: source.datadir,
            adminUser: (args.user as string) ?? admin.user,
            adminPassword: admin.password,
          },
          token,
        );
      } else {
        donor = source.donor;
      }
      out(`backing up member ${source.index} (${source.describe}) to ${rootUrl(location)}`);
      const { stdout } = await runScript(
        "backup.sh",
        {
          ...source.env,
          BACKUP_URL: rootUrl(location),
          S3_ENDPOINT: (args.endpoint as string | undefined) ?? source.env.S3_ENDPOINT,
          DONOR_HOST: donor!.host,
          DONOR_PORT: String(donor!.port),
          CLONE_TOKEN: token,
          BACKUP_SIGNING_KEY: signingKey ?? source.env.BACKUP_SIGNING_KEY,
          TLS_CA: caFile,
          DONOR_TLS_NAME: source.tls?.name,
        },
        { onLog: out },
      );
      process.stdout.write(`${rootUrl(location)}/${stdout.trim().split("\n").pop()}\n`);
      return 0;
    } catch (err) {
      if (err instanceof UsageError) throw err;
      out(`mysql-ha backup: ${(err as Error).message.split("\n")[0]}`);
      return 1;
    } finally {
      await donor?.stop();
      await source.close();
      if (caDir) fs.rmSync(caDir, { recursive: true, force: true });
    }
  },
};

/** Where the stream comes from, how the donor is verified, and (cluster mode) what the stack gives backup.sh. */
interface Source {
  index: number;
  describe: string;
  /** A member on this machine (--datadir): the donor is started here, in plain text, beside it. */
  member?: { host: string; port: number };
  datadir?: string;
  donor?: { host: string; port: number; stop(): Promise<void> };
  token: string;
  /** The donor serves TLS: verified against `ca` (PEM) for `name`. */
  tls?: { ca: string; name: string };
  env: Record<string, string | undefined>;
  close(): Promise<void>;
}

/** --members: the member's donor port (its token from MYSQL_HA_CLONE_TOKEN), or a donor here with --datadir. */
async function membersSource(args: Record<string, unknown>): Promise<Source> {
  const members = parseMembers(args.members as string | undefined);
  const index = args.member === undefined ? members.length - 1 : Number(args.member);
  if (!Number.isInteger(index) || index < 0 || index >= members.length) {
    throw new UsageError(`--member '${args.member}' must be a member index from 0 to ${members.length - 1}`);
  }
  const member = members[index];
  const base = { index, describe: `${member.host}:${member.port}`, env: {}, close: async () => undefined };
  if (args.datadir) {
    for (const flag of ["tls-ca", "tls-server-names"]) {
      if (args[flag] !== undefined)
        throw new UsageError(
          `--${flag} does not go with --datadir: the stream is served on this machine, not by the member's donor`,
        );
    }
    return { ...base, member, datadir: String(args.datadir), token: "" };
  }
  const token = process.env.MYSQL_HA_CLONE_TOKEN ?? "";
  if (!token)
    throw new UsageError(
      "MYSQL_HA_CLONE_TOKEN is not set: it is needed to use the member's donor port (or give --datadir)",
    );
  const port = Number(args["donor-port"] ?? 4444);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--donor-port '${args["donor-port"]}' must be a TCP port`);
  // The donor port of a member with TLS on speaks TLS only: backup.sh verifies it by the CA and the member's name.
  const settings = tlsSettings(args);
  return {
    ...base,
    donor: { host: member.host, port, stop: async () => undefined },
    token,
    ...(settings ? { tls: { ca: settings.ca, name: settings.serverName?.(index) ?? member.host } } : {}),
  };
}

/**
 * --stack: member N's donor port through a port-forward; the token (credentials Secret), the CA (TLS Secret, unless
 * --tls-ca) and the backup location, S3 keys and signing key as `backups --stack` reads them. The donor is verified by
 * the pod's DNS name, which its certificate carries.
 */
async function stackSource(target: ClusterTarget, args: Record<string, unknown>): Promise<Source> {
  const { openClusterMembers, readSecret, readStackCa, secretKey } = await import("../cluster");
  const { stackBackupEnv } = await import("./backups");
  const { SECRET_KEYS } = await import("../../components/kubernetes/secret");
  const { DONOR_PORT } = await import("../../components/kubernetes/names");
  const index =
    memberIndex(args.member as string | undefined, "--member", target.settings.replicas) ??
    target.settings.replicas - 1;
  const ca = tlsSettings(args)?.ca ?? (await readStackCa(target));
  const env = await stackBackupEnv(target, {
    url: args.to as string | undefined,
    urlFlag: "--to",
    signingKeyFile: args["signing-key-file"] as string | undefined,
  });
  const secret = target.names.secret;
  const token = secretKey(await readSecret(target, secret), secret, SECRET_KEYS.cloneToken);
  const tunnels = await openClusterMembers(target, DONOR_PORT);
  const member = tunnels.members[index];
  const name = member.replicationHost!;
  return {
    index,
    describe: `${name}:${DONOR_PORT} through a port-forward`,
    donor: { host: member.host, port: member.port, stop: async () => undefined },
    token,
    ...(ca !== undefined ? { tls: { ca, name } } : {}),
    env,
    close: async () => {
      for (const problem of tunnels.problems()) process.stderr.write(`mysql-ha backup: ${problem}\n`);
      await tunnels.close();
    },
  };
}
