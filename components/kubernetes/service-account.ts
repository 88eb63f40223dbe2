import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { commonLabels, ObjectNames } from "./names";

/**
 * The identity of the members and the backup Job: they never talk to the Kubernetes API, so no token is mounted
 * (a compromised database container gets no credentials for the cluster). Only the failover agent has one.
 */
export function buildWorkloadServiceAccount(args: { name: string; names: ObjectNames; settings: Pick<Settings, "namespace"> }): k8s.core.v1.ServiceAccountArgs {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: args.names.serviceAccount, namespace: args.settings.namespace, labels: commonLabels(args.name) },
    automountServiceAccountToken: false,
  };
}
