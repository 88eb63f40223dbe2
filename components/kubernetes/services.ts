import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { commonLabels, MYSQL_PORT, ObjectNames, selectorLabels } from "./names";

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

const loadBalancerAnnotations = (type: Settings["serviceType"]) =>
  type === "LoadBalancer" ? { annotations: INTERNAL_LOAD_BALANCER_ANNOTATIONS } : {};

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
function endpointMetadata(args: ServiceArgs, name: string, role: "primary" | "read"): k8s.types.input.meta.v1.ObjectMeta {
  return {
    name, namespace: args.settings.namespace, labels: { ...commonLabels(args.name), "mysql-ha/role": role },
    ...loadBalancerAnnotations(args.settings.serviceType),
  };
}

/**
 * Write endpoint. Its selector (the primary's `statefulset.kubernetes.io/pod-name`) is set by the providers under
 * their own field manager (connectors/primary-objects.ts): on first create before any pod exists, then after every
 * move. A Service's selector is one atomic field for server-side apply, so the program leaves it out entirely: its
 * applies then never own, conflict with or revert it.
 */
export function buildPrimaryService(args: ServiceArgs): k8s.core.v1.ServiceArgs {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: endpointMetadata(args, args.names.primaryService, "primary"),
    spec: { type: args.settings.serviceType, ...sourceRanges(args.settings), ports: [mysqlPort] },
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
