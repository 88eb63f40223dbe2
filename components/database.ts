import * as pulumi from "@pulumi/pulumi";
import * as k8s from "@pulumi/kubernetes";
import * as random from "@pulumi/random";
import { ConfigKey, ConfigValidationError, ConfigValues, Settings, validateConfig } from "./config";
import { memberHost, MYSQL_PORT, objectNames, ObjectNames, serviceHost } from "./kubernetes/names";
import { buildServerConfigMap } from "./kubernetes/server-config";
import { buildScriptsConfigMap } from "./kubernetes/scripts";
import { buildCredentialsSecret } from "./kubernetes/secret";
import { buildHeadlessService, buildPrimaryService, buildReadService } from "./kubernetes/services";
import { buildTopologyConfigMap } from "./kubernetes/topology";
import { TLS_PATHS } from "./kubernetes/tls";
import { StackTls, stackTls } from "./certificates";
import { buildStatefulSet, StatefulSetExtras } from "./kubernetes/statefulset";
import { buildPodDisruptionBudget } from "./kubernetes/pdb";
import { buildNamespace } from "./kubernetes/namespace";
import { buildMemberNetworkPolicy } from "./kubernetes/network-policy";
import { buildWorkloadServiceAccount } from "./kubernetes/service-account";
import {
  buildAgentBundleConfigMap,
  buildAgentDeployment,
  buildAgentPodDisruptionBudget,
  buildAgentRole,
  buildAgentRoleBinding,
  buildAgentServiceAccount,
} from "./kubernetes/agent";
import { agentBundle } from "../scripts/agent-bundle";
import { ACCOUNTS, REPLICATION_USER } from "./kubernetes/secret";
import { ACCOUNT_ROLES, AccountRole } from "./replication";
import { ConnectorSpec } from "./connectors";
import { PrimaryPlacement, ReplicationResourceArgs, ReplicationTopology, RollingUpgrade } from "./providers";
import { serverConfigRevision } from "./kubernetes/config-hash";
import {
  backupImageWarning,
  backupNames,
  backupScripts,
  BackupPartsArgs,
  buildBackupCronJob,
  buildBackupPodExtras,
  buildSeedingPodExtras,
  S3Credentials,
} from "./backup/kubernetes";
import { createBackupStorage } from "./backup/storage";
import { createIrsaRoles } from "./backup/iam";
import { buildExporterSecret, buildMetricsPodExtras } from "./monitoring/exporter";
import { buildDashboardConfigMap } from "./monitoring/dashboard";
import {
  buildAgentPodMonitor,
  buildArchivePodMonitor,
  buildMembersPodMonitor,
  buildPrometheusRule,
} from "./monitoring/prometheus-operator";

/** How long Pulumi waits for the members to be Ready: long enough to clone a large peer. */
export const SEED_TIMEOUT = "2h";

/** Type token of the component. */
export const REPLICATED_DATABASE_TYPE = "mysql-ha:index:ReplicatedDatabase";

/** Keys whose value may come from another resource (an Output or a Promise). */
type InputKey = "namespace" | "image" | "directMembers" | "backupBucket";

/**
 * Every key of the stack config (README, "Config reference"; components/config.ts CONFIG_KEYS), each optional with
 * the config's default and validation, typed as it is validated.
 */
export type DatabaseConfigArgs = {
  [K in ConfigKey]?: K extends "directMembers"
    ? pulumi.Input<pulumi.Input<string>[]>
    : K extends InputKey
      ? pulumi.Input<NonNullable<ConfigValues[K]>>
      : ConfigValues[K];
};

