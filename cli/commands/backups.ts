import { asUsage, Command, parseCommandArgs, UsageError } from "../command";
import { CLUSTER_OPTIONS, CLUSTER_OPTIONS_HELP, ClusterError, ClusterTarget, clusterTarget } from "../cluster";
import { backupSigningKey } from "../credentials";

export const command: Command = {
  name: "backups",
  usage: `Usage: mysql-ha backups --from s3://bucket/prefix [--endpoint URL] [--signing-key-file F] [--json]
       mysql-ha backups --stack S [--kubeconfig FILE] [--context NAME] [--json]

Lists base backups under s3://bucket/prefix/base/, newest first. A backup is complete only when its manifest
(written last) exists; incomplete ones are failed or running attempts and are never restored; invalid ones have a
manifest restore refuses. SIGNATURE: verified or forged (checked with the signing key), signed (not checked: no
key), unsigned; restore with a key accepts only verified.

Options:
  --from URL       s3://bucket/prefix of the backups
  --endpoint URL   S3-compatible endpoint (path-style), e.g. http://127.0.0.1:9000; default AWS S3
  --signing-key-file F  file holding the stack's backup signing key; else MYSQL_HA_BACKUP_SIGNING_KEY
  --json           print JSON instead of a table
${CLUSTER_OPTIONS_HELP}
                   With --stack: the stack's backup location (its backup CronJob's BACKUP_URL), endpoint
                   (backupEndpoint), region (backupRegion), S3 keys (its Secret of static keys, unless AWS_*
                   are set) and signing key (its credentials Secret), each unless given.

Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION (or a web
identity / instance role).`,
  async run(argv) {
    const args = parseCommandArgs(this, argv, {
      from: { type: "string" },
      endpoint: { type: "string" },
      json: { type: "boolean" },
      "signing-key-file": { type: "string" },
      ...CLUSTER_OPTIONS,
    });
    if (!args) return 0;
    const { parseBackupUrl, rootUrl, parseListing } = await import("../../components/backup/location");
    const { runScript } = await import("../scripts");
    const target = clusterTarget(args);
    let env: Record<string, string | undefined>;
    try {
      env = target
        ? await stackBackupEnv(target, {
            url: args.from as string | undefined,
            urlFlag: "--from",
            signingKeyFile: args["signing-key-file"] as string | undefined,
          })
        : {};
    } catch (err) {
      if (!(err instanceof ClusterError)) throw err;
      process.stderr.write(`mysql-ha backups: ${err.message}\n`);
      return 1;
    }
    const from = (args.from as string | undefined) ?? env.BACKUP_URL;
    if (!from) throw new UsageError("--from s3://bucket/prefix is required (or --stack S)");
    const location = asUsage(() =>
      parseBackupUrl(from, args.from !== undefined ? "--from" : `the backup CronJob of stack ${target?.stack}`),
    );
    const signingKey = backupSigningKey(args["signing-key-file"] as string | undefined) ?? env.BACKUP_SIGNING_KEY;
    const { stdout } = await runScript("list-backups.sh", {
      ...env,
      BACKUP_URL: rootUrl(location),
      S3_ENDPOINT: (args.endpoint as string | undefined) ?? env.S3_ENDPOINT,
      BACKUP_SIGNING_KEY: signingKey,
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
      `base/${b.timestamp}`,
      b.complete ? "yes" : b.state,
      formatBytes(b.bytes),
      b.gtid || "-",
      b.finished || "-",
      b.signature || "-",
    ]);
    const header = ["BACKUP", "COMPLETE", "SIZE", "GTID", "FINISHED", "SIGNATURE"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    for (const r of [header, ...rows])
      process.stdout.write(
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join("  ")
          .trimEnd() + "\n",
      );
    return 0;
  },
};

/**
 * What the stack's backup containers get, read from its cluster: BACKUP_URL from the backup CronJob (unless given),
 * the endpoint and region of its config, its static S3 keys (unless AWS_ACCESS_KEY_ID is set here; none with IRSA,
 * or when the operator made no such Secret, as the pods' optional references allow) and its signing key. Passed to
 * the script's environment only.
 */
export async function stackBackupEnv(
  target: ClusterTarget,
  given: { url?: string; urlFlag: string; signingKeyFile?: string },
): Promise<Record<string, string | undefined>> {
  const { apiCall, clusterApi, readSecret, secretKey } = await import("../cluster");
  const { SECRET_KEYS } = await import("../../components/kubernetes/secret");
  const s = target.settings;
  const env: Record<string, string | undefined> = {
    S3_ENDPOINT: s.backupEndpoint,
    AWS_REGION: process.env.AWS_REGION ?? s.backupRegion,
  };
  if (given.url === undefined) {
    if (!s.backupEnabled)
      throw new UsageError(
        `stack ${target.stack} has backupEnabled false: it makes no backups (give ${given.urlFlag} s3://bucket/prefix)`,
      );
    const { client, config } = clusterApi(target);
    const batch = config.makeApiClient(client.BatchV1Api);
    const name = target.objects.backup.cronJob;
    const job = await apiCall(target, "get", "cronjobs.batch", name, () =>
      batch.readNamespacedCronJob({ name, namespace: s.namespace }),
    );
    const containers = job.spec?.jobTemplate.spec?.template.spec?.containers ?? [];
    env.BACKUP_URL = containers.flatMap((c) => c.env ?? []).find((e) => e.name === "BACKUP_URL")?.value;
    if (!env.BACKUP_URL) throw new ClusterError(`CronJob ${s.namespace}/${name} sets no BACKUP_URL`);
  }
  if (!process.env.AWS_ACCESS_KEY_ID && !s.backupIrsa) {
    const name = target.objects.backup.credentialsSecret;
    try {
      const keys = await readSecret(target, name);
      env.AWS_ACCESS_KEY_ID = secretKey(keys, name, "AWS_ACCESS_KEY_ID");
      env.AWS_SECRET_ACCESS_KEY = secretKey(keys, name, "AWS_SECRET_ACCESS_KEY");
    } catch (err) {
      if (!(err instanceof ClusterError && err.code === 404)) throw err;
    }
  }
  if (given.signingKeyFile === undefined && !process.env.MYSQL_HA_BACKUP_SIGNING_KEY) {
    env.BACKUP_SIGNING_KEY = secretKey(
      await readSecret(target, target.names.secret),
      target.names.secret,
      SECRET_KEYS.backupSigning,
    );
  }
  return env;
}

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
