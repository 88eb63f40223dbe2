/**
 * Cluster mode of the commands (`--stack S`): the stack's config says where its members are (namespace, StatefulSet,
 * headless Service) and which cluster it deploys to (kubernetes:kubeconfig and kubernetes:context, or --kubeconfig
 * and --context); the members are reached through the port-forward connector `pulumi up` uses, and the passwords
 * and the CA come from the stack's Secrets through the API: kept in memory, never printed, never on a command line,
 * never written to disk.
 */
import * as fs from "node:fs";
import type * as k8s from "@kubernetes/client-node";
import { UsageError } from "./command";
import type { Settings } from "../components/config";
import {
  apiMessage,
  apiStatusCode,
  ClusterAccess,
  kubeConfigFor,
  loadKubernetesClient,
} from "../components/connectors/kube-config";
import type { PrimaryObjects } from "../components/connectors/primary-objects";
import { DATABASE_NAME, MYSQL_PORT, ObjectNames, objectNames } from "../components/kubernetes/names";
import { REPLICATION_USER, SECRET_KEYS } from "../components/kubernetes/secret";
import { TLS_KEYS, TLS_PATHS, tlsSecretName } from "../components/kubernetes/tls";
import type { Credentials, MemberAddress, TlsSettings } from "../components/replication";

export const CLUSTER_OPTIONS = {
  stack: { type: "string" },
  kubeconfig: { type: "string" },
  context: { type: "string" },
  "project-dir": { type: "string" },
} as const;

export const CLUSTER_OPTIONS_HELP = `  --stack S                      cluster mode: the members of stack S (Pulumi.S.yaml), reached through the
                                 Kubernetes API (port-forward); passwords and CA from the stack's Secrets
  --kubeconfig FILE              with --stack: this kubeconfig (else the stack's kubernetes:kubeconfig, else
                                 KUBECONFIG or ~/.kube/config)
  --context NAME                 with --stack: this kubeconfig context (else kubernetes:context, else current)
  --project-dir DIR              with --stack: where Pulumi.yaml and the stack files are (default: this checkout)`;

/** Where cluster mode goes: the stack's settings, its objects' names, and how to reach its cluster. */
export interface ClusterTarget {
  stack: string;
  settings: Settings;
  names: ObjectNames;
  /** Names of the stack's other objects the commands use. */
  objects: Pick<import("../offline/stack").ClusterStack, "agentLease" | "backup">;
  access: ClusterAccess;
  /** Where the kubeconfig came from, for messages: "--kubeconfig /x", "the stack's kubernetes:kubeconfig", ... */
  kubeconfigFrom: string;
}

/** The cluster-mode target when --stack is given (undefined without it); every misuse is a usage error. */
export function clusterTarget(values: Record<string, unknown>): ClusterTarget | undefined {
  const stack = values.stack as string | undefined;
  if (stack === undefined) {
    for (const flag of ["kubeconfig", "context", "project-dir"])
      if (values[flag] !== undefined) throw new UsageError(`--${flag} needs --stack S (cluster mode)`);
    return undefined;
  }
  if (values.members !== undefined) {
    throw new UsageError(
      "--stack and --members exclude each other: --stack reaches the stack's pods through the Kubernetes API, --members servers at fixed addresses",
    );
  }
  const file = values.kubeconfig as string | undefined;
  const given = file === undefined ? undefined : readKubeconfig(file);
  // Loaded here: offline/ validates the stack as the program does; the agent bundle (the in-cluster build) has no
  // stack files and leaves it out.
  const { clusterStack } = require("../offline/stack") as typeof import("../offline/stack");
  let found: import("../offline/stack").ClusterStack;
  try {
    found = clusterStack(stack, {
      projectDir: values["project-dir"] as string | undefined,
      readKubeconfig: given === undefined,
    });
  } catch (err) {
    throw new UsageError(`--stack ${stack}: ${(err as Error).message}`);
  }
  if (found.settings.connector !== "kubernetes") {
    throw new UsageError(
      `--stack ${stack}: its connector is '${found.settings.connector}' (directMembers): cluster mode needs connector kubernetes; give those members with --members`,
    );
  }
  const kubeconfig = given ?? found.kubeconfig;
  const context = (values.context as string | undefined) ?? found.context;
  return {
    stack,
    settings: found.settings,
    names: objectNames(DATABASE_NAME),
    objects: { agentLease: found.agentLease, backup: found.backup },
    access: { ...(kubeconfig !== undefined ? { kubeconfig } : {}), ...(context !== undefined ? { context } : {}) },
    kubeconfigFrom:
      given !== undefined
        ? `--kubeconfig ${file}`
        : found.kubeconfig !== undefined
          ? `${found.file}'s kubernetes:kubeconfig`
          : process.env.KUBECONFIG
            ? `KUBECONFIG (${process.env.KUBECONFIG})`
            : "~/.kube/config",
  };
}

function readKubeconfig(file: string): string {
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--kubeconfig ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
}

/** What cluster mode reads from the API before it runs the engine. */
export interface ClusterSecrets {
  admin: Credentials;
  replication: Credentials;
  /** The stack's CA, when its members serve TLS (config tls). */
  tls?: TlsSettings;
}

/** A failed API call as one line naming what was asked, where, and why; the permission when it was RBAC. */
export class ClusterError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