export interface ReplicatedDatabaseArgs extends DatabaseConfigArgs {
  /**
   * Settings validated already (components/config.ts `validateConfig`), used as they are instead of the keys: for a
   * program that goes past the config's limits on purpose, as the evaluation benchmark does with its member counts.
   */
  settings?: Settings;
  /**
   * The cluster the Kubernetes resources go to, for the dynamic providers (port-forwards, pointing the primary's
   * objects, pod restarts): pass what the Kubernetes provider uses (`kubernetes:kubeconfig` contents and
   * `kubernetes:context`, see `kubernetesProviderAccess`). Default: the usual kubeconfig lookup in the provider.
   */
  cluster?: { kubeconfig?: pulumi.Input<string>; context?: string };
}

type Cluster = NonNullable<ReplicatedDatabaseArgs["cluster"]>;

/** The component's outputs. */
type DatabaseOutputs = Pick<
  ReplicatedDatabase,
  | "primaryEndpoint"
  | "readEndpoint"
  | "headlessServiceName"
  | "memberHosts"
  | "primary"
  | "secretName"
  | "rootPassword"
  | "replicationPassword"
  | "appPassword"
  | "replicationPlan"
  | "gtidPositions"
>;

/** A value that needs no other resource: neither an Output nor a Promise, nor a list holding one. */
const known = (value: unknown): boolean =>
  !pulumi.Output.isInstance(value) && !(value instanceof Promise) && (!Array.isArray(value) || value.every(known));

/** Settings from the component's arguments, validated as the stack config is; throws every problem at once. */
function settingsOf(keys: Record<string, unknown>): Settings {
  const { settings, errors } = validateConfig(keys);
  if (!settings) throw new ConfigValidationError(errors);
  return settings;
}

/** Generated passwords; each is a secret output. */
export interface Credentials {
  root: pulumi.Output<string>;
  replication: pulumi.Output<string>;
  app: pulumi.Output<string>;
  /** The least-privilege accounts' passwords (kubernetes/secret.ts ACCOUNTS). */
  accounts: Record<AccountRole, pulumi.Output<string>>;
  secret: k8s.core.v1.Secret;
}

/**
 * A replicated MariaDB on Kubernetes: a StatefulSet of members with GTID replication, a write endpoint that
 * follows the primary, a read endpoint of fresh members, generated credentials, and a disruption budget.
 * The class only wires; every object is built by a pure function in components/kubernetes/.
 */
export class ReplicatedDatabase extends pulumi.ComponentResource {
  /** host:port of the primary (write) Service. */
  readonly primaryEndpoint: pulumi.Output<string>;
  /** host:port of the read Service (ready members only; lagging replicas are left out). */
  readonly readEndpoint: pulumi.Output<string>;
  /** Name of the headless Service that gives each member a stable DNS name. */
  readonly headlessServiceName: pulumi.Output<string>;
  /** Stable DNS name of each member, by ordinal. */
  readonly memberHosts: pulumi.Output<string[]>;
  /** Ordinal of the member the write endpoint points at. */
  readonly primary: pulumi.Output<number>;
  /** Kubernetes Secret holding the passwords (keys in kubernetes/secret.ts SECRET_KEYS). */
  readonly secretName: pulumi.Output<string>;
  readonly rootPassword: pulumi.Output<string>;
  readonly replicationPassword: pulumi.Output<string>;
  readonly appPassword: pulumi.Output<string>;
  /** What the last `pulumi up` did to replication, in words; in preview, what it will do. */
  readonly replicationPlan: pulumi.Output<string>;
  /** Executed GTID set of each member, by ordinal. */
  readonly gtidPositions: pulumi.Output<string[]>;

