/** Names and labels shared by every Kubernetes object of one ReplicatedDatabase. */

/** Port of the database in every member and Service. */
export const MYSQL_PORT = 3306;

/** Name of the program's ReplicatedDatabase (index.ts): the prefix of every object it makes. */
export const DATABASE_NAME = "mysql";
/** Side port on every member that serves backup streams (clone-serve.sh) to joiners and the backup job. */
export const DONOR_PORT = 4444;
/** The mysqld_exporter sidecar's usual port; named `metrics` on the container. */
export const EXPORTER_PORT = 9104;
/** The binlog archiver container's metrics endpoint (backup/metrics.ts). */
export const ARCHIVE_METRICS_PORT = 9105;
/** server_id of member N is SERVER_ID_BASE + N (unique per member, stable across restarts). */
export const SERVER_ID_BASE = 1000;

/** Kubernetes object names derived from the component name (pods are `${statefulSet}-<ordinal>`). */
export interface ObjectNames {
  statefulSet: string;
  headlessService: string;
  primaryService: string;
  readService: string;
  serverConfig: string;
  scripts: string;
  topology: string;
  secret: string;
  podDisruptionBudget: string;
  /** ServiceAccount of the members, and of the backup Job unless IRSA gives the Job its own (no API token). */
  serviceAccount: string;
  /** The backup Job's own ServiceAccount with IRSA (its role may delete, for prune). */
  backupServiceAccount: string;
  /** NetworkPolicy admitting who may reach the members. */
  networkPolicy: string;
}

export function objectNames(name: string): ObjectNames {
  return {
    statefulSet: name,
    headlessService: `${name}-headless`,
    primaryService: `${name}-primary`,
    readService: `${name}-read`,
    serverConfig: `${name}-config`,
    scripts: `${name}-scripts`,
    topology: `${name}-topology`,
    secret: `${name}-credentials`,
    podDisruptionBudget: name,
    serviceAccount: `${name}-database`,
    backupServiceAccount: `${name}-backup`,
    networkPolicy: `${name}-members`,
  };
}

/**
 * The labels that pick the members' pods (StatefulSet, anti-affinity, PodDisruptionBudget, Services). They include
 * the component, so other pods of the instance (the backup Job's) are never counted, spread against or routed to.
 */
export function selectorLabels(name: string): Record<string, string> {
  return componentSelector(name, "database");
}

/** The pods of the instance that play one part: the members (database), the failover agent, the backup Job. */
export type Component = "database" | "agent" | "backup";

/** Labels that pick one component's pods of the instance (and no other pod). */
export function componentSelector(name: string, component: Component): Record<string, string> {
  return {
    "app.kubernetes.io/name": "mysql-ha",
    "app.kubernetes.io/instance": name,
    "app.kubernetes.io/component": component,
  };
}

/**
 * Role label of each member pod (`primary` or `replica`), kept by whoever moves the primary
 * (connectors/primary-objects.ts); the primary Service selects `primary`. The client Services carry it too, naming the
 * endpoint they are (`primary`, `read`).
 */
export const ROLE_LABEL = "mysql-ha/role";

/** Labels on every object of the instance; other parts (the backup Job) override the component. */
export function commonLabels(name: string): Record<string, string> {
  return { ...selectorLabels(name), "app.kubernetes.io/managed-by": "pulumi" };
}

/** Pod name of member `ordinal` (the value of its `statefulset.kubernetes.io/pod-name` label). */
export function memberPodName(statefulSet: string, ordinal: number): string {
  return `${statefulSet}-${ordinal}`;
}

/**
 * Stable DNS name of member `ordinal` through the headless Service. Names end in `.svc`: a pod's DNS search path ends
 * with the cluster's own domain, so they resolve in any cluster (`cluster.local` is only the usual default).
 */
export function memberHost(names: ObjectNames, namespace: string, ordinal: number): string {
  return `${memberPodName(names.statefulSet, ordinal)}.${names.headlessService}.${namespace}.svc`;
}

/** DNS name of a Service (see memberHost). */
export function serviceHost(service: string, namespace: string): string {
  return `${service}.${namespace}.svc`;
}