/** The Kubernetes client for the target; a missing context or kubeconfig is a ClusterError naming it. */
export function clusterApi(target: ClusterTarget): { client: typeof k8s; config: k8s.KubeConfig; core: k8s.CoreV1Api } {
  const client = loadKubernetesClient();
  let config: k8s.KubeConfig;
  try {
    config = kubeConfigFor(client, target.access);
  } catch (err) {
    throw new ClusterError(`${(err as Error).message} (kubeconfig from ${target.kubeconfigFrom})`);
  }
  return { client, config, core: config.makeApiClient(client.CoreV1Api) };
}

/**
 * Runs one API call; a failure becomes a ClusterError naming the verb, the resource and the namespace, with the
 * server's own message: for a 403, which Role rule the user lacks.
 */
export async function apiCall<T>(
  target: ClusterTarget,
  verb: string,
  resource: string,
  name: string | undefined,
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw clusterError(target, verb, resource, name, err);
  }
}

function clusterError(
  target: ClusterTarget,
  verb: string,
  resource: string,
  name: string | undefined,
  err: unknown,
): ClusterError {
  const ns = target.settings.namespace;
  const what = `${verb} ${resource}${name ? ` ${name}` : ""} in namespace ${ns}`;
  const code = apiStatusCode(err);
  const context = target.access.context ? `context '${target.access.context}'` : "the kubeconfig's current context";
  const status = typeof code === "number" ? code : undefined;
  switch (status) {
    case 401:
      return new ClusterError(
        `cannot ${what}: 401 Unauthorized: the API server did not accept the credentials of ${context} (kubeconfig from ${target.kubeconfigFrom})`,
        status,
      );
    case 403:
      return new ClusterError(
        `cannot ${what}: 403 Forbidden: ${apiMessage(err)}. The user of ${context} needs a Role in ${ns} allowing verb '${verb}' on '${resource}'${name ? ` (resourceNames: ${name})` : ""}: README, "Cluster mode"`,
        status,
      );
    case 404:
      return new ClusterError(
        `cannot ${what}: 404 Not Found: ${apiMessage(err)} (has 'pulumi up' run for stack ${target.stack} in the cluster of ${context}?)`,
        status,
      );
    case undefined: {
      const cause = (err as { cause?: Error }).cause?.message;
      return new ClusterError(
        `cannot ${what}: the Kubernetes API of ${context} did not answer: ${(err as Error).message}${cause ? ` (${cause})` : ""}`,
      );
    }
    default:
      return new ClusterError(`cannot ${what}: HTTP ${status}: ${apiMessage(err)}`, status);
  }
}

/** A Secret of the stack's namespace (ClusterError naming it when it cannot be read). */
export function readSecret(target: ClusterTarget, name: string): Promise<k8s.V1Secret> {
  const { core } = clusterApi(target);
  return apiCall(target, "get", "secrets", name, () =>
    core.readNamespacedSecret({ name, namespace: target.settings.namespace }),
  );
}

/** One key of a Secret, decoded; a missing key names the Secret and the key. */
export function secretKey(secret: k8s.V1Secret, name: string, key: string): string {
  const value = secret.data?.[key];
  if (value === undefined) throw new ClusterError(`Secret ${name} has no key ${key}`);
  return Buffer.from(value, "base64").toString("utf8");
}

/**
 * The passwords of the stack's credentials Secret and, with TLS on, the CA of its TLS Secret (unless `tls` is given:
 * --tls-ca). Read into memory only.
 */
export async function readClusterSecrets(target: ClusterTarget, tls: TlsSettings | undefined): Promise<ClusterSecrets> {
  const name = target.names.secret;
  const secret = await readSecret(target, name);
  let stackTls = tls;
  const ca = stackTls ? undefined : await readStackCa(target);
  // Verified against each member's DNS name (its replicationHost), also through the port-forward.
  if (ca !== undefined) stackTls = { ca, caPath: TLS_PATHS.ca };
  return {
    admin: { user: "root", password: secretKey(secret, name, SECRET_KEYS.root) },
    replication: { user: REPLICATION_USER, password: secretKey(secret, name, SECRET_KEYS.replication) },
    ...(stackTls ? { tls: stackTls } : {}),
  };
}

/** The CA (PEM) of the stack's TLS Secret, ca.crt; undefined with TLS off. */
export async function readStackCa(target: ClusterTarget): Promise<string | undefined> {
  if (target.settings.tls === "off") return undefined;
  const name = tlsSecretName(target.names);
  return secretKey(await readSecret(target, name), name, TLS_KEYS.ca);
}

/** The objects that name the primary (topology ConfigMap, role labels) in the target's cluster. */
export function primaryObjectsOf(target: ClusterTarget): PrimaryObjects {
  const { names, settings } = target;
  return {
    ...target.access,
    namespace: settings.namespace,
    statefulSet: names.statefulSet,
    topologyConfigMap: names.topology,
    primaryService: names.primaryService,
  };
}

/**
 * The stack's members through port-forwards to their `port` (the database's, or another the pods serve), as `pulumi
 * up` reaches them; close() ends the tunnels.
 */
export async function openClusterMembers(
  target: ClusterTarget,
  port = MYSQL_PORT,
): Promise<{ members: MemberAddress[]; problems(): string[]; close(): Promise<void> }> {
  clusterApi(target); // a missing context or kubeconfig fails here, naming it, before any tunnel
  const { openKubernetes } =
    require("../components/connectors/kubernetes") as typeof import("../components/connectors/kubernetes");
  const { names, settings } = target;
  return openKubernetes(
    {
      kind: "kubernetes",
      namespace: settings.namespace,
      statefulSet: names.statefulSet,
      service: names.headlessService,
      port,
      ...target.access,
    },
    settings.replicas,
  );
}