  constructor(name: string, args: ReplicatedDatabaseArgs = {}, opts?: pulumi.ComponentResourceOptions) {
    const { cluster = {}, settings: given, ...keys } = args;
    // Known values are validated before anything is registered; a value from another resource once it is known.
    const settings = given ?? (Object.values(keys).every(known) ? settingsOf(keys) : undefined);
    super(REPLICATED_DATABASE_TYPE, name, {}, opts);
    const outputs = settings ? this.build(name, settings, cluster) : this.whenKnown(name, keys, cluster);
    this.primaryEndpoint = outputs.primaryEndpoint;
    this.readEndpoint = outputs.readEndpoint;
    this.headlessServiceName = outputs.headlessServiceName;
    this.memberHosts = outputs.memberHosts;
    this.primary = outputs.primary;
    this.secretName = outputs.secretName;
    this.rootPassword = outputs.rootPassword;
    this.replicationPassword = outputs.replicationPassword;
    this.appPassword = outputs.appPassword;
    this.replicationPlan = outputs.replicationPlan;
    this.gtidPositions = outputs.gtidPositions;
    this.registerOutputs(outputs);
  }

  /**
   * The resources once the values from other resources are known (in a preview where one is not known yet, the
   * component shows none of its resources).
   */
  private whenKnown(name: string, keys: DatabaseConfigArgs, cluster: Cluster): DatabaseOutputs {
    const built = pulumi.output(keys).apply((values) => this.build(name, settingsOf(values), cluster));
    return {
      primaryEndpoint: built.apply((b) => b.primaryEndpoint),
      readEndpoint: built.apply((b) => b.readEndpoint),
      headlessServiceName: built.apply((b) => b.headlessServiceName),
      memberHosts: built.apply((b) => b.memberHosts),
      primary: built.apply((b) => b.primary),
      secretName: built.apply((b) => b.secretName),
      rootPassword: built.apply((b) => b.rootPassword),
      replicationPassword: built.apply((b) => b.replicationPassword),
      appPassword: built.apply((b) => b.appPassword),
      replicationPlan: built.apply((b) => b.replicationPlan),
      gtidPositions: built.apply((b) => b.gtidPositions),
    };
  }

