import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { commonLabels, MYSQL_PORT, ObjectNames, ROLE_LABEL, selectorLabels } from "./names";

export interface ServiceArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace" | "serviceType" | "loadBalancerSourceRanges">;
}

const mysqlPort = { name: "mysql", port: MYSQL_PORT, targetPort: "mysql", protocol: "TCP" };

/**
 * A database LoadBalancer stays inside the network: these make the AWS, GKE and AKS controllers provision an
 * internal load balancer (each ignores the others'), so serviceType=LoadBalancer never exposes it publicly.
 */
export const INTERNAL_LOAD_BALANCER_ANNOTATIONS: Record<string, string> = {
  "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
  "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
  "networking.gke.io/load-balancer-type": "Internal",
  "service.beta.kubernetes.io/azure-load-balancer-internal": "true",
};

const loadBalancerAnnotations = (type: Settings["serviceType"]): Record<string, string> =>
  type === "LoadBalancer" ? INTERNAL_LOAD_BALANCER_ANNOTATIONS : {};

/**
 * Headless Service governing the StatefulSet: stable DNS per member. Not-ready members are published too,
 * so the engine and peers can reach a lagging or joining member by name.
 */
export function buildHeadlessService(args: ServiceArgs): k8s.core.v1.ServiceArgs {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: args.names.headlessService, namespace: args.settings.namespace, labels: commonLabels(args.name) },
    spec: {
      clusterIP: "None",
      publishNotReadyAddresses: true,
      selector: selectorLabels(args.name),
      ports: [mysqlPort],
    },
  };
}

/** Metadata of the client endpoints (primary, read): role label, and the annotations their Service type needs. */
function endpointMetadata(
  args: ServiceArgs,
  name: string,
  role: "primary" | "read",
  annotations: Record<string, string> = {},
): k8s.types.input.meta.v1.ObjectMeta {
  const all = { ...loadBalancerAnnotations(args.settings.serviceType), ...annotations };
  return {
    name,
    namespace: args.settings.namespace,
    labels: { ...commonLabels(args.name), [ROLE_LABEL]: role },
    ...(Object.keys(all).length ? { annotations: all } : {}),
  };
}

/**
 * Annotations of the primary Service for the Pulumi Kubernetes provider:
 * - skipAwait: Pulumi would wait for an endpoint, but no pod is labelled primary before replication is set up, which
 *   runs after this Service (the placement depends on it, the StatefulSet on the placement): on first create that
 *   wait would never end.
 * - patchForce: stacks made by earlier versions have the selector under the providers' field manager (they pointed it
 *   at the primary's pod name); the program's apply takes it over instead of failing on the conflict.
 */
export const PRIMARY_SERVICE_ANNOTATIONS: Record<string, string> = {
  "pulumi.com/skipAwait": "true",
  "pulumi.com/patchForce": "true",
};

/**
 * Write endpoint: the member whose pod carries the role label `primary`. The selector is static; whoever moves the
 * primary relabels the pods instead (connectors/primary-objects.ts: the old primary loses the label before the new
 * one gets it), so Pulumi never rewrites it after a move.
 */
export function buildPrimaryService(args: ServiceArgs): k8s.core.v1.ServiceArgs {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: endpointMetadata(args, args.names.primaryService, "primary", PRIMARY_SERVICE_ANNOTATIONS),
    spec: {
      type: args.settings.serviceType,
      ...sourceRanges(args.settings),
      selector: { ...selectorLabels(args.name), [ROLE_LABEL]: "primary" },
      ports: [mysqlPort],
    },
  };
}

/** Who a LoadBalancer admits (config loadBalancerSourceRanges); other Service types take no source ranges. */
function sourceRanges(settings: ServiceArgs["settings"]): { loadBalancerSourceRanges?: string[] } {
  return settings.serviceType === "LoadBalancer" && settings.loadBalancerSourceRanges.length
    ? { loadBalancerSourceRanges: settings.loadBalancerSourceRanges }
    : {};
}

/** Read endpoint: every ready member; readiness drops replicas lagging more than readMaxLagSeconds. */
export function buildReadService(args: ServiceArgs): k8s.core.v1.ServiceArgs {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: endpointMetadata(args, args.names.readService, "read"),
    spec: {
      type: args.settings.serviceType,
      ...sourceRanges(args.settings),
      selector: selectorLabels(args.name),
      ports: [mysqlPort],
    },
  };
}
