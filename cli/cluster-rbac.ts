/**
 * The RBAC a person needs in the stack's namespace for each command in cluster mode (`--stack`): the Role rules,
 * as README "Cluster mode" lists them (a test keeps the two equal and runs the commands with exactly these rules).
 */
import { backupNames } from "../components/backup/kubernetes";
import { buildAgentRole } from "../components/kubernetes/agent";
import type { Settings } from "../components/config";
import { DATABASE_NAME, memberPodName, objectNames } from "../components/kubernetes/names";
import { tlsSecretName } from "../components/kubernetes/tls";

export const CLUSTER_COMMANDS = ["status", "setup", "switchover", "failover", "agent", "backups", "backup"] as const;
export type ClusterCommand = (typeof CLUSTER_COMMANDS)[number];

export interface RoleRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** Rules for `command` on the stack whose settings these are. */
export function clusterRoleRules(command: ClusterCommand, settings: Settings): RoleRule[] {
  const name = DATABASE_NAME;
  const names = objectNames(name);
  // The passwords, and the CA (only with TLS on, the default); the members through port-forwards (a WebSocket
  // port-forward is a GET, authorized as get, and since Kubernetes 1.35 as create too).
  const engine: RoleRule[] = [
    { apiGroups: [""], resources: ["secrets"], resourceNames: [names.secret, tlsSecretName(names)], verbs: ["get"] },
    { apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"] },
  ];
  // After a switchover or failover the topology ConfigMap and the role labels follow the primary, as the agent does.
  const members = Array.from({ length: settings.replicas }, (_, ordinal) => memberPodName(names.statefulSet, ordinal));
  const pointing: RoleRule[] = [
    { apiGroups: [""], resources: ["configmaps"], resourceNames: [names.topology], verbs: ["patch"] },
    { apiGroups: [""], resources: ["services"], resourceNames: [names.primaryService], verbs: ["get"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
    { apiGroups: [""], resources: ["pods"], resourceNames: members, verbs: ["patch"] },
  ];
  switch (command) {
    case "status":
    case "setup":
      return engine;
    case "switchover":
    case "failover":
      return [...engine, ...pointing];
    case "agent": {
      // The agent in the cluster's own Role (its Lease and what it points), plus what reaching the members takes here.
      const role = buildAgentRole({ name, names, settings }) as { rules: RoleRule[] };
      return [...engine, ...role.rules];
    }
    case "backups": {
      const backup = backupNames(name);
      return [
        { apiGroups: ["batch"], resources: ["cronjobs"], resourceNames: [backup.cronJob], verbs: ["get"] },
        // The signing key, and the static S3 keys when the stack uses them (no IRSA).
        {
          apiGroups: [""],
          resources: ["secrets"],
          resourceNames: [names.secret, backup.credentialsSecret],
          verbs: ["get"],
        },
      ];
    }
    case "backup": {
      const backup = backupNames(name);
      return [
        { apiGroups: ["batch"], resources: ["cronjobs"], resourceNames: [backup.cronJob], verbs: ["get"] },
        // The clone token and signing key, the CA (TLS on), the static S3 keys (no IRSA); the donor port by port-forward.
        {
          apiGroups: [""],
          resources: ["secrets"],
          resourceNames: [names.secret, tlsSecretName(names), backup.credentialsSecret],
          verbs: ["get"],
        },
        { apiGroups: [""], resources: ["pods/portforward"], verbs: ["get", "create"] },
      ];
    }
  }
}

/** One rule in words, as the README lists it: "get secrets mysql-credentials, mysql-tls". */
export function describeRule(rule: RoleRule): string {
  const resources = rule.resources.map((r) => (rule.apiGroups[0] ? `${r}.${rule.apiGroups[0]}` : r)).join(", ");
  return `${rule.verbs.join(", ")} ${resources}${rule.resourceNames?.length ? ` ${rule.resourceNames.join(", ")}` : ""}`;
}