  /** Every resource of the database, built from validated settings; the class only wires. */
  private build(name: string, settings: Settings, cluster: Cluster): DatabaseOutputs {
    const names = objectNames(name);
    const base = { name, names, settings };

    // Every namespaced object waits for the namespace, when the stack creates it.
    const namespace = buildNamespace(base);
    const namespaceResource = namespace && new k8s.core.v1.Namespace(`${name}-namespace`, namespace, { parent: this });
    const inNamespace = (...after: pulumi.Resource[]): pulumi.CustomResourceOptions => ({
      parent: this,
      dependsOn: [...(namespaceResource ? [namespaceResource] : []), ...after],
    });

    const credentials = this.credentials(name, names, settings, inNamespace());
    // The members' certificates (README "TLS"), by config tls; the engine and the replicas verify the members
    // against the CA.
    const tls = stackTls(this, name, names, settings, inNamespace());
    // The mysqld_exporter sidecars' option file with the metrics account's password (monitoring/exporter.ts).
    const exporterSecret = settings.metrics
      ? new k8s.core.v1.Secret(
          `${name}-exporter`,
          buildExporterSecret({ ...base, password: credentials.accounts.metrics }),
          inNamespace(),
        )
      : undefined;
    const serverConfig = new k8s.core.v1.ConfigMap(`${name}-config`, buildServerConfigMap(base), inNamespace());
    // Seeding (always) and backups (components/backup): bucket, scripts, member sidecars and the CronJob. S3 access:
    // IRSA roles the stack creates (the members write, only the backup Job's prune deletes), or else the keys of the
    // optional Secret `${name}-backup-s3` (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), never from config.
    const imageWarning = backupImageWarning(settings);
    if (imageWarning) pulumi.log.warn(imageWarning, this);
    const storage = settings.backupEnabled ? createBackupStorage(this, name, settings, pulumi.getStack()) : undefined;
    const roles =
      storage && settings.backupIrsa
        ? createIrsaRoles(this, name, {
            settings,
            bucketArn: storage.bucketArn,
            prefix: storage.prefix,
            serviceAccounts: { writer: names.serviceAccount, pruner: names.backupServiceAccount },
          })
        : undefined;
    const s3Credentials: S3Credentials = roles
      ? { kind: "irsa", serviceAccountName: names.backupServiceAccount }
      : { kind: "secret", secretName: backupNames(name).credentialsSecret };
    const backup: BackupPartsArgs | undefined = storage
      ? { ...base, url: storage.url, credentials: s3Credentials }
      : undefined;
    const scripts = new k8s.core.v1.ConfigMap(
      `${name}-scripts`,
      buildScriptsConfigMap({ ...base, extraScripts: backupScripts() }),
      inNamespace(),
    );
    const headless = new k8s.core.v1.Service(`${name}-headless`, buildHeadlessService(base), inNamespace());
    // Who may reach the members (database and donor ports), and their identity without an API token.
    const networkPolicy = new k8s.networking.v1.NetworkPolicy(
      `${name}-network-policy`,
      buildMemberNetworkPolicy(base),
      inNamespace(),
    );
    const serviceAccount = new k8s.core.v1.ServiceAccount(
      `${name}-service-account`,
      buildWorkloadServiceAccount({ ...base, roleArn: roles?.writer }),
      inNamespace(),
    );
    const backupAccount =
      roles &&
      new k8s.core.v1.ServiceAccount(
        `${name}-backup-service-account`,
        buildWorkloadServiceAccount({ ...base, accountName: names.backupServiceAccount, roleArn: roles.pruner }),
        inNamespace(),
      );

    // What names the primary: the topology ConfigMap, created without the primary's name, and the pods' role labels,
    // which the primary Service selects. The providers write both under their own field manager
    // (connectors/primary-objects.ts), so Pulumi's applies never own, conflict with or revert them. The placement
    // names the configured primary on first create, before any pod starts (a pod starts writable only if the
    // topology ConfigMap names it); after that whoever moves the primary points them.
    const topologyConfigMap = new k8s.core.v1.ConfigMap(
      `${name}-topology`,
      buildTopologyConfigMap(base),
      inNamespace(),
    );
    const primaryService = new k8s.core.v1.Service(`${name}-primary`, buildPrimaryService(base), inNamespace());

    // Replication around the StatefulSet (README, "Replication during `pulumi up`"): the placement moves the
    // primary before the pods change, the topology converges replication after them.
    const replication = replicationArgs(names, settings, credentials, cluster, tls);
    const placement = new PrimaryPlacement(`${name}-placement`, replication, {
      parent: this,
      dependsOn: [topologyConfigMap, primaryService],
    });

    // Everything the pods need exists before the StatefulSet, and the primary is where the new size allows.
    const beforeMembers: pulumi.Resource[] = [
      credentials.secret,
      serverConfig,
      scripts,
      headless,
      networkPolicy,
      serviceAccount,
      placement,
      ...(tls?.resources ?? []),
      ...(exporterSecret ? [exporterSecret] : []),
    ];
    // Sections that add containers/volumes to the member pods (backup: binlog archiver, clone) push here.
    const extras: StatefulSetExtras[] = [
      buildSeedingPodExtras({ ...base, credentials: s3Credentials }),
      ...(backup ? [buildBackupPodExtras(backup)] : []),
      buildMetricsPodExtras(base),
    ];
    // Pulumi waits for every member to be Ready; a member that seeds by cloning a large peer takes as long as the
    // copy (the default is 10 minutes).
    const statefulSet = new k8s.apps.v1.StatefulSet(`${name}-statefulset`, buildStatefulSet({ ...base, extras }), {
      ...inNamespace(...beforeMembers),
      customTimeouts: { create: SEED_TIMEOUT, update: SEED_TIMEOUT },
    });

    if (backup)
      new k8s.batch.v1.CronJob(
        `${name}-backup`,
        buildBackupCronJob(backup),
        inNamespace(statefulSet, scripts, ...(backupAccount ? [backupAccount] : [])),
      );
    const topology = new ReplicationTopology(`${name}-replication`, replication, {
      parent: this,
      dependsOn: [statefulSet],
    });
    // The live primary (after a failover too); the objects above were pointed at it by the providers.
    const primary: pulumi.Input<number> = topology.primaryOrdinal;
    // Members onto the new pod template one at a time (OnDelete): replicas first, the primary after a switchover,
    // ending with the primary where the topology put it.
    const { autoFailover, accounts, ...common } = replication;
    new RollingUpgrade(
      `${name}-rollout`,
      {
        ...common,
        primary,
        revision: serverConfigRevision(settings),
        serverConfig: settings.serverConfig,
        // Pods are restarted through the API server; with direct addresses only live options are applied.
        restarter:
          settings.connector === "kubernetes"
            ? {
                kind: "kubernetes",
                namespace: settings.namespace,
                statefulSet: names.statefulSet,
                topologyConfigMap: names.topology,
                primaryService: names.primaryService,
              }
            : undefined,
      },
      { parent: this, dependsOn: [statefulSet, topology] },
    );
    const readService = new k8s.core.v1.Service(`${name}-read`, buildReadService(base), inNamespace());
    new k8s.policy.v1.PodDisruptionBudget(`${name}-pdb`, buildPodDisruptionBudget(base), inNamespace(statefulSet));

    // The failover agent between runs: the compiled CLI in a ConfigMap, run by a public Node image. It starts once
    // replication is set up, and may touch only its Lease and the objects that name the primary.
    if (settings.autoFailover) {
      const bundle = pulumi.output(agentBundle());
      const bundleConfigMap = new k8s.core.v1.ConfigMap(
        `${name}-agent-bundle`,
        buildAgentBundleConfigMap({ ...base, brotliBase64: bundle.brotliBase64 }),
        inNamespace(),
      );
      const account = new k8s.core.v1.ServiceAccount(
        `${name}-agent-serviceaccount`,
        buildAgentServiceAccount(base),
        inNamespace(),
      );
      const role = new k8s.rbac.v1.Role(`${name}-agent-role`, buildAgentRole(base), inNamespace());
      const binding = new k8s.rbac.v1.RoleBinding(
        `${name}-agent-rolebinding`,
        buildAgentRoleBinding(base),
        inNamespace(account, role),
      );
      const agent = new k8s.apps.v1.Deployment(
        `${name}-agent`,
        buildAgentDeployment({ ...base, bundleSha256: bundle.sha256 }),
        inNamespace(bundleConfigMap, binding, credentials.secret, topology),
      );
      new k8s.policy.v1.PodDisruptionBudget(
        `${name}-agent-pdb`,
        buildAgentPodDisruptionBudget(base),
        inNamespace(agent),
      );
    }

    // Prometheus Operator objects (their CRDs must be installed): what to scrape, and the alerts (README, Observability);
    // and the Grafana dashboard.
    if (settings.monitoring === "prometheus-operator") {
      const custom = (resourceName: string, object: { apiVersion: string; kind: string }) =>
        new k8s.apiextensions.CustomResource(resourceName, object, inNamespace());
      custom(`${name}-agent-podmonitor`, buildAgentPodMonitor(base));
      if (settings.metrics) custom(`${name}-members-podmonitor`, buildMembersPodMonitor(base));
      if (settings.backupEnabled && settings.binlogArchive)
        custom(`${name}-archive-podmonitor`, buildArchivePodMonitor(base));
      custom(`${name}-prometheusrule`, buildPrometheusRule(base));
      new k8s.core.v1.ConfigMap(`${name}-dashboard`, buildDashboardConfigMap(base), inNamespace());
    }

    const ns = settings.namespace;
    return {
      primaryEndpoint: primaryService.metadata.name.apply((n) => `${serviceHost(n, ns)}:${MYSQL_PORT}`),
      readEndpoint: readService.metadata.name.apply((n) => `${serviceHost(n, ns)}:${MYSQL_PORT}`),
      headlessServiceName: headless.metadata.name,
      memberHosts: pulumi.output(Array.from({ length: settings.replicas }, (_, i) => memberHost(names, ns, i))),
      primary: pulumi.output(primary),
      secretName: credentials.secret.metadata.name,
      rootPassword: credentials.root,
      replicationPassword: credentials.replication,
      appPassword: credentials.app,
      replicationPlan: topology.plan,
      gtidPositions: topology.gtidPositions,
    };
  }

