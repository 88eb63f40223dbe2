/**
 * The failover agent in the cluster (`mysql-ha agent`, built when autoFailover is true): the compiled CLI in a
 * ConfigMap, run by a Deployment of two pods in a public Node image (one holds the Lease and acts, the other waits),
 * a PodDisruptionBudget, and a ServiceAccount allowed exactly what the agent touches: its Lease, the topology
 * ConfigMap, the primary Service (read) and the members' role labels.
 */
import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import { commonLabels, componentSelector, memberPodName, MYSQL_PORT, ObjectNames } from "./names";
import { TLS_KEYS, TLS_PATHS, tlsSecretName } from "./tls";
import { ACCOUNTS, SECRET_KEYS, REPLICATION_USER } from "./secret";
import { antiAffinity, CONTAINER_SECURITY_CONTEXT } from "./statefulset";

type Container = k8s.types.input.core.v1.Container;

/** uid/gid of the `node` user in the official Node images. */
export const AGENT_UID = 1000;
/** Port of the agent's /healthz and /metrics (`mysql-ha agent --metrics-port`). */
export const AGENT_HEALTH_PORT = 9104;
export const AGENT_HEALTH_PORT_NAME = "health";
/** Key of the compressed bundle in the agent ConfigMap's binaryData. */
export const AGENT_BUNDLE_KEY = "mysql-ha.js.br";
/** sha256 of the bundle on the pod template: a new bundle rolls the Deployment, and the init container checks it. */
export const AGENT_BUNDLE_ANNOTATION = "mysql-ha/agent-bundle-sha256";

/** Where things live in the agent pod. */
export const AGENT_PATHS = {
  /** The ConfigMap: the compressed bundle. */
  bundle: "/etc/mysql-ha/agent-bundle",
  /** emptyDir the init container writes the bundle to; read-only in the agent container. */
  app: "/opt/mysql-ha",
  script: "/opt/mysql-ha/mysql-ha.js",
} as const;

/** Kubernetes object names of the agent (the Lease is created by the agent itself). */
export interface AgentNames {
  deployment: string;
  bundle: string;
  lease: string;
  serviceAccount: string;
  role: string;
  roleBinding: string;
  podDisruptionBudget: string;
}

export function agentNames(name: string): AgentNames {
  const agent = `${name}-agent`;
  return {
    deployment: agent,
    bundle: `${agent}-bundle`,
    lease: agent,
    serviceAccount: agent,
    role: agent,
    roleBinding: agent,
    podDisruptionBudget: agent,
  };
}

/** The agent pods' selector: component agent, so the members' selectors (component database) never pick them. */
export function agentSelectorLabels(name: string): Record<string, string> {
  return componentSelector(name, "agent");
}

function agentLabels(name: string): Record<string, string> {
  return { ...commonLabels(name), ...agentSelectorLabels(name) };
}

type AgentSettings = Pick<
  Settings,
  | "namespace"
  | "replicas"
  | "antiAffinity"
  | "agentImage"
  | "agentIntervalMs"
  | "agentFailureThreshold"
  | "agentCooldownSeconds"
  | "semiSync"
  | "semiSyncTimeoutMs"
  | "operationTimeoutSeconds"
  | "tls"
  | "flavor"
>;

export interface AgentArgs {
  name: string;
  names: ObjectNames;
  settings: AgentSettings;
}

const metadata = (args: { name: string; settings: Pick<Settings, "namespace"> }, objectName: string) => ({
  name: objectName,
  namespace: args.settings.namespace,
  labels: agentLabels(args.name),
});

/** The compiled CLI, brotli-compressed and base64-encoded (scripts/agent-bundle.ts). */
export function buildAgentBundleConfigMap(
  args: AgentArgs & { brotliBase64: pulumi.Input<string> },
): k8s.core.v1.ConfigMapArgs {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: metadata(args, agentNames(args.name).bundle),
    binaryData: { [AGENT_BUNDLE_KEY]: args.brotliBase64 },
  };
}

export function buildAgentServiceAccount(args: AgentArgs): k8s.core.v1.ServiceAccountArgs {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: metadata(args, agentNames(args.name).serviceAccount),
    automountServiceAccountToken: true,
  };
}

/**
 * What the agent does with the API (components/agent, connectors/primary-objects.ts): hold its Lease, patch the
 * topology ConfigMap, read the primary Service's selector, list the members' pods by it and patch their role labels.
 */
