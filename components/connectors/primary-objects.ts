/**
 * The two Kubernetes objects that name the primary: the topology ConfigMap (a starting pod is writable only if it
 * is named there) and the primary Service's pod-name selector (the write endpoint). Pulumi creates both once with
 * the configured primary and ignores later changes of these fields; whoever moves the primary (the providers right
 * after a switchover or failover, the rolling upgrade) points them at the new one here.
 *
 * The patches are JSON merge patches under the field manager `mysql-ha`, so the server records this manager as the
 * owner of the two fields; the Kubernetes provider's server-side apply then leaves fields that another manager
 * owns and that the program lists in ignoreChanges out of its own apply (pulumi-kubernetes #2566), instead of
 * conflicting with them or writing the old primary back.
 */
import { apiMessage, ClusterAccess, kubeConfigFor, loadKubernetesClient } from "./kube-config";

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
  const client = loadKubernetesClient();
  const core = kubeConfigFor(client, objects).makeApiClient(client.CoreV1Api);
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
    const code = (err as { code?: number }).code;
    throw new Error(`pointing ConfigMap ${namespace}/${objects.topologyConfigMap} and Service ${namespace}/${objects.primaryService} at member ${ordinal} failed: ${apiMessage(err)}${code ? ` (HTTP ${code})` : ""}`);
  }
}

/** The last recorded move of the primary, if the topology ConfigMap holds a well-formed one. */
export async function lastPrimaryMove(objects: PrimaryObjects): Promise<PrimaryMove | undefined> {
  const client = loadKubernetesClient();
  const core = kubeConfigFor(client, objects).makeApiClient(client.CoreV1Api);
  const text = (await core.readNamespacedConfigMap({ name: objects.topologyConfigMap, namespace: objects.namespace })).data?.[TOPOLOGY_MOVE_KEY];
  try {
    const move = text ? (JSON.parse(text) as PrimaryMove) : undefined;
    return move && Number.isInteger(move.to) && typeof move.by === "string" && typeof move.operation === "string" ? move : undefined;
  } catch {
    return undefined;
  }
}