  /**
   * Generated passwords and backup signing key (alphanumeric: safe in shell, my.cnf and URLs) and the Secret that
   * carries them. The key lives in the stack's state: backups signed with it restore only with it.
   */
  private credentials(
    name: string,
    names: ObjectNames,
    settings: Settings,
    secretOpts: pulumi.CustomResourceOptions,
  ): Credentials {
    const generated = (resourceName: string, length: number) =>
      pulumi.secret(
        new random.RandomPassword(
          resourceName,
          { length, special: false },
          { parent: this, additionalSecretOutputs: ["result"] },
        ).result,
      );
    const password = (part: string) => generated(`${name}-${part}-password`, 32);
    const root = password("root");
    const replication = password("replication");
    const app = password("app");
    const accounts = Object.fromEntries(ACCOUNT_ROLES.map((role) => [role, password(role)])) as Record<
      AccountRole,
      pulumi.Output<string>
    >;
    const backupSigningKey = generated(`${name}-backup-signing-key`, 64);
    const cloneToken = generated(`${name}-clone-token`, 48);
    const secret = new k8s.core.v1.Secret(
      `${name}-credentials`,
      buildCredentialsSecret({
        name,
        names,
        settings,
        passwords: { root, replication, app },
        accountPasswords: accounts,
        backupSigningKey,
        cloneToken,
      }),
      secretOpts,
    );
    return { root, replication, app, accounts, secret };
  }
}

