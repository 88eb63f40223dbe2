import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { commonLabels } from "./names";

/** The stack's namespace, unless it is `default` (always there) or config says it is managed elsewhere. */
export function buildNamespace(args: {
  name: string;
  settings: Pick<Settings, "namespace" | "createNamespace">;
}): k8s.core.v1.NamespaceArgs | undefined {
  const { namespace, createNamespace } = args.settings;
  if (!createNamespace || namespace === "default") return undefined;
  return { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: commonLabels(args.name) } };
}
