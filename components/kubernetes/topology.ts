import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { commonLabels, ObjectNames } from "./names";

/** Key of the topology ConfigMap holding the primary ordinal (read by init-server.sh at every pod start). */
export const TOPOLOGY_PRIMARY_KEY = "primary";

/**
 * ConfigMap naming the current primary ordinal under TOPOLOGY_PRIMARY_KEY. A pod starts writable only if it is
 * named here, so a restarted member never comes back as a second primary. The program creates it without that key:
 * the providers write it (first create: the configured primary, before any pod starts; then after every move).
 */
export function buildTopologyConfigMap(args: {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
}): k8s.core.v1.ConfigMapArgs {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: args.names.topology, namespace: args.settings.namespace, labels: commonLabels(args.name) },
  };
}
