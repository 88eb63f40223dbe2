import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { commonLabels, ObjectNames, selectorLabels } from "./names";

/** At most one member voluntarily disrupted (drain, upgrade) at a time. */
export function buildPodDisruptionBudget(args: {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace">;
}): k8s.policy.v1.PodDisruptionBudgetArgs {
  return {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: {
      name: args.names.podDisruptionBudget,
      namespace: args.settings.namespace,
      labels: commonLabels(args.name),
    },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(args.name) } },
  };
}
