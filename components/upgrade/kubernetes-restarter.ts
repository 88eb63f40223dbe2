/**
 * Kubernetes member restarts: the StatefulSet uses `updateStrategy: OnDelete`, so a pod takes the new template only
 * when deleted. Restarting member N deletes pod `<statefulset>-N` and waits for its replacement to carry the
 * StatefulSet's update revision (label controller-revision-hash = status.updateRevision) and to be Ready.
 *
 * Uses read StatefulSet, read pod, delete pod, and what naming the primary takes (connectors/primary-objects.ts:
 * a merge patch of the topology ConfigMap, read the primary Service, list the members' pods, patch their role labels);
 * local/kube-api-standin.ts serves these as strictly as the API server.
 */
import type * as k8s from "@kubernetes/client-node";
import { apiMessage, apiStatusCode, kubeConfigFor, loadKubernetesClient, pointAtPrimary } from "../connectors";
import { MemberRestarter, MemberRestartError, MemberRevision } from "./restarter";

export interface KubernetesRestarterArgs {
  namespace: string;
  /** StatefulSet name; pods are `<statefulSet>-<ordinal>`. */
  statefulSet: string;
  /** Kubeconfig file contents; default: the usual discovery (KUBECONFIG, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Kubeconfig context; default its current context. */
  context?: string;
  /** ConfigMap whose `primary` key names the primary ordinal (read by a starting pod); patched after a switchover. */
  topologyConfigMap?: string;
  /** Service selecting the primary pod by its role label; the members' role labels are set after a switchover. */
  primaryService?: string;
  /** How often to poll while waiting. Default 1000 ms. */
  pollMs?: number;
  /** A replacement pod whose container restarted this often (crash loop) fails the wait early. Default 3. */
  maxContainerRestarts?: number;
}

const REVISION_LABEL = "controller-revision-hash";

export class KubernetesRestarter implements MemberRestarter {
  readonly description: string;
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;

  constructor(private readonly args: KubernetesRestarterArgs) {
    const client = loadKubernetesClient();
    const config = kubeConfigFor(client, args);
    this.core = config.makeApiClient(client.CoreV1Api);
    this.apps = config.makeApiClient(client.AppsV1Api);
    this.description = `StatefulSet ${args.namespace}/${args.statefulSet}`;
  }

  async revisions(ordinals: number[]): Promise<MemberRevision[]> {
    const target = await this.updateRevision(Date.now() + 30000);
    return Promise.all(
      ordinals.map(async (ordinal) => {
        const pod = await this.readPod(ordinal);
        const revision = pod?.metadata?.labels?.[REVISION_LABEL];
        return {
          ordinal,
          revision,
          current: !!pod && !pod.metadata?.deletionTimestamp && revision === target,
          ready: isReady(pod),
        };
      }),
    );
  }

  async restart(ordinal: number, deadline: number): Promise<void> {
    const name = this.podName(ordinal);
    const old = await this.readPod(ordinal);
    const target = await this.updateRevision(deadline);
    try {
      await this.core.deleteNamespacedPod({ name, namespace: this.args.namespace });
    } catch (err) {
      if (apiStatusCode(err) !== 404)
        throw new MemberRestartError(
          ordinal,
          `member ${ordinal}: deleting pod ${this.args.namespace}/${name} failed: ${apiMessage(err)}`,
        );
    }
    let last = "no replacement pod yet";
    for (;;) {
      const pod = await this.readPod(ordinal);
      if (pod && pod.metadata?.uid !== old?.metadata?.uid && !pod.metadata?.deletionTimestamp) {
        const revision = pod.metadata?.labels?.[REVISION_LABEL];
        if (revision !== target) {
          last = `replacement pod has revision ${revision ?? "(none)"}, expected ${target}`;
        } else if (isReady(pod)) {
          return;
        } else {
          last = `pod ${name} not Ready${containerProblem(pod)}`;
          // An init container crash-looping keeps the pod Pending: count its restarts too.
          const restarts = Math.max(0, ...allContainerStatuses(pod).map((c) => c.restartCount ?? 0));
          if (restarts >= (this.args.maxContainerRestarts ?? 3)) {
            throw new MemberRestartError(
              ordinal,
              `member ${ordinal}: ${last}; its container restarted ${restarts} times (see kubectl -n ${this.args.namespace} logs ${name} --previous)`,
            );
          }
        }
      }
      if (Date.now() > deadline)
        throw new MemberRestartError(
          ordinal,
          `member ${ordinal}: pod ${this.args.namespace}/${name} did not come back on revision ${target} in time: ${last}`,
        );
      await sleep(this.args.pollMs ?? 1000);
    }
  }

  async namePrimary(ordinal: number): Promise<void> {
    const { topologyConfigMap, primaryService } = this.args;
    if (topologyConfigMap && primaryService)
      await pointAtPrimary({ ...this.args, topologyConfigMap, primaryService }, ordinal);
  }

  /** The StatefulSet's update revision, once its controller has seen the latest template (observedGeneration). */
  private async updateRevision(deadline: number): Promise<string> {
    for (;;) {
      let sts: k8s.V1StatefulSet;
      try {
        sts = await this.apps.readNamespacedStatefulSet({
          name: this.args.statefulSet,
          namespace: this.args.namespace,
        });
      } catch (err) {
        throw new Error(`reading ${this.description} failed: ${apiMessage(err)}`);
      }
      const seen = (sts.status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0);
      if (seen && sts.status?.updateRevision) return sts.status.updateRevision;
      if (Date.now() > deadline)
        throw new Error(
          `${this.description}: controller has not observed generation ${sts.metadata?.generation} yet (no update revision)`,
        );
      await sleep(this.args.pollMs ?? 1000);
    }
  }

  private async readPod(ordinal: number): Promise<k8s.V1Pod | undefined> {
    try {
      return await this.core.readNamespacedPod({ name: this.podName(ordinal), namespace: this.args.namespace });
    } catch (err) {
      if (apiStatusCode(err) === 404) return undefined;
      throw new Error(`reading pod ${this.args.namespace}/${this.podName(ordinal)} failed: ${apiMessage(err)}`);
    }
  }

  private podName(ordinal: number): string {
    return `${this.args.statefulSet}-${ordinal}`;
  }
}

function isReady(pod: k8s.V1Pod | undefined): boolean {
  return !!pod?.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
}

function allContainerStatuses(pod: k8s.V1Pod): k8s.V1ContainerStatus[] {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
}

/** Why a pod's containers are not running, e.g. ": mysql CrashLoopBackOff (Error, exit 1)". */
function containerProblem(pod: k8s.V1Pod): string {
  const problems = allContainerStatuses(pod).flatMap((c) => {
    const waiting = c.state?.waiting?.reason;
    // Waiting for the init containers is a consequence, not the problem.
    if (waiting === "PodInitializing") return [];
    const terminated = c.lastState?.terminated;
    if (!waiting && !terminated) return [];
    const detail = terminated ? ` (${terminated.reason ?? "terminated"}, exit ${terminated.exitCode})` : "";
    return [`${c.name} ${waiting ?? "restarting"}${detail}`];
  });
  return problems.length ? `: ${problems.join(", ")}` : "";
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
