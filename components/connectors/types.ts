/**
 * Connectors give the replication engine a loopback address for every member, whatever the network between the
 * Pulumi process and the pods is: `direct` uses host:port as given, `kubernetes` opens a port-forward per pod.
 * The engine only ever sees `MemberAddress` values; `close()` tears down whatever the connector opened.
 */

/** Same shape as the engine's MemberAddress (components/replication): array index = member ordinal. */
export interface MemberEndpoint {
  host: string;
  port: number;
  /** Where the other members reach this one, when that differs from host:port (e.g. the pod's DNS name). */
  replicationHost?: string;
  replicationPort?: number;
}

/** Members reachable at fixed addresses (local mariadbd processes, VMs, a flat pod network). */
export interface DirectConnectorSpec {
  kind: "direct";
  /** "host:port" of each member, by ordinal. */
  members: string[];
}

/** Members are the pods `<statefulSet>-<ordinal>` of a StatefulSet, reached through the API server's port-forward. */
export interface KubernetesConnectorSpec {
  kind: "kubernetes";
  namespace: string;
  /** StatefulSet name; pod N is `<statefulSet>-N`. */
  statefulSet: string;
  /**
   * Headless Service of the StatefulSet: replicas reach member N at `<statefulSet>-N.<service>.<namespace>.svc[.
   * <clusterDomain>]`. Default: the StatefulSet name.
   */
  service?: string;
  /** Cluster DNS domain; default none: `...svc` resolves through the pods' DNS search path in any cluster. */
  clusterDomain?: string;
  /** Database port inside the pod. Default 3306. */
  port?: number;
  /** Kubeconfig contents (YAML or JSON). Default: the usual lookup (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Kubeconfig context to use instead of the current one. */
  context?: string;
}

export type ConnectorSpec = DirectConnectorSpec | KubernetesConnectorSpec;

export const CONNECTOR_KINDS = ["direct", "kubernetes"] as const;

/** Open connector: one endpoint per requested ordinal; close() releases tunnels. */
export interface OpenConnector {
  members: MemberEndpoint[];
  close(): Promise<void>;
  /** Why tunnels failed so far (e.g. "mysql-2: pods not found"), to explain unreachable members. */
  problems(): string[];
}
