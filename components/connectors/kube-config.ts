import type * as k8s from "@kubernetes/client-node";

/** Which cluster to talk to: the same kubeconfig and context as the Pulumi Kubernetes provider. */
export interface ClusterAccess {
  /** Kubeconfig contents (YAML or JSON). Default: the usual lookup (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Kubeconfig context to use instead of its current one. */
  context?: string;
  /**
   * The pod's ServiceAccount (KUBERNETES_SERVICE_HOST/PORT, token and ca.crt under
   * /var/run/secrets/kubernetes.io/serviceaccount) instead of any kubeconfig: what a process in the cluster uses.
   */
  inCluster?: boolean;
}

/**
 * @kubernetes/client-node is an ES module. Node's own require loads it (require(esm), Node >= 20.19); jest's module
 * registry does not, so go through Node's loader explicitly (same result outside jest).
 */
export function loadKubernetesClient(): typeof k8s {
  const { createRequire } = process.getBuiltinModule("node:module") as typeof import("node:module");
  return createRequire(__filename)("@kubernetes/client-node");
}

/** A KubeConfig for `access`; fails naming the context when it does not exist. */
export function kubeConfigFor(client: typeof k8s, access: ClusterAccess): k8s.KubeConfig {
  const config = new client.KubeConfig();
  if (access.inCluster) {
    // loadFromCluster does not check: without these it would build "https://undefined:undefined".
    if (!process.env.KUBERNETES_SERVICE_HOST || !process.env.KUBERNETES_SERVICE_PORT) {
      throw new Error(
        "not running in a pod: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set (outside a cluster, give a kubeconfig or an API URL)",
      );
    }
    config.loadFromCluster();
  } else if (access.kubeconfig) config.loadFromString(access.kubeconfig);
  else {
    config.loadFromDefault();
    // With nothing to load, the client falls back to an unauthenticated http://localhost:8080.
    const fallback = config.getCurrentCluster();
    if (fallback?.name === "cluster" && fallback.server === "http://localhost:8080") {
      throw new Error(
        "no kubeconfig: none given (kubernetes:kubeconfig), none in KUBECONFIG or ~/.kube/config, and not running in a pod",
      );
    }
  }
  if (access.context) {
    if (!config.getContextObject(access.context)) {
      throw new Error(
        `kubeconfig has no context '${access.context}' (contexts: ${
          config
            .getContexts()
            .map((c) => c.name)
            .join(", ") || "none"
        })`,
      );
    }
    config.setCurrentContext(access.context);
  }
  if (!config.getCurrentCluster()) throw new Error("kubeconfig: no current cluster");
  return config;
}

/** The HTTP status of a failed API call (the client's ApiException), if any. */
export function apiStatusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

/** The API server's Status message with its causes (a 422 says only "the server rejected our request" without them). */
export function apiMessage(err: unknown): string {
  const body = (err as { body?: unknown }).body;
  const status = typeof body === "string" ? safeJson(body) : (body as ApiStatus | undefined);
  if (!status?.message) return (err as Error).message;
  const causes = (status.details?.causes ?? []).map((c) => c.message).filter(Boolean);
  return causes.length ? `${status.message} (${causes.join("; ")})` : status.message;
}

interface ApiStatus {
  message?: string;
  details?: { causes?: Array<{ message?: string }> };
}

function safeJson(text: string): ApiStatus | undefined {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
