import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import { commonLabels, ObjectNames } from "./names";

/** Key of the topology ConfigMap holding the primary ordinal (read by init-server.sh at every pod start). */
export const TOPOLOGY_PRIMARY_KEY = "primary";

/**
 * ConfigMap naming the current primary ordinal. A pod starts writable only if it is named here, so a restarted
 * member never comes back as a second primary. Mounted optional: pods may start before it exists (all read-only).
 */
export function buildTopologyConfigMap(args: { name: string; names: ObjectNames; settings: Pick<Settings, "namespace">; primary: pulumi.Input<number> }): k8s.core.v1.ConfigMapArgs {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: args.names.topology, namespace: args.settings.namespace, labels: commonLabels(args.name) },
    data: { [TOPOLOGY_PRIMARY_KEY]: pulumi.output(args.primary).apply((p) => String(p)) },
  };
}