/** Inputs of both replication resources: settings, how to reach the members, the engine's credentials. */
function replicationArgs(
  names: ObjectNames,
  settings: Settings,
  credentials: Credentials,
  cluster: Cluster,
  tls: StackTls | undefined,
): ReplicationResourceArgs {
  const context = cluster.context ? { context: cluster.context } : {};
  const connector: ConnectorSpec =
    settings.connector === "direct"
      ? { kind: "direct", members: settings.directMembers }
      : {
          kind: "kubernetes",
          namespace: settings.namespace,
          statefulSet: names.statefulSet,
          service: names.headlessService,
          port: MYSQL_PORT,
          ...context,
        };
  return {
    flavor: settings.flavor,
    replicas: settings.replicas,
    primary: settings.primary,
    semiSync: settings.semiSync,
    semiSyncTimeoutMs: settings.semiSyncTimeoutMs,
    autoFailover: settings.autoFailover,
    operationTimeoutSeconds: settings.operationTimeoutSeconds,
    connector,
    ...(cluster.kubeconfig !== undefined ? { kubeconfig: cluster.kubeconfig } : {}),
    primaryObjects: {
      namespace: settings.namespace,
      statefulSet: names.statefulSet,
      topologyConfigMap: names.topology,
      primaryService: names.primaryService,
      ...context,
    },
    adminUser: "root",
    adminPassword: credentials.root,
    replicationUser: REPLICATION_USER,
    replicationPassword: credentials.replication,
    // Kept by every up: a changed password or grants reach the members without recreating them.
    accounts: ACCOUNT_ROLES.map((role) => ({ role, user: ACCOUNTS[role].user, password: credentials.accounts[role] })),
    // Public: the CA, and (when the stack makes them) each member's certificate so that a renewed one is loaded
    // (FLUSH SSL) by the next up.
    ...(tls
      ? { tls: { ca: tls.ca, caPath: TLS_PATHS.ca, ...(tls.certificates ? { certificates: tls.certificates } : {}) } }
      : {}),
  };
}
