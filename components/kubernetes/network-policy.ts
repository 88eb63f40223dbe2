/**
 * Who may reach the members: a NetworkPolicy selecting the member pods that admits the database port only from the
 * members themselves, the failover agent, the backup Job and the application pods named by config, and the donor
 * port (full physical copies of the data) only from the members and the backup Job, and with `metrics` the
 * exporter's port (with the binlog archive, the archiver's metrics port) only from the monitoring namespace (its
 * Prometheus). Egress is left open: members
 * need DNS, each other and S3. The engine's port-forward arrives on the pod's loopback, which policies do not filter.
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import {
  ARCHIVE_METRICS_PORT,
  commonLabels,
  Component,
  componentSelector,
  DONOR_PORT,
  EXPORTER_PORT,
  MYSQL_PORT,
  ObjectNames,
  selectorLabels,
} from "./names";

type Peer = k8s.types.input.networking.v1.NetworkPolicyPeer;

export interface NetworkPolicyArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<
    Settings,
    | "namespace"
    | "clientNamespaceSelector"
    | "clientPodSelector"
    | "metrics"
    | "monitoringNamespace"
    | "backupEnabled"
    | "binlogArchive"
  >;
}

/** The application pods allowed to the database port: by default every pod of the stack's namespace. */
export function clientPeer(settings: NetworkPolicyArgs["settings"]): Peer {
  const namespaces = Object.keys(settings.clientNamespaceSelector).length
    ? settings.clientNamespaceSelector
    : { "kubernetes.io/metadata.name": settings.namespace };
  return { namespaceSelector: { matchLabels: namespaces }, podSelector: { matchLabels: settings.clientPodSelector } };
}

export function buildMemberNetworkPolicy(args: NetworkPolicyArgs): k8s.networking.v1.NetworkPolicyArgs {
  const { name, settings } = args;
  // Without a namespaceSelector a podSelector peer means pods of the policy's own namespace: the instance's.
  const pods = (component: Component): Peer => ({ podSelector: { matchLabels: componentSelector(name, component) } });
  const monitoring: Peer = {
    namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": settings.monitoringNamespace } },
  };
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name: args.names.networkPolicy, namespace: settings.namespace, labels: commonLabels(name) },
    spec: {
      podSelector: { matchLabels: selectorLabels(name) },
      policyTypes: ["Ingress"],
      ingress: [
        {
          ports: [{ protocol: "TCP", port: MYSQL_PORT }],
          from: [pods("database"), pods("agent"), pods("backup"), clientPeer(settings)],
        },
        { ports: [{ protocol: "TCP", port: DONOR_PORT }], from: [pods("database"), pods("backup")] },
        ...(settings.metrics ? [{ ports: [{ protocol: "TCP", port: EXPORTER_PORT }], from: [monitoring] }] : []),
        ...(settings.backupEnabled && settings.binlogArchive
          ? [{ ports: [{ protocol: "TCP", port: ARCHIVE_METRICS_PORT }], from: [monitoring] }]
          : []),
      ],
    },
  };
}
