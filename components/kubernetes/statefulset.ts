import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { SERVER_CNF } from "./server-config";
import { CONFIG_HASH_ANNOTATION, serverConfigRevision } from "./config-hash";
import { ACCOUNTS, REPLICATION_USER, SECRET_KEYS } from "./secret";
import { INIT_ACCOUNTS_SCRIPT } from "./scripts";
import { ACCOUNT_ROLES } from "../replication";
import { TOPOLOGY_PRIMARY_KEY } from "./topology";
import { memberTlsSecretPrefix, TLS_PATHS, tlsVolume } from "./tls";
import { commonLabels, MYSQL_PORT, ObjectNames, selectorLabels, SERVER_ID_BASE } from "./names";

type Container = k8s.types.input.core.v1.Container;
type Volume = k8s.types.input.core.v1.Volume;
type EnvVar = k8s.types.input.core.v1.EnvVar;

/** uid/gid of the `mysql` user in the official mariadb image. */
export const MYSQL_UID = 999;

/** Where things live inside the database container. */
export const PATHS = {
  data: "/var/lib/mysql",
  conf: "/etc/mysql/conf.d",
  run: "/run/mysqld",
  socket: "/run/mysqld/mysqld.sock",
  config: "/etc/mysql-ha/config",
  scripts: "/etc/mysql-ha/scripts",
  topology: "/etc/mysql-ha/topology",
  /** Where the official image's entrypoint looks for first-start scripts. */
  initdb: "/docker-entrypoint-initdb.d",
} as const;

/** Volume names of the member pod, for extra containers that mount the same volumes (e.g. the data volume). */
export const VOLUMES = {
  data: "data",
  conf: "conf",
  run: "run",
  tmp: "tmp",
  config: "config",
  scripts: "scripts",
  topology: "topology",
  initdb: "initdb",
  tls: "tls",
} as const;

/** Parts other sections (backup, clone) add to the member pod. */
export interface StatefulSetExtras {
  /** Init containers run after init-server (e.g. clone a peer into an empty datadir). */
  initContainers?: Container[];
  /** Sidecars next to the database (e.g. binlog archiver). */
  containers?: Container[];
  volumes?: Volume[];
  /** Extra environment of the database container. */
  env?: EnvVar[];
}

export interface StatefulSetArgs {
  name: string;
  names: ObjectNames;
  settings: Settings;
  /** Merged in order; see {@link StatefulSetExtras}. */
  extras?: StatefulSetExtras[];
}

const secretEnv = (secret: string, name: string, key: string): EnvVar => ({
  name,
  valueFrom: { secretKeyRef: { name: secret, key } },
});

/** Security context of every container: non-root, no privilege escalation, no capabilities, read-only root. */
export const CONTAINER_SECURITY_CONTEXT = {
  runAsNonRoot: true,
  runAsUser: MYSQL_UID,
  runAsGroup: MYSQL_UID,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ["ALL"] },
};

/** Pods matching `labels` kept on distinct nodes: hard (required), soft (preferred) or not at all. */
export function antiAffinity(labels: Record<string, string>, mode: Settings["antiAffinity"]) {
  const term = { topologyKey: "kubernetes.io/hostname", labelSelector: { matchLabels: labels } };
  if (mode === "required") return { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] } };
  if (mode === "preferred")
    return {
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] },
    };
  return undefined;
}

