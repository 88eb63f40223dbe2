/**
 * The program's objects that name the primary, in the Kubernetes API stand-in as `pulumi up` leaves them: the
 * rendered topology ConfigMap and primary Service (builders of components/kubernetes) server-side applied under
 * Pulumi's field manager; the stand-in's pods carry the members' template labels, so the Service's selector meets
 * real pod labels.
 */
import type { PrimaryObjects } from "../../components/connectors/primary-objects";
import { objectNames, ROLE_LABEL, selectorLabels } from "../../components/kubernetes/names";
import { buildPrimaryService } from "../../components/kubernetes/services";
import { buildTopologyConfigMap } from "../../components/kubernetes/topology";
import { KubeApiStandin, StandinOptions } from "../../local/kube-api-standin";

export const NAME = "mysql";
export const NAMES = objectNames(NAME);

/** A stand-in of the StatefulSet `mysql` whose pods come from the program's template labels. */
export function memberStandin(options: Partial<StandinOptions> = {}): KubeApiStandin {
  return new KubeApiStandin({
    namespace: "db",
    statefulSet: NAMES.statefulSet,
    replicas: 3,
    revision: "r1",
    createOnPatch: false,
    podLabels: selectorLabels(NAME),
    ...options,
  });
}

/** The topology ConfigMap and primary Service as the program renders them. */
export function renderedObjects(namespace = "db"): [object, object] {
  const base = {
    name: NAME,
    names: NAMES,
    settings: { namespace, serviceType: "ClusterIP" as const, loadBalancerSourceRanges: [] },
  };
  return [buildTopologyConfigMap(base), buildPrimaryService(base)];
}

/** Applies the rendered ConfigMap and Service as Pulumi does; returns the objects as the providers get them. */
export async function applyProgramObjects(api: KubeApiStandin): Promise<PrimaryObjects> {
  const [configMap, service] = renderedObjects(api.options.namespace);
  for (const [resource, manifest] of [
    ["configmaps", configMap],
    ["services", service],
  ] as const) {
    const applied = await api.serverSideApply(resource, manifest as never);
    if (applied.code >= 300) throw new Error(`applying ${resource}: ${applied.code} ${applied.body.message}`);
  }
  return {
    namespace: api.options.namespace,
    statefulSet: NAMES.statefulSet,
    topologyConfigMap: NAMES.topology,
    primaryService: NAMES.primaryService,
    kubeconfig: api.kubeconfig(),
  };
}

/** The role label of every pod of the stand-in, by pod name (undefined: none). */
export function roleLabels(api: KubeApiStandin): Record<string, string | undefined> {
  return Object.fromEntries(
    Array.from({ length: api.options.replicas }, (_, i) => [
      `${api.options.statefulSet}-${i}`,
      api.podLabels(i)?.[ROLE_LABEL],
    ]),
  );
}
