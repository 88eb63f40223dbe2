/**
 * The two Kubernetes objects that name the primary: the topology ConfigMap (a starting pod is writable only if it
 * is named there) and the primary Service's pod-name selector (the write endpoint). The program creates both without
 * these fields; whoever moves the primary (the providers, the rolling upgrade, the failover agent) points them here.
 *
 * The patches are JSON merge patches under the field manager `mysql-ha`. Pulumi's server-side applies never name
 * these fields (a Service's selector is one atomic field), so they never own, conflict with or revert them.
 */
import type * as k8s from "@kubernetes/client-node";
import { apiMessage, apiStatusCode, ClusterAccess, kubeConfigFor, loadKubernetesClient } from "./kube-config";

export const FIELD_MANAGER = "mysql-ha";
export const POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name";
/** Key of the topology ConfigMap holding the primary ordinal (read by init-server.sh at every pod start). */
export const TOPOLOGY_PRIMARY_KEY = "primary";
/** Key of the topology ConfigMap recording the last move of the primary (JSON {@link PrimaryMove}). */
export const TOPOLOGY_MOVE_KEY = "last-move";

/** Who moved the primary, how and when: what `pulumi preview` reports after the agent moved it. */
export interface PrimaryMove {
  from: number | null;
  to: number;
  /** "the agent", "pulumi up", ... */
  by: string;
  /** "failover", "switchover", ... */
  operation: string;
  /** ISO time. */
  at: string;
}

export interface PrimaryObjects extends ClusterAccess {
  namespace: string;
  /** StatefulSet name; pod N is `<statefulSet>-N`. */
  statefulSet: string;
  topologyConfigMap: string;
  primaryService: string;
}

/**
 * Points the topology ConfigMap and the primary Service at member `ordinal`; idempotent. With `initial`, only when
 * the ConfigMap names no primary yet (first create); with `move`, records who moved it there. Returns the ordinal
 * the objects name afterwards.
 */
export async function pointAtPrimary(
  objects: PrimaryObjects,
  ordinal: number,
  options: { initial?: boolean; move?: Omit<PrimaryMove, "to" | "at"> } = {},
): Promise<number> {
  const { client, core } = coreApi(objects);
  const mergePatch = client.setHeaderOptions("Content-Type", client.PatchStrategy.MergePatch);
  const { namespace } = objects;
  try {
    if (options.initial) {
      const named = (await core.readNamespacedConfigMap({ name: objects.topologyConfigMap, namespace })).data?.[TOPOLOGY_PRIMARY_KEY];
      if (named !== undefined && /^\d+$/.test(named)) return Number(named);
    }
    await core.patchNamespacedConfigMap(
      { name: objects.topologyConfigMap, namespace, fieldManager: FIELD_MANAGER, body: { data: {
        [TOPOLOGY_PRIMARY_KEY]: String(ordinal),
        ...(options.move ? { [TOPOLOGY_MOVE_KEY]: JSON.stringify({ ...options.move, to: ordinal, at: new Date().toISOString() }) } : {}),
      } } },
      mergePatch,
    );
    await core.patchNamespacedService(
      { name: objects.primaryService, namespace, fieldManager: FIELD_MANAGER, body: { spec: { selector: { [POD_NAME_LABEL]: `${objects.statefulSet}-${ordinal}` } } } },
      mergePatch,
    );
    return ordinal;
  } catch (err) {
    const code = apiStatusCode(err);
    throw new Error(`pointing ConfigMap ${namespace}/${objects.topologyConfigMap} and Service ${namespace}/${objects.primaryService} at member ${ordinal} failed: ${apiMessage(err)}${code ? ` (HTTP ${code})` : ""}`);
  }
}

/** The last recorded move of the primary, if the topology ConfigMap holds a well-formed one. */
export async function lastPrimaryMove(objects: PrimaryObjects): Promise<PrimaryMove | undefined> {
  const { core } = coreApi(objects);
  const text = (await core.readNamespacedConfigMap({ name: objects.topologyConfigMap, namespace: objects.namespace })).data?.[TOPOLOGY_MOVE_KEY];
  try {
    const move = text ? (JSON.parse(text) as PrimaryMove) : undefined;
    return move && Number.isInteger(move.to) && typeof move.by === "string" && typeof move.operation === "string" ? move : undefined;
  } catch {
    return undefined;
  }
}

function coreApi(objects: PrimaryObjects): { client: typeof k8s; core: k8s.CoreV1Api } {
  const client = loadKubernetesClient();
  return { client, core: kubeConfigFor(client, objects).makeApiClient(client.CoreV1Api) };
}
