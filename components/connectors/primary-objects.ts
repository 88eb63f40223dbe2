/**
 * What names the primary in Kubernetes: the topology ConfigMap (a starting pod is writable only if it is named there)
 * and the members' role labels (`mysql-ha/role: primary|replica`), which the primary Service's static selector picks
 * (the write endpoint). Whoever moves the primary (the providers, the rolling upgrade, the failover agent) points
 * them here: the ConfigMap first, then the labels, the old primary's removed before the new one's is set.
 *
 * The patches are JSON merge patches under the field manager `mysql-ha`. Pulumi's server-side applies never name
 * these fields (the ConfigMap's `primary`, pod labels), so they never own, conflict with or revert them.
 */
import type * as k8s from "@kubernetes/client-node";
import { memberPodName, ROLE_LABEL } from "../kubernetes/names";
import { TOPOLOGY_PRIMARY_KEY } from "../kubernetes/topology";
import { apiMessage, apiStatusCode, ClusterAccess, kubeConfigFor, loadKubernetesClient } from "./kube-config";

export const FIELD_MANAGER = "mysql-ha";
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
  /** The write endpoint: its selector (the members' labels plus the role label `primary`) says which pods are members. */
  primaryService: string;
}

/** A member pod as listed: its name and its role label (undefined when it has none, e.g. just recreated). */
export interface MemberPod {
  name: string;
  role?: string;
}

/** One role label to set. */
export interface RoleLabel {
  pod: string;
  role: "primary" | "replica";
}

/**
 * The role labels to set, in order, so that `primaryPod` is the only pod labelled primary and every other pod replica:
 * pods losing `primary` first, then the other replicas, the primary last. The primary Service then never selects two
 * pods, nor one that is not the primary (the engine made the old primary read-only before the move). Pods whose label
 * is right already are left alone.
 */
export function roleLabelChanges(pods: MemberPod[], primaryPod: string): RoleLabel[] {
  const wrong = pods.filter((p) => p.role !== (p.name === primaryPod ? "primary" : "replica"));
  const replicas = wrong
    .filter((p) => p.name !== primaryPod)
    .sort((a, b) => Number(b.role === "primary") - Number(a.role === "primary"));
  return [
    ...replicas.map((p): RoleLabel => ({ pod: p.name, role: "replica" })),
    ...wrong.filter((p) => p.name === primaryPod).map((p): RoleLabel => ({ pod: p.name, role: "primary" })),
  ];
}

/** "mysql-0 replica, mysql-2 primary", for logs and plans. */
export function describeRoleLabels(labels: RoleLabel[]): string {
  return labels.map((l) => `${l.pod} ${l.role}`).join(", ");
}

/**
 * The role labels the members need for primary `ordinal` (read only). The members are the pods the primary Service's
 * own selector picks without its role label, so the Service and the labels cannot disagree about which pods count.
 */
export async function staleRoleLabels(objects: PrimaryObjects, ordinal: number): Promise<RoleLabel[]> {
  const { core } = coreApi(objects);
  try {
    return await roleLabelsNeeded(core, objects, ordinal);
  } catch (err) {
    throw labelError(objects, ordinal, err);
  }
}

/**
 * Sets the members' role labels for primary `ordinal` (see roleLabelChanges), one pod at a time, stopping at the first
 * failure: the primary is never labelled while another pod still is. Returns the labels set.
 */
export async function labelRoles(objects: PrimaryObjects, ordinal: number): Promise<RoleLabel[]> {
  const { client, core } = coreApi(objects);
  const mergePatch = client.setHeaderOptions("Content-Type", client.PatchStrategy.MergePatch);
  const done: RoleLabel[] = [];
  try {
    for (const label of await roleLabelsNeeded(core, objects, ordinal)) {
      try {
        await core.patchNamespacedPod(
          {
            name: label.pod,
            namespace: objects.namespace,
            fieldManager: FIELD_MANAGER,
            body: { metadata: { labels: { [ROLE_LABEL]: label.role } } },
          },
          mergePatch,
        );
        done.push(label);
      } catch (err) {
        // Gone since the list: its replacement comes without the label and is labelled the next time.
        if (apiStatusCode(err) !== 404) throw err;
      }
    }
    return done;
  } catch (err) {
    throw labelError(objects, ordinal, err, done);
  }
}