export function buildAgentRole(args: AgentArgs): k8s.rbac.v1.RoleArgs {
  const agent = agentNames(args.name);
  const members = Array.from({ length: args.settings.replicas }, (_, ordinal) =>
    memberPodName(args.names.statefulSet, ordinal),
  );
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: metadata(args, agent.role),
    rules: [
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: [agent.lease],
        verbs: ["get", "update"],
      },
      // The first agent creates the Lease. RBAC cannot limit create by resourceNames (the name is not part of the
      // request's authorization attributes), so this allows creating any Lease in the namespace.
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: [""], resources: ["configmaps"], resourceNames: [args.names.topology], verbs: ["patch"] },
      { apiGroups: [""], resources: ["services"], resourceNames: [args.names.primaryService], verbs: ["get"] },
      // RBAC checks resourceNames only on requests for one object: the list of the members (by label) cannot be limited.
      { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
      { apiGroups: [""], resources: ["pods"], resourceNames: members, verbs: ["patch"] },
    ],
  };
}

export function buildAgentRoleBinding(args: AgentArgs): k8s.rbac.v1.RoleBindingArgs {
  const agent = agentNames(args.name);
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: metadata(args, agent.roleBinding),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: agent.role },
    subjects: [{ kind: "ServiceAccount", name: agent.serviceAccount, namespace: args.settings.namespace }],
  };
}

/** `mysql-ha agent` as the container runs it (the contract of cli/commands/agent.ts). */
export function agentCommand(args: AgentArgs): string[] {
  const { names, settings: s } = args;
  return [
    "node",
    AGENT_PATHS.script,
    "agent",
    "--statefulset",
    names.statefulSet,
    "--service",
    names.headlessService,
    "--namespace",
    s.namespace,
    "--replicas",
    String(s.replicas),
    "--port",
    String(MYSQL_PORT),
    "--lease",
    agentNames(args.name).lease,
    "--topology-configmap",
    names.topology,
    "--primary-service",
    names.primaryService,
    "--interval-ms",
    String(s.agentIntervalMs),
    "--failure-threshold",
    String(s.agentFailureThreshold),
    "--cooldown-seconds",
    String(s.agentCooldownSeconds),
    "--metrics-port",
    String(AGENT_HEALTH_PORT),
    // A promoted primary gets the stack's semi-sync settings, and a failover the stack's deadline.
    ...(s.semiSync ? ["--semi-sync-timeout-ms", String(s.semiSyncTimeoutMs)] : ["--async"]),
    "--timeout-ms",
    String(s.operationTimeoutSeconds * 1000),
    "--flavor",
    s.flavor,
    // TLS verified against the stack's CA (the members are named by their DNS names), replication told the same.
    ...(s.tls !== "off" ? ["--tls-ca", TLS_PATHS.ca, "--tls-member-ca", TLS_PATHS.ca] : []),
  ];
}

/**
 * Writes the bundle from the ConfigMap to the emptyDir, uncompressed, after checking its sha256: a pod never runs a
 * bundle other than the one its template names (an old pod started after the ConfigMap changed fails here).
 */
const UNPACK_SCRIPT = [
  "const fs = require('fs'), zlib = require('zlib'), crypto = require('crypto');",
  "const js = zlib.brotliDecompressSync(fs.readFileSync(process.env.BUNDLE_IN));",
  "const sha = crypto.createHash('sha256').update(js).digest('hex');",
  "if (sha !== process.env.BUNDLE_SHA256) { console.error(`agent bundle sha256 ${sha}, expected ${process.env.BUNDLE_SHA256}`); process.exit(1); }",
  "fs.writeFileSync(process.env.BUNDLE_OUT, js);",
].join("\n");

/** The members' container security context (non-root, read-only root, no escalation, no capabilities) as `node`. */
const SECURITY_CONTEXT = { ...CONTAINER_SECURITY_CONTEXT, runAsUser: AGENT_UID, runAsGroup: AGENT_UID };

const VOLUMES = { bundle: "bundle", app: "app", tlsCa: "tls-ca" } as const;

