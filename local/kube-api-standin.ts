/**
 * A local stand-in for the few Kubernetes API endpoints the rolling-upgrade restarter uses (there is no cluster
 * here): GET a StatefulSet, GET/DELETE a pod. It plays the StatefulSet controller too: a deleted pod comes back
 * after `recreateMs` with the current update revision, and turns Ready after `readyMs`, or crash-loops when the
 * test says its revision is broken; or, with `onRecreate`, whatever the test does to stand in for the new pod (e.g.
 * restart a real local mariadbd with the new options). JSON patches of ConfigMaps and Services are applied to
 * plain objects the test can read. Plain HTTP on loopback; every request is recorded for assertions. The tests of
 * the Kubernetes restarter and the demo (local/demo/stack.ts, whose pods are local mariadbd) use it.
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";

export interface StandinOptions {
  namespace: string;
  statefulSet: string;
  replicas: number;
  /** Revision the existing pods run (and the StatefulSet's current revision). */
  revision: string;
  recreateMs?: number;
  readyMs?: number;
  /** Starts the replacement of pod `ordinal` on `revision`; resolves true when it is ready, false when it crashes. */
  onRecreate?: (ordinal: number, revision: string) => Promise<boolean>;
}

interface Pod {
  uid: string;
  revision: string;
  ready: boolean;
  restarts: number;
}

export class KubeApiStandin {
  readonly requests: string[] = [];
  /** Revisions whose pods never become Ready (their container crash-loops). */
  readonly broken = new Set<string>();
  /** ConfigMap data and Service selectors by name, as JSON patches left them. */
  readonly configMaps = new Map<string, Record<string, string>>();
  readonly serviceSelectors = new Map<string, Record<string, string>>();
  private readonly pods = new Map<number, Pod>();
  private updateRevision: string;
  private generation = 1;
  private observedGeneration = 1;
  private uidCounter = 0;
  private server?: http.Server;
  private timers = new Set<NodeJS.Timeout>();

  constructor(readonly options: StandinOptions) {
    this.updateRevision = options.revision;
    for (let i = 0; i < options.replicas; i++) this.pods.set(i, this.newPod(options.revision, true));
  }

  /** A template change: the controller observes it after `observeMs` (update revision moves then). */
  setTemplateRevision(revision: string, observeMs = 0): void {
    this.generation++;
    const generation = this.generation;
    this.later(observeMs, () => {
      this.updateRevision = revision;
      this.observedGeneration = generation;
    });
  }

  /** A scale of the StatefulSet: pods below `replicas` that are missing appear on the update revision, Ready. */
  setReplicas(replicas: number): void {
    this.options.replicas = replicas;
    for (const ordinal of this.pods.keys()) if (ordinal >= replicas) this.pods.delete(ordinal);
    for (let i = 0; i < replicas; i++) if (!this.pods.has(i)) this.pods.set(i, this.newPod(this.updateRevision, true));
  }

  /** The revision the controller stamps on new pods (the latest template it observed). */
  get currentTemplateRevision(): string {
    return this.updateRevision;
  }

  podRevision(ordinal: number): string | undefined {
    return this.pods.get(ordinal)?.revision;
  }

