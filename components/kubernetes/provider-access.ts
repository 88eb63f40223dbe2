/**
 * The cluster the default Kubernetes provider deploys to, read the way it reads it (`kubernetes:kubeconfig`, the
 * contents of a kubeconfig or a path to one, and `kubernetes:context`), so the dynamic providers talk to the same
 * cluster as the StatefulSet instead of falling back to whatever kubeconfig their process finds.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type * as pulumi from "@pulumi/pulumi";

export interface ProviderAccess {
  /** Kubeconfig contents (secret); undefined: the provider's default lookup (KUBECONFIG, ~/.kube/config). */
  kubeconfig?: pulumi.Output<string>;
  context?: string;
}

/** Kubeconfig contents from the provider setting: contents as given, or the file a path names. */
export function kubeconfigContents(
  value: string,
  readFile: (file: string) => string = (f) => fs.readFileSync(f, "utf8"),
): string {
  const trimmed = value.trim();
  if (trimmed.includes("\n") || trimmed.startsWith("{")) return value;
  const file = trimmed.startsWith("~/") ? path.join(os.homedir(), trimmed.slice(2)) : trimmed;
  try {
    return readFile(file);
  } catch (err) {
    throw new Error(`kubernetes:kubeconfig names the file ${file}, which cannot be read: ${(err as Error).message}`);
  }
}

export function kubernetesProviderAccess(config?: pulumi.Config): ProviderAccess {
  // Loaded here: kubeconfigContents serves `mysql-ha <command> --stack` too, which has no Pulumi engine to talk to.
  const sdk: typeof import("@pulumi/pulumi") = require("@pulumi/pulumi");
  config ??= new sdk.Config("kubernetes");
  const kubeconfig = config.get("kubeconfig");
  const context = config.get("context");
  return {
    ...(kubeconfig ? { kubeconfig: sdk.secret(kubeconfigContents(kubeconfig)) } : {}),
    ...(context ? { context } : {}),
  };
}