async function roleLabelsNeeded(core: k8s.CoreV1Api, objects: PrimaryObjects, ordinal: number): Promise<RoleLabel[]> {
  const { namespace, primaryService } = objects;
  const selector = (await core.readNamespacedService({ name: primaryService, namespace })).spec?.selector ?? {};
  const { [ROLE_LABEL]: role, ...members } = selector;
  if (role !== "primary" || Object.keys(members).length === 0) {
    throw new Error(
      `Service ${namespace}/${primaryService} does not select the members by ${ROLE_LABEL}=primary (its selector: ${JSON.stringify(selector)}); pulumi up applies the program's`,
    );
  }
  const labelSelector = Object.entries(members)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");
  const pods = await core.listNamespacedPod({ namespace, labelSelector });
  const listed = pods.items.map((p): MemberPod => ({
    name: p.metadata?.name ?? "",
    role: p.metadata?.labels?.[ROLE_LABEL],
  }));
  return roleLabelChanges(listed, memberPodName(objects.statefulSet, ordinal));
}

function labelError(objects: PrimaryObjects, ordinal: number, err: unknown, done: RoleLabel[] = []): Error {
  const code = apiStatusCode(err);
  const partial = done.length ? ` (labelled before it: ${describeRoleLabels(done)})` : "";
  return new Error(
    `labelling the roles of the members of Service ${objects.namespace}/${objects.primaryService} for primary member ${ordinal} failed: ${apiMessage(err)}${code ? ` (HTTP ${code})` : ""}${partial}`,
  );
}

/**
 * Points the topology ConfigMap and then the role labels at member `ordinal`; idempotent. With `initial`, only when
 * the ConfigMap names no primary yet (first create); with `move`, records who moved it there. Returns the ordinal
 * the ConfigMap names afterwards and the labels set.
 */
export async function pointAtPrimary(
  objects: PrimaryObjects,
  ordinal: number,
  options: { initial?: boolean; move?: Omit<PrimaryMove, "to" | "at"> } = {},
): Promise<{ primary: number; labelled: RoleLabel[] }> {
  const { client, core } = coreApi(objects);
  const mergePatch = client.setHeaderOptions("Content-Type", client.PatchStrategy.MergePatch);
  const { namespace } = objects;
  try {
    if (options.initial) {
      const named = (await core.readNamespacedConfigMap({ name: objects.topologyConfigMap, namespace })).data?.[
        TOPOLOGY_PRIMARY_KEY
      ];
      if (named !== undefined && /^\d+$/.test(named)) return { primary: Number(named), labelled: [] };
    }
    await core.patchNamespacedConfigMap(
      {
        name: objects.topologyConfigMap,
        namespace,
        fieldManager: FIELD_MANAGER,
        body: {
          data: {
            [TOPOLOGY_PRIMARY_KEY]: String(ordinal),
            ...(options.move
              ? { [TOPOLOGY_MOVE_KEY]: JSON.stringify({ ...options.move, to: ordinal, at: new Date().toISOString() }) }
              : {}),
          },
        },
      },
      mergePatch,
    );
  } catch (err) {
    const code = apiStatusCode(err);
    throw new Error(
      `pointing ConfigMap ${namespace}/${objects.topologyConfigMap} at member ${ordinal} failed: ${apiMessage(err)}${code ? ` (HTTP ${code})` : ""}`,
    );
  }
  // After the ConfigMap: from now on a restarting old primary comes back read-only.
  return { primary: ordinal, labelled: await labelRoles(objects, ordinal) };
}

/** The last recorded move of the primary, if the topology ConfigMap holds a well-formed one. */
export async function lastPrimaryMove(objects: PrimaryObjects): Promise<PrimaryMove | undefined> {
  const { core } = coreApi(objects);
  const text = (await core.readNamespacedConfigMap({ name: objects.topologyConfigMap, namespace: objects.namespace }))
    .data?.[TOPOLOGY_MOVE_KEY];
  try {
    const move = text ? (JSON.parse(text) as PrimaryMove) : undefined;
    return move && Number.isInteger(move.to) && typeof move.by === "string" && typeof move.operation === "string"
      ? move
      : undefined;
  } catch {
    return undefined;
  }
}

function coreApi(objects: PrimaryObjects): { client: typeof k8s; core: k8s.CoreV1Api } {
  const client = loadKubernetesClient();
  return { client, core: kubeConfigFor(client, objects).makeApiClient(client.CoreV1Api) };
}