  /** Kubeconfig (YAML/JSON) pointing at this server. */
  kubeconfig(): string {
    const server = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "standin", cluster: { server, "insecure-skip-tls-verify": true } }],
      users: [{ name: "standin", user: { token: "standin-token" } }],
      contexts: [{ name: "standin", context: { cluster: "standin", user: "standin", namespace: this.options.namespace } }],
      "current-context": "standin",
    });
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
  }

  async stop(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? "/", "http://standin");
    this.requests.push(`${req.method} ${url.pathname}`);
    const { namespace, statefulSet } = this.options;
    const sts = url.pathname.match(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/statefulsets\/([^/]+)$/);
    const pod = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/);
    if (sts && req.method === "GET" && sts[1] === namespace && sts[2] === statefulSet) return send(res, 200, this.statefulSetObject());
    const patchable = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|services)\/([^/]+)$/);
    if (patchable && req.method === "PATCH" && patchable[1] === namespace) {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", () => {
        const kind = patchable[2];
        const store = kind === "configmaps" ? this.configMaps : this.serviceSelectors;
        const target = store.get(patchable[3]) ?? {};
        const prefix = kind === "configmaps" ? "/data/" : "/spec/selector/";
        for (const op of JSON.parse(body) as Array<{ op: string; path: string; value: string }>) {
          if (!["add", "replace"].includes(op.op) || !op.path.startsWith(prefix)) return send(res, 422, { kind: "Status", code: 422, message: `stand-in cannot apply ${op.op} ${op.path}` });
          target[op.path.slice(prefix.length).replace(/~1/g, "/").replace(/~0/g, "~")] = op.value;
        }
        store.set(patchable[3], target);
        send(res, 200, { metadata: { name: patchable[3], namespace } });
      });
      return;
    }
    if (pod && pod[1] === namespace) {
      const ordinal = this.ordinalOf(pod[2]);
      const current = ordinal === undefined ? undefined : this.pods.get(ordinal);
      if (ordinal === undefined || !current) return send(res, 404, notFound("pods", pod[2]));
      if (req.method === "GET") return send(res, 200, this.podObject(ordinal, current));
      if (req.method === "DELETE") {
        this.pods.delete(ordinal);
        this.later(this.options.recreateMs ?? 50, () => this.recreate(ordinal));
        return send(res, 200, this.podObject(ordinal, current));
      }
    }
    send(res, 404, { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: `stand-in does not serve ${req.method} ${url.pathname}` });
  }

  private recreate(ordinal: number): void {
    const pod = this.newPod(this.updateRevision, false);
    this.pods.set(ordinal, pod);
    if (this.options.onRecreate) {
      this.options.onRecreate(ordinal, pod.revision).then(
        (ready) => (ready ? (pod.ready = true) : (pod.restarts = 3)),
        () => (pod.restarts = 3),
      );
      return;
    }
    const tick = () => {
      if (this.pods.get(ordinal) !== pod) return;
      if (!this.broken.has(pod.revision)) {
        pod.ready = true;
        return;
      }
      pod.restarts++;
      this.later(this.options.readyMs ?? 50, tick);
    };
    this.later(this.options.readyMs ?? 50, tick);
  }

  private newPod(revision: string, ready: boolean): Pod {
    return { uid: `uid-${++this.uidCounter}`, revision, ready, restarts: 0 };
  }

  private ordinalOf(name: string): number | undefined {
    const m = name.match(/^(.*)-(\d+)$/);
    return m && m[1] === this.options.statefulSet ? Number(m[2]) : undefined;
  }

  private statefulSetObject(): object {
    return {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: this.options.statefulSet, namespace: this.options.namespace, generation: this.generation },
      spec: { replicas: this.options.replicas, updateStrategy: { type: "OnDelete" } },
      status: { observedGeneration: this.observedGeneration, currentRevision: this.options.revision, updateRevision: this.updateRevision },
    };
  }

  private podObject(ordinal: number, pod: Pod): object {
    const crashing = !pod.ready && pod.restarts > 0;
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${this.options.statefulSet}-${ordinal}`,
        namespace: this.options.namespace,
        uid: pod.uid,
        labels: { "controller-revision-hash": pod.revision, "statefulset.kubernetes.io/pod-name": `${this.options.statefulSet}-${ordinal}` },
      },
      status: {
        phase: "Running",
        conditions: [{ type: "Ready", status: pod.ready ? "True" : "False" }],
        containerStatuses: [
          {
            name: "mariadb",
            ready: pod.ready,
            restartCount: pod.restarts,
            image: "mariadb",
            imageID: "",
            state: crashing ? { waiting: { reason: "CrashLoopBackOff" } } : { running: {} },
            lastState: crashing ? { terminated: { reason: "Error", exitCode: 1 } } : {},
          },
        ],
      },
    };
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }
}

function notFound(kind: string, name: string): object {
  return { kind: "Status", apiVersion: "v1", status: "Failure", reason: "NotFound", code: 404, message: `${kind} "${name}" not found` };
}

function send(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
