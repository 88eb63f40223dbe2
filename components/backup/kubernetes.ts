/**
 * Kubernetes parts of seeding and backups, as plain objects: the seeding parts every member has (donor sidecar,
 * seed init container: restoreFrom for member 0, clone for the others), the backup parts (CronJob, binlog archiver),
 * and the scripts they run. Pure: tests call them without the engine; ReplicatedDatabase wires them.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import { MAX_MEMBERS, type Settings } from "../config";
import {
  ARCHIVE_METRICS_PORT,
  commonLabels,
  DONOR_PORT,
  memberHost,
  MYSQL_PORT,
  ObjectNames,
} from "../kubernetes/names";
import { ACCOUNTS, SECRET_KEYS } from "../kubernetes/secret";
import { CONTAINER_SECURITY_CONTEXT, PATHS, StatefulSetExtras, VOLUMES } from "../kubernetes/statefulset";
import { readScripts } from "../kubernetes/scripts";
import { TLS_KEYS, TLS_PATHS, tlsSecretName } from "../kubernetes/tls";
import { ARCHIVE_METRICS_PORT_NAME } from "./metrics";

type Container = k8s.types.input.core.v1.Container;
type EnvVar = k8s.types.input.core.v1.EnvVar;

/** The config's upper bound of `replicas` (validateConfig). */
export const MAX_REPLICAS = MAX_MEMBERS;

/** Scripts shipped in the members' scripts ConfigMap for backups, archiving, seeding and restore. */
export const BACKUP_SCRIPTS = [
  "backup-lib.sh",
  "clone-serve.sh",
  "clone-stream.sh",
  "clone.sh",
  "seed-member.sh",
  "backup.sh",
  "binlog-archive.sh",
  "archive-metrics.sh",
  "restore.sh",
  "prune.sh",
  "list-backups.sh",
] as const;

export function backupScripts(): Record<string, string> {
  return readScripts(BACKUP_SCRIPTS);
}

/**
 * Where the S3 credentials come from: a Kubernetes Secret with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (any
 * S3-compatible store), or an IAM role through IRSA (the ServiceAccount carries the role; no keys at all).
 */
export type S3Credentials = { kind: "secret"; secretName: string } | { kind: "irsa"; serviceAccountName: string };

/** What the seeding parts need; S3 only for restoreFrom. */
export interface SeedPartsArgs {
  name: string;
  names: ObjectNames;
  settings: Settings;
  credentials: S3Credentials;
}

export interface BackupPartsArgs extends SeedPartsArgs {
  /** s3://bucket/prefix of this stack's backups. */
  url: pulumi.Input<string>;
}

/**
 * Image of the seeding and backup containers: `backupImage`, else the database image. It needs mariadb-backup,
 * mariadb-binlog and mbstream of the server's exact version (hence built FROM the database image), socat and zstd
 * (the official image has all of these: seeding works on it) and, for anything that talks to S3, rclone.
 */
export function backupImage(settings: Pick<Settings, "image" | "backupImage">): string {
  return settings.backupImage ?? settings.image;
}

/**
 * The warning for `pulumi up` when S3 is used from the plain database image: the official mariadb image has socat
 * and zstd (seeding works) but no rclone, so the backup job, the binlog archiver and restoreFrom fail at start.
 * Undefined when backupImage is set (setting it to the database image itself says that image carries rclone).
 */
export function backupImageWarning(
  settings: Pick<Settings, "image" | "backupImage" | "backupEnabled" | "restoreFrom">,
): string | undefined {
  if ((!settings.backupEnabled && !settings.restoreFrom) || settings.backupImage !== undefined) return undefined;
  return (
    `backup containers use the database image ${settings.image}, which must carry rclone (the official mariadb ` +
    "image has socat and zstd, so seeding works, but no rclone: the backup job, the binlog archiver and restoreFrom " +
    "fail at start): build components/backup/Dockerfile FROM it and set mysql-ha:backupImage " +
    "(or set backupImage to the database image if it already has rclone)"
  );
}

/** Names of the backup objects. */
export function backupNames(name: string) {
  return { cronJob: `${name}-backup`, credentialsSecret: `${name}-backup-s3` };
}

const secretEnv = (secret: string, name: string, key: string, optional?: boolean): EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key, ...(optional ? { optional } : {}) } },
});

/**
 * S3 access of a container: region, endpoint, keys only by reference to a Secret, never as values. The Secret is
 * not created by this program: the operator creates it when static keys are used. Without it the references are
 * left empty (optional) and rclone falls back to its env_auth chain (IRSA web identity, instance role).
 */