/** The members: one pod per ordinal, each with its own data volume. */
export function buildStatefulSet(args: StatefulSetArgs): k8s.apps.v1.StatefulSetArgs {
  const { name, names, settings: s } = args;
  const extras = args.extras ?? [];
  const all = <K extends keyof StatefulSetExtras>(k: K): NonNullable<StatefulSetExtras[K]> =>
    extras.flatMap((e) => (e[k] ?? []) as unknown[]) as NonNullable<StatefulSetExtras[K]>;

  const env: EnvVar[] = [
    { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    // Read by the official image's entrypoint on first start of an empty datadir. root only from the pod itself:
    // the socket and loopback, where the port-forward of the providers and the CLI arrives.
    secretEnv(names.secret, "MARIADB_ROOT_PASSWORD", SECRET_KEYS.root),
    { name: "MARIADB_ROOT_HOST", value: "127.0.0.1" },
    { name: "MARIADB_USER", value: s.appUser },
    secretEnv(names.secret, "MARIADB_PASSWORD", SECRET_KEYS.app),
    { name: "MARIADB_DATABASE", value: s.appDatabase },
    // After a major version change of the image the entrypoint runs mariadb-upgrade (system tables) on start.
    { name: "MARIADB_AUTO_UPGRADE", value: "1" },
    { name: "MARIADB_REPLICATION_USER", value: REPLICATION_USER },
    secretEnv(names.secret, "MARIADB_REPLICATION_PASSWORD", SECRET_KEYS.replication),
    // The least-privilege accounts, created by the initdb script on first start (the probe's is the probes' too).
    ...ACCOUNT_ROLES.map((role) => secretEnv(names.secret, ACCOUNTS[role].passwordEnv, ACCOUNTS[role].secretKey)),
    // Read by the probes: their own account over loopback.
    { name: "PROBE_USER", value: ACCOUNTS.probe.user },
    { name: "MYSQL_HA_HOST", value: "127.0.0.1" },
    { name: "MYSQL_HA_PORT", value: String(MYSQL_PORT) },
    { name: "READ_MAX_LAG_SECONDS", value: String(s.readMaxLagSeconds) },
    // The initdb script's server while the entrypoint initializes (no networking then).
    { name: "MYSQL_HA_SOCKET", value: PATHS.socket },
    ...all("env"),
  ];

  const tls = s.tls !== "off";
  const tlsMount = { name: VOLUMES.tls, mountPath: TLS_PATHS.dir, readOnly: true };
  const mounts = [
    { name: VOLUMES.data, mountPath: PATHS.data },
    { name: VOLUMES.conf, mountPath: PATHS.conf },
    { name: VOLUMES.run, mountPath: PATHS.run },
    { name: VOLUMES.tmp, mountPath: "/tmp" },
    { name: VOLUMES.scripts, mountPath: PATHS.scripts },
    { name: VOLUMES.initdb, mountPath: PATHS.initdb, readOnly: true },
    ...(tls ? [tlsMount] : []),
  ];
  const probe = (script: string, periodSeconds: number, failureThreshold: number) => ({
    exec: { command: [`${PATHS.scripts}/${script}`] },
    periodSeconds,
    timeoutSeconds: 5,
    failureThreshold,
  });

  const initServer: Container = {
    name: "init-server",
    image: s.image,
    command: [`${PATHS.scripts}/init-server.sh`],
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "SERVER_ID_BASE", value: String(SERVER_ID_BASE) },
      { name: "SEMI_SYNC", value: String(s.semiSync) },
      { name: "CONFIG_DIR", value: PATHS.config },
      { name: "TOPOLOGY_FILE", value: `${PATHS.topology}/${TOPOLOGY_PRIMARY_KEY}` },
      { name: "CONF_OUT", value: PATHS.conf },
      // init-server.sh points ssl_cert/ssl_key at this member's pair, and refuses to go on without it.
      ...(tls ? [{ name: "TLS_DIR", value: TLS_PATHS.dir }] : []),
      // Named when the member's own Secret is missing (tls secret or cert-manager).
      ...(memberTlsSecretPrefix(names, s)
        ? [{ name: "TLS_MEMBER_SECRET_PREFIX", value: memberTlsSecretPrefix(names, s)! }]
        : []),
    ],
    volumeMounts: [
      { name: VOLUMES.conf, mountPath: PATHS.conf },
      { name: VOLUMES.config, mountPath: PATHS.config },
      { name: VOLUMES.topology, mountPath: PATHS.topology },
      { name: VOLUMES.scripts, mountPath: PATHS.scripts },
      ...(tls ? [tlsMount] : []),
    ],
    resources: { requests: { cpu: "50m", memory: "32Mi" }, limits: { cpu: "200m", memory: "64Mi" } },
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };

  const database: Container = {
    name: "mariadb",
    image: s.image,
    ports: [{ name: "mysql", containerPort: MYSQL_PORT, protocol: "TCP" }],
    env,
    volumeMounts: mounts,
    resources: {
      // Ephemeral storage: the conf, run and tmp volumes below (tmp is mariadbd's tmpdir).
      requests: { cpu: s.cpuRequest, memory: s.memoryRequest, "ephemeral-storage": "256Mi" },
      limits: { cpu: s.cpuLimit, memory: s.memoryLimit },
    },
    // Crash recovery or a large buffer pool can take minutes: liveness starts only after the startup probe passed.
    startupProbe: probe("probe-liveness.sh", 10, 60),
    livenessProbe: probe("probe-liveness.sh", 10, 6),
    readinessProbe: probe("probe-readiness.sh", 5, 2),
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };

  const labels = commonLabels(name);
  const podAffinity = antiAffinity(selectorLabels(name), s.antiAffinity);
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: { name: names.statefulSet, namespace: s.namespace, labels },
    spec: {
      replicas: s.replicas,
      serviceName: names.headlessService,
      // Members start and are recreated independently: with OrderedReady a lost pod is not recreated while a lower
      // ordinal is not Ready, so a primary at ordinal > 0 would stay gone after a drain. A seeding member waits for
      // its donor by itself (its seed init container retries until the donor serves).
      podManagementPolicy: "Parallel",
      // Pods change only when RollingUpgrade deletes them, one at a time in a safe order (replicas first, the
      // primary after a switchover); a plain rolling update would restart the primary whenever its turn came.
      updateStrategy: { type: "OnDelete" },
      selector: { matchLabels: selectorLabels(name) },
      template: {
        // A server-config change that needs a restart is a template change (a new update revision).
        metadata: { labels, annotations: { [CONFIG_HASH_ANNOTATION]: serverConfigRevision(s) } },
        spec: {
          // The members never call the Kubernetes API: no token in the pod (kubernetes/service-account.ts).
          serviceAccountName: names.serviceAccount,
          automountServiceAccountToken: false,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: MYSQL_UID,
            runAsGroup: MYSQL_UID,
            fsGroup: MYSQL_UID,
            // Chown the data volume only when its root is not ours yet: a recursive chown of a large datadir on
            // every start would delay it by minutes.
            fsGroupChangePolicy: "OnRootMismatch",
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(podAffinity ? { affinity: podAffinity } : {}),
          terminationGracePeriodSeconds: 60,
          initContainers: [initServer, ...all("initContainers")],
          containers: [database, ...all("containers")],
          volumes: [
            // Limits, so a runaway writer evicts this pod rather than filling the node. tmp holds on-disk sorts and
            // temporary tables of mariadbd and the sidecars' small working files.
            { name: VOLUMES.conf, emptyDir: { sizeLimit: "16Mi" } },
            { name: VOLUMES.run, emptyDir: { sizeLimit: "16Mi" } },
            { name: VOLUMES.tmp, emptyDir: { sizeLimit: "2Gi" } },
            {
              name: VOLUMES.config,
              configMap: { name: names.serverConfig, items: [{ key: SERVER_CNF, path: SERVER_CNF }] },
            },
            { name: VOLUMES.scripts, configMap: { name: names.scripts, defaultMode: 0o555 } },
            // Executable, so the entrypoint runs it (rather than sourcing it into its own shell).
            {
              name: VOLUMES.initdb,
              configMap: {
                name: names.scripts,
                defaultMode: 0o555,
                items: [{ key: INIT_ACCOUNTS_SCRIPT, path: `50-${INIT_ACCOUNTS_SCRIPT}` }],
              },
            },
            { name: VOLUMES.topology, configMap: { name: names.topology, optional: true } },
            // The CA and every member's pair (kubernetes/tls.ts); mariadbd reads its own.
            ...(tls ? [tlsVolume(names, s, VOLUMES.tls)] : []),
            ...all("volumes"),
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: { name: VOLUMES.data, labels: selectorLabels(name) },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(s.storageClass ? { storageClassName: s.storageClass } : {}),
            resources: { requests: { storage: s.storageSize } },
          },
        },
      ],
    },
  };
}