export function buildAgentDeployment(
  args: AgentArgs & { bundleSha256: pulumi.Input<string> },
): k8s.apps.v1.DeploymentArgs {
  const { name, names, settings: s } = args;
  const agent = agentNames(name);
  const secretEnv = (env: string, key: string) => ({
    name: env,
    valueFrom: { secretKeyRef: { name: names.secret, key } },
  });

  const unpack: Container = {
    name: "unpack",
    image: s.agentImage,
    command: ["node", "-e", UNPACK_SCRIPT],
    env: [
      { name: "BUNDLE_IN", value: `${AGENT_PATHS.bundle}/${AGENT_BUNDLE_KEY}` },
      { name: "BUNDLE_OUT", value: AGENT_PATHS.script },
      { name: "BUNDLE_SHA256", value: args.bundleSha256 },
    ],
    volumeMounts: [
      { name: VOLUMES.bundle, mountPath: AGENT_PATHS.bundle, readOnly: true },
      { name: VOLUMES.app, mountPath: AGENT_PATHS.app },
    ],
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "128Mi" } },
    securityContext: SECURITY_CONTEXT,
  };

  const probe = (periodSeconds: number) => ({
    httpGet: { path: "/healthz", port: AGENT_HEALTH_PORT_NAME },
    periodSeconds,
    timeoutSeconds: 3,
    failureThreshold: 3,
  });
  const container: Container = {
    name: "agent",
    image: s.agentImage,
    command: agentCommand(args),
    env: [
      // Its own account: replication and read_only administration, no data, no accounts (root stays on the members' loopback).
      { name: "MYSQL_HA_USER", value: ACCOUNTS.operator.user },
      secretEnv("MYSQL_HA_PASSWORD", ACCOUNTS.operator.secretKey),
      { name: "MYSQL_HA_REPLICATION_USER", value: REPLICATION_USER },
      secretEnv("MYSQL_HA_REPLICATION_PASSWORD", SECRET_KEYS.replication),
    ],
    ports: [{ name: AGENT_HEALTH_PORT_NAME, containerPort: AGENT_HEALTH_PORT, protocol: "TCP" }],
    livenessProbe: probe(10),
    readinessProbe: probe(5),
    volumeMounts: [
      { name: VOLUMES.app, mountPath: AGENT_PATHS.app, readOnly: true },
      ...(s.tls !== "off" ? [{ name: VOLUMES.tlsCa, mountPath: TLS_PATHS.dir, readOnly: true }] : []),
    ],
    resources: { requests: { cpu: "50m", memory: "96Mi" }, limits: { cpu: "500m", memory: "256Mi" } },
    securityContext: SECURITY_CONTEXT,
  };

  const labels = agentLabels(name);
  const podAffinity = antiAffinity(agentSelectorLabels(name), s.antiAffinity);
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: metadata(args, agent.deployment),
    spec: {
      replicas: 2,
      selector: { matchLabels: agentSelectorLabels(name) },
      // One pod at a time and no surge: with required anti-affinity a third pod would need a third node.
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      template: {
        metadata: { labels, annotations: { [AGENT_BUNDLE_ANNOTATION]: args.bundleSha256 } },
        spec: {
          serviceAccountName: agent.serviceAccount,
          // SIGTERM lets a running failover finish (the agent stops at the end of its operation): never cut it short.
          terminationGracePeriodSeconds: s.operationTimeoutSeconds + 10,
          // The only pods of the stack that talk to the API server (their Lease, the primary's objects).
          automountServiceAccountToken: true,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: AGENT_UID,
            runAsGroup: AGENT_UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
          ...(podAffinity ? { affinity: podAffinity } : {}),
          initContainers: [unpack],
          containers: [container],
          volumes: [
            { name: VOLUMES.bundle, configMap: { name: agent.bundle } },
            // The uncompressed bundle (about 5 MB).
            { name: VOLUMES.app, emptyDir: { sizeLimit: "32Mi" } },
            // Only the CA of the TLS Secret: the agent verifies the members and holds none of their keys.
            ...(s.tls !== "off"
              ? [
                  {
                    name: VOLUMES.tlsCa,
                    secret: { secretName: tlsSecretName(names), items: [{ key: TLS_KEYS.ca, path: TLS_KEYS.ca }] },
                  },
                ]
              : []),
          ],
        },
      },
    },
  };
}

/** At most one agent pod voluntarily disrupted at a time, so a drain never leaves the stack without one. */
export function buildAgentPodDisruptionBudget(args: AgentArgs): k8s.policy.v1.PodDisruptionBudgetArgs {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: metadata(args, agentNames(args.name).podDisruptionBudget),
    spec: { maxUnavailable: 1, selector: { matchLabels: agentSelectorLabels(args.name) } },
  };
}