function s3AccessEnv(args: SeedPartsArgs): EnvVar[] {
  const s = args.settings;
  return [
    { name: "AWS_REGION", value: s.backupRegion },
    ...(s.backupEndpoint ? [{ name: "S3_ENDPOINT", value: s.backupEndpoint }] : []),
    // Every upload asks for SSE-KMS itself too, so an existing bucket (backupBucket) gets it whatever its default.
    ...(s.backupKmsKeyId
      ? [
          { name: "RCLONE_S3_SERVER_SIDE_ENCRYPTION", value: "aws:kms" },
          { name: "RCLONE_S3_SSE_KMS_KEY_ID", value: s.backupKmsKeyId },
        ]
      : []),
    ...(args.credentials.kind === "secret"
      ? [
          secretEnv(args.credentials.secretName, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID", true),
          secretEnv(args.credentials.secretName, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY", true),
        ]
      : []),
    // Read-only root filesystem: rclone's cache and config go to the scratch volume.
    { name: "HOME", value: "/tmp" },
  ];
}

/** S3 settings of the containers that use this stack's backup location. */
export function s3Env(args: BackupPartsArgs): EnvVar[] {
  return [{ name: "BACKUP_URL", value: args.url }, ...s3AccessEnv(args)];
}

/** The stack's manifest signing key: backup.sh signs with it; restore.sh and prune.sh count only what it signed. */
const signingKeyEnv = (names: ObjectNames): EnvVar =>
  secretEnv(names.secret, "BACKUP_SIGNING_KEY", SECRET_KEYS.backupSigning);

/** The member's own server for a sidecar in its pod, as that sidecar's own least-privilege account. */
function memberEnv(names: ObjectNames, role: "backup" | "archiver"): EnvVar[] {
  return [
    { name: "MYSQL_HOST", value: "127.0.0.1" },
    { name: "MYSQL_PORT", value: String(MYSQL_PORT) },
    { name: "MYSQL_USER", value: ACCOUNTS[role].user },
    secretEnv(names.secret, "MYSQL_PASSWORD", ACCOUNTS[role].secretKey),
    { name: "DATADIR", value: PATHS.data },
  ];
}

/** The stream token gates a full copy of the data: a secret of its own, so knowing an account's password is not enough. */
const cloneTokenEnv = (names: ObjectNames): EnvVar => secretEnv(names.secret, "CLONE_TOKEN", SECRET_KEYS.cloneToken);

/**
 * Liveness only: a sidecar's readiness would decide the member pod's, taking a healthy database out of the
 * Services whenever its donor or archiver has trouble. A stuck sidecar is restarted instead.
 */
function liveness(check: string, initialDelaySeconds = 10) {
  return {
    livenessProbe: {
      exec: { command: ["/bin/bash", "-c", check] },
      initialDelaySeconds,
      periodSeconds: 20,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
  };
}

const scratchMounts = [
  { name: VOLUMES.tmp, mountPath: "/tmp" },
  { name: VOLUMES.scripts, mountPath: PATHS.scripts },
];

/** With TLS on: the pod's TLS Secret volume (the statefulset's), read-only. */
const tlsMount = (settings: Pick<Settings, "tls">) =>
  settings.tls !== "off" ? [{ name: VOLUMES.tls, mountPath: TLS_PATHS.dir, readOnly: true }] : [];

/** With TLS on, a client of a donor verifies it with the CA (receive_stream in backup-lib.sh) and never goes plain. */
const donorClientTlsEnv = (settings: Pick<Settings, "tls">): EnvVar[] =>
  settings.tls !== "off" ? [{ name: "TLS_CA", value: TLS_PATHS.ca }] : [];

/**
 * Donor sidecar: serves `mariadb-backup --stream` of this member on DONOR_PORT (token-gated); with TLS on, over TLS
 * with the member's own certificate (picked by its pod name), so the client verifies it before sending the token.
 */
export function buildDonorSidecar(args: SeedPartsArgs): Container {
  const tls = args.settings.tls !== "off";
  return {
    name: "clone-donor",
    image: backupImage(args.settings),
    command: [`${PATHS.scripts}/clone-serve.sh`],
    ports: [{ name: "donor", containerPort: DONOR_PORT, protocol: "TCP" }],
    // A TCP probe would open a stream request; look for the listening socket instead (state 0A = LISTEN).
    ...liveness(
      `grep -qiE ':${DONOR_PORT.toString(16).padStart(4, "0")} [0-9a-f]+:0000 0A' /proc/net/tcp /proc/net/tcp6`,
    ),
    env: [
      ...memberEnv(args.names, "backup"),
      cloneTokenEnv(args.names),
      { name: "CLONE_PORT", value: String(DONOR_PORT) },
      { name: "HOME", value: "/tmp" },
      ...(tls
        ? [
            { name: "TLS_DIR", value: TLS_PATHS.dir },
            { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          ]
        : []),
    ],
    volumeMounts: [{ name: VOLUMES.data, mountPath: PATHS.data }, ...scratchMounts, ...tlsMount(args.settings)],
    resources: {
      requests: { cpu: "50m", memory: "64Mi", "ephemeral-storage": "16Mi" },
      limits: { cpu: "1", memory: "512Mi" },
    },
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
}

/**
 * The archiver's spool: the binlog being written plus rotated ones not uploaded yet. While S3 is down it would
 * grow with the write rate, so the archiver pauses its stream above SPOOL_MAX_BYTES (resuming from the server's
 * binlogs once uploads go through); the volume's limit leaves room for one interval's growth above that.
 * The spool must hold one whole binlog: keep max_binlog_size (default 1 GiB) below SPOOL_MAX_BYTES.
 */
export const SPOOL = {
  volume: "binlog-spool",
  path: "/var/spool/binlog",
  maxBytes: 3 * 1024 ** 3,
  sizeLimit: "4Gi",
} as const;

/**
 * Binlog archiver sidecar: streams this member's binlogs to S3 continuously (recovery point ~ seconds), and serves
 * the recovery point and the newest complete base backup's time as metrics (backup/metrics.ts) on its own port.
 */
export function buildArchiverSidecar(args: BackupPartsArgs): Container {
  return {
    name: "binlog-archiver",
    image: backupImage(args.settings),
    command: [`${PATHS.scripts}/binlog-archive.sh`],
    ports: [{ name: ARCHIVE_METRICS_PORT_NAME, containerPort: ARCHIVE_METRICS_PORT, protocol: "TCP" }],
    // The upload loop (and the wait for the server) touches this file every interval; a stuck loop gets the
    // container restarted (it resumes). The loop turns even while S3 is down (uploads retry).
    ...liveness(`[ $(( $(date +%s) - $(stat -c %Y ${SPOOL.path}/.alive) )) -lt 60 ]`, 60),
    env: [
      ...memberEnv(args.names, "archiver"),
      ...s3Env(args),
      { name: "SPOOL_DIR", value: SPOOL.path },
      { name: "SPOOL_MAX_BYTES", value: String(SPOOL.maxBytes) },
      { name: "ARCHIVE_INTERVAL", value: "1" },
      { name: "METRICS_PORT", value: String(ARCHIVE_METRICS_PORT) },
    ],
    volumeMounts: [...scratchMounts, { name: SPOOL.volume, mountPath: SPOOL.path }],
    resources: {
      requests: { cpu: "20m", memory: "32Mi", "ephemeral-storage": "256Mi" },
      limits: { cpu: "500m", memory: "256Mi" },
    },
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
}

/**
 * Init container: restores member 0 from `restoreFrom`, else clones a running peer into it (a re-created volume);
 * clones member N-1 into an empty member N.
 */
export function buildSeedInitContainer(args: SeedPartsArgs): Container {
  const donorPattern = memberHost(args.names, args.settings.namespace, 0).replace(/-0\./, "-%d.");
  return {
    name: "seed",
    image: backupImage(args.settings),
    command: [`${PATHS.scripts}/seed-member.sh`],
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      // root of the private server a restore replays binlogs into (its socket only; the backup's own accounts).
      { name: "MYSQL_USER", value: "root" },
      secretEnv(args.names.secret, "MYSQL_PASSWORD", SECRET_KEYS.root),
      { name: "DATADIR", value: PATHS.data },
      cloneTokenEnv(args.names),
      // S3 only to restore: cloning needs the donor alone. restoreFrom names its own bucket, so it works
      // without backups configured (region, endpoint and keys from the backup settings).
      ...(args.settings.restoreFrom
        ? [...s3AccessEnv(args), { name: "RESTORE_URL", value: args.settings.restoreFrom }, signingKeyEnv(args.names)]
        : []),
      { name: "CLONE_DONOR_PATTERN", value: donorPattern },
      { name: "DONOR_PORT", value: String(DONOR_PORT) },
      ...donorClientTlsEnv(args.settings),
      // Member 0 looks for a running peer among every ordinal the config allows, not just `replicas`: the pod
      // template must not change with `replicas`, or every scaling would make RollingUpgrade restart all members.
      { name: "MAX_MEMBERS", value: String(MAX_REPLICAS) },
      { name: "PEER_MYSQL_PORT", value: String(MYSQL_PORT) },
      // A clone's first start takes its GTID position: clone.sh adds the init_file that does it to the options
      // init-server wrote (the conf volume, which the database container reads).
      { name: "CONF_OUT", value: PATHS.conf },
    ],
    volumeMounts: [
      { name: VOLUMES.data, mountPath: PATHS.data },
      { name: VOLUMES.conf, mountPath: PATHS.conf },
      ...scratchMounts,
      ...tlsMount(args.settings),
    ],
    // A restore downloads the backup onto the data volume, not into the scratch volume.
    resources: {
      requests: { cpu: "100m", memory: "256Mi", "ephemeral-storage": "16Mi" },
      limits: { cpu: "2", memory: "1Gi" },
    },
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
}

/** What seeding adds to every member pod, with or without backups: growing `replicas` clones from a peer. */
export function buildSeedingPodExtras(args: SeedPartsArgs): StatefulSetExtras {
  return { initContainers: [buildSeedInitContainer(args)], containers: [buildDonorSidecar(args)] };
}

/** What backups add to the member pods: the binlog archiver with its spool, with binlogArchive. */
export function buildBackupPodExtras(args: BackupPartsArgs): StatefulSetExtras {
  if (!args.settings.binlogArchive) return {};
  return {
    containers: [buildArchiverSidecar(args)],
    volumes: [{ name: SPOOL.volume, emptyDir: { sizeLimit: SPOOL.sizeLimit } }],
  };
}

/** Backup CronJob: one base backup from member 1 (member 0 when alone), then retention. */
export function buildBackupCronJob(args: BackupPartsArgs): k8s.batch.v1.CronJobArgs {
  const s = args.settings;
  // Member 1 (a replica unless a switchover moved the primary there); a fixed ordinal, so growing changes nothing here.
  const donor = memberHost(args.names, s.namespace, Math.min(1, s.replicas - 1));
  const labels = { ...commonLabels(args.name), "app.kubernetes.io/component": "backup" };
  return {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: { name: backupNames(args.name).cronJob, namespace: s.namespace, labels },
    spec: {
      schedule: s.backupSchedule,
      timeZone: "Etc/UTC",
      // Never two backups at once; a missed run starts late only within the deadline, then waits for the next.
      concurrencyPolicy: "Forbid",
      startingDeadlineSeconds: 600,
      successfulJobsHistoryLimit: 3,
      failedJobsHistoryLimit: 3,
      jobTemplate: {
        metadata: { labels },
        spec: {
          backoffLimit: 1,
          activeDeadlineSeconds: 6 * 3600,
          template: {
            metadata: { labels },
            spec: {
              restartPolicy: "Never",
              // The Job never calls the Kubernetes API: no token (with IRSA the role's projected token is not this one).
              serviceAccountName:
                args.credentials.kind === "irsa" ? args.credentials.serviceAccountName : args.names.serviceAccount,
              automountServiceAccountToken: false,
              securityContext: { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } },
              containers: [
                {
                  name: "backup",
                  image: backupImage(s),
                  command: ["/bin/bash", "-c", `${PATHS.scripts}/backup.sh && ${PATHS.scripts}/prune.sh`],
                  env: [
                    ...s3Env(args),
                    { name: "DONOR_HOST", value: donor },
                    { name: "DONOR_PORT", value: String(DONOR_PORT) },
                    ...donorClientTlsEnv(s),
                    cloneTokenEnv(args.names),
                    signingKeyEnv(args.names),
                    { name: "RETENTION_COUNT", value: String(s.backupRetentionCount) },
                    { name: "RETENTION_DAYS", value: String(s.backupRetentionDays) },
                  ],
                  volumeMounts: [...scratchMounts, ...tlsMount(s)],
                  // Streams straight to S3: the scratch volume holds only small working files.
                  resources: {
                    requests: { cpu: "250m", memory: "128Mi", "ephemeral-storage": "64Mi" },
                    limits: { cpu: "2", memory: "512Mi" },
                  },
                  securityContext: CONTAINER_SECURITY_CONTEXT,
                },
              ],
              volumes: [
                { name: VOLUMES.tmp, emptyDir: { sizeLimit: "1Gi" } },
                { name: VOLUMES.scripts, configMap: { name: args.names.scripts, defaultMode: 0o555 } },
                // The CA only: the Job verifies the donor and has no business with the members' keys.
                ...(s.tls !== "off"
                  ? [
                      {
                        name: VOLUMES.tls,
                        secret: {
                          secretName: tlsSecretName(args.names),
                          items: [{ key: TLS_KEYS.ca, path: TLS_KEYS.ca }],
                        },
                      },
                    ]
                  : []),
              ],
            },
          },
        },
      },
    },
  };
}
