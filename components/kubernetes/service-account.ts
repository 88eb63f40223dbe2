import type * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import { commonLabels, ObjectNames } from "./names";

/**
 * The identity of the members and the backup Job: they never talk to the Kubernetes API, so no token is mounted
 * (a compromised database container gets no credentials for the cluster). Only the failover agent has one.
 */
export function buildWorkloadServiceAccount(args: {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
  /** Default: the members' account. */
  accountName?: string;
  /** With IRSA: the IAM role this account may assume (EKS injects its web-identity token, not an API token). */
  roleArn?: pulumi.Input<string>;
}): k8s.core.v1.ServiceAccountArgs {
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name: args.accountName ?? args.names.serviceAccount,
      namespace: args.settings.namespace,
      labels: commonLabels(args.name),
      ...(args.roleArn ? { annotations: { "eks.amazonaws.com/role-arn": args.roleArn } } : {}),
    },
    automountServiceAccountToken: false,
  };
}
