/**
 * A local stand-in for the Kubernetes API endpoints the rolling-upgrade restarter and the failover agent use (there is
 * no cluster here): GET a StatefulSet, GET/DELETE/PATCH (labels) a pod, list pods by label selector, GET/PUT/PATCH a
 * ConfigMap, Service, Secret or CronJob, GET/POST/PUT a Lease, a pod's port-forward (to a local server standing in for
 * the pod), and, when given users, bearer-token authentication and RBAC. It answers as strictly as the real API
 * server (Status objects, resourceVersion preconditions, the four patch types, server-side apply field ownership)
 * and plays the StatefulSet controller and the kubelet with their real timing: a deleted pod stays Terminating for
 * its grace period (`recreateMs`), its replacement goes Pending (init containers, `initMs`) -> Running -> Ready after
 * `readyMs`, or crash-loops when the test marks its revision broken; or, with `onRecreate`, whatever the test does to
 * stand in for the new pod (e.g. restart a real local mariadbd with the new options). Plain HTTP on loopback; every
 * request is recorded for assertions. The tests of the Kubernetes restarter, of the CLI's cluster mode and the demo
 * (local/demo/stack.ts, whose pods are local mariadbd) use it.
 */
import * as http from "node:http";
import { AddressInfo } from "node:net";
import type * as net from "node:net";
import * as yaml from "js-yaml";
import { PodAddress, PORT_FORWARD_PATH, PortForwards, refuseUpgrade } from "./port-forward";

export interface StandinOptions {
  namespace: string;
  statefulSet: string;
  replicas: number;
  /** Revision the existing pods run (and the StatefulSet's current revision). */
  revision: string;
  /** A deleted pod's grace period: it stays Terminating this long before the controller replaces it. */
  recreateMs?: number;
  /** How long a new pod's init containers run (phase Pending) before its main container starts. Default 10. */
  initMs?: number;
  readyMs?: number;
  /** Starts the replacement of pod `ordinal` on `revision`; resolves true when it is ready, false when it crashes. */
  onRecreate?: (ordinal: number, revision: string) => Promise<boolean>;
  /** The StatefulSet's spec.podManagementPolicy; the API server defaults it to OrderedReady. */
  podManagementPolicy?: "OrderedReady" | "Parallel";
  /** Labels of the StatefulSet's pod template: every new pod starts with these (and none it was given later). */
  podLabels?: Record<string, string>;
  /**
   * Called after each write the server accepted (method and path), before it answers: a test can look at the
   * state at that moment, e.g. what a Service selects between two label patches.
   */
  onWrite?: (request: string) => void | Promise<void>;
  /**
   * A PATCH of a ConfigMap or Service that does not exist creates it. The real API server answers 404 NotFound;
   * default true only because local/demo/stack.ts never tells the stand-in about the ConfigMap Pulumi applies.
   */
  createOnPatch?: boolean;
  /**
   * Authentication and RBAC: bearer token -> the user and the rules of its Roles in the namespace. Unset: every
   * request is allowed (the tests of the engine's own calls). Set: an unknown token gets 401, a request no rule allows
   * 403 with the API server's Status, before anything else is looked at.
   */
  users?: Record<string, { name: string; rules: PolicyRule[] }>;
  /**
   * Where a port-forward to pod `ordinal`'s `port` goes (GET .../pods/<pod>/portforward?ports=N upgraded to a
   * WebSocket, as kubectl port-forward and the Kubernetes connector use it); unset: port-forward is not served.
   */
  portForward?: (ordinal: number, port: number) => PodAddress | undefined;
}

interface Pod {
  uid: string;
  revision: string;
  created: string;
  resourceVersion: string;
  phase: "Pending" | "Running";
  /** Init containers finished (condition Initialized). */
  initialized: boolean;
  ready: boolean;
  restarts: number;
  initRestarts: number;
  deletionTimestamp?: string;
  /** metadata.labels: the template's and the controller's at creation, then as patched. */
  labels: Record<string, string>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };
type Resource = "configmaps" | "services" | "secrets" | "cronjobs";
type FieldPath = string[];

interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  time: string;
  /** Owned leaf fields, as JSON-encoded paths. */
  fields: Set<string>;
}

interface StoredObject {
  body: JsonObject;
  managed: ManagedFieldsEntry[];
}

/** Maps whose `+mapType=atomic` makes them one field for field management (core/v1 types.go: ServiceSpec.Selector). */
const ATOMIC_PATHS: Record<Resource, string[]> = {
  configmaps: [],
  services: [JSON.stringify(["spec", "selector"])],
  secrets: [],
  cronjobs: [],
};
/** Not managed fields: identity, server-set metadata, and status (a subresource's). */
const UNMANAGED = new Set([
  "apiVersion",
  "kind",
  "status",
  "metadata.name",
  "metadata.namespace",
  "metadata.uid",
  "metadata.resourceVersion",
  "metadata.generation",
  "metadata.creationTimestamp",
  "metadata.managedFields",
]);
const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
];
const KINDS: Record<Resource, string> = {
  configmaps: "ConfigMap",
  services: "Service",
  secrets: "Secret",
  cronjobs: "CronJob",
};
const API_VERSIONS: Record<Resource, string> = {
  configmaps: "v1",
  services: "v1",
  secrets: "v1",
  cronjobs: "batch/v1",
};

/** A rule of an RBAC Role (rbac.authorization.k8s.io/v1 PolicyRule). */
export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** What the authorizer is asked about one request (the API server's request attributes). */
interface Attributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace: string;
}

/** An API error, answered as the real server's metav1.Status. */
class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: object,
  ) {
    super(message);
  }
}

/** ConfigMap data or Service selector by object name (the object's own field, live). */
export interface FieldView {
  get(name: string): Record<string, string> | undefined;
  /** Deletes the whole object. */
  delete(name: string): boolean;
}

export class KubeApiStandin {
  readonly requests: string[] = [];
  /** Revisions whose pods never become Ready (their container crash-loops). */
  readonly broken = new Set<string>();
  /** Revisions whose pods never start (their init container crash-loops). */
  readonly brokenInit = new Set<string>();
  readonly configMaps: FieldView = this.view("configmaps", ["data"]);
  readonly serviceSelectors: FieldView = this.view("services", ["spec", "selector"]);
  /** With StandinOptions.users: the token serverSideApply uses (Pulumi's own user); it must be allowed to apply. */
  adminToken = "standin-token";
  /** Port-forward sessions (see StandinOptions.portForward). */
  readonly forwards = new PortForwards();
  /** While true, every Lease request fails with 503 (an API server that cannot reach etcd). */
  leaseOutage = false;
  private readonly objects = new Map<string, StoredObject>();
  /** Leases by name, as stored (GET answers them as they are). */
  private readonly leases = new Map<string, JsonObject>();
  private readonly pods = new Map<number, Pod>();
  /** Ordinals whose pod was deleted through the API: the next pod there is its replacement (`onRecreate`). */
  private readonly deleted = new Set<number>();
  private updateRevision: string;
  private generation = 1;
  private observedGeneration = 1;
  private uidCounter = 0;
  /** etcd's revision: every write takes the next; an object's resourceVersion is the revision of its last write. */
  private revisionCounter = 1;
  private statefulSetVersion = "1";
  private server?: http.Server;
  private timers = new Set<NodeJS.Timeout>();

  constructor(readonly options: StandinOptions) {
    this.updateRevision = options.revision;
    for (let i = 0; i < options.replicas; i++) {
      const pod = this.newPod(i, options.revision);
      Object.assign(pod, { phase: "Running", initialized: true, ready: true });
      this.pods.set(i, pod);
    }
  }

  /** A template change: the controller observes it after `observeMs` (update revision moves then). */
  setTemplateRevision(revision: string, observeMs = 0): void {
    this.generation++;
    this.statefulSetVersion = this.nextVersion();
    const generation = this.generation;
    this.later(observeMs, () => {
      this.updateRevision = revision;
      // status.observedGeneration only grows: a scale observed meanwhile already saw a later generation.
      this.observedGeneration = Math.max(this.observedGeneration, generation);
      this.statefulSetVersion = this.nextVersion();
    });
  }

  /**
   * A scale of the StatefulSet. The controller creates missing pods on the update revision and deletes those beyond
   * `replicas`, in the order its podManagementPolicy allows; new pods turn Ready after `readyMs`.
   */
  setReplicas(replicas: number): void {
    this.options.replicas = replicas;
    this.generation++;
    this.observedGeneration = this.generation;
    this.sync();
  }

  /** The revision the controller stamps on new pods (the latest template it observed). */
  get currentTemplateRevision(): string {
    return this.updateRevision;
  }

  /** A Lease as stored, or undefined. */
  lease(name: string): any {
    const stored = this.leases.get(name);
    return stored && structuredClone(stored);
  }

  podRevision(ordinal: number): string | undefined {
    return this.pods.get(ordinal)?.revision;
  }

  /** A pod's labels as stored, or undefined when there is no pod. */
  podLabels(ordinal: number): Record<string, string> | undefined {
    const pod = this.pods.get(ordinal);
    return pod && { ...pod.labels };
  }

  /**
   * The pods a Service routes to, as the endpoints controller picks them: the pods its selector matches (a Service
   * without a selector gets no endpoints from it), not terminating and Ready, unless publishNotReadyAddresses takes
   * those too. Sorted by name.
   */
  serviceEndpoints(name: string): string[] {
    const spec = (this.objects.get(`services/${name}`)?.body.spec ?? {}) as JsonObject;
    const selector = (spec.selector ?? {}) as Record<string, string>;
    if (Object.keys(selector).length === 0) return [];
    const all = spec.publishNotReadyAddresses === true;
    return [...this.pods.entries()]
      .filter(
        ([, pod]) =>
          Object.entries(selector).every(([k, v]) => pod.labels[k] === v) &&
          (all || (!pod.deletionTimestamp && runningAndReady(pod))),
      )
      .map(([ordinal]) => `${this.options.statefulSet}-${ordinal}`)
      .sort();
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  /** Kubeconfig (YAML/JSON) pointing at this server: one context per token (default the one any request passes with). */
  kubeconfig(contexts: Record<string, string> = { standin: "standin-token" }): string {
    const names = Object.keys(contexts);
    return JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "standin", cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: names.map((name) => ({ name, user: { token: contexts[name] } })),
      contexts: names.map((name) => ({
        name,
        context: { cluster: "standin", user: name, namespace: this.options.namespace },
      })),
      "current-context": names[0],
    });
  }

  /**
   * What the Kubernetes provider does with a ConfigMap or Service of the program: a server-side apply of the rendered
   * object under its field manager, forced only when the object's annotation pulumi.com/patchForce asks for it,
   * through this server's HTTP API. Resolves to the status code and body.
   */
  async serverSideApply(
    resource: Resource,
    manifest: { metadata: { name: string; annotations?: Record<string, string> } },
    fieldManager = "pulumi-kubernetes",
    force = manifest.metadata.annotations?.["pulumi.com/patchForce"] === "true",
  ): Promise<{ code: number; body: any }> {
    const name = manifest.metadata.name;
    const group = API_VERSIONS[resource] === "v1" ? "api/v1" : `apis/${API_VERSIONS[resource]}`;
    const url = `${this.url}/${group}/namespaces/${this.options.namespace}/${resource}/${name}?fieldManager=${fieldManager}${force ? "&force=true" : ""}`;
    const headers = {
      "content-type": "application/apply-patch+yaml",
      ...(this.options.users ? { authorization: `Bearer ${this.adminToken}` } : {}),
    };
    const res = await fetch(url, { method: "PATCH", headers, body: JSON.stringify(manifest) }).catch((err) => {
      throw new Error(`server-side apply of ${resource}/${name}: ${err.message} (${err.cause?.message ?? "no cause"})`);
    });
    return { code: res.status, body: await res.json() };
  }

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = "";
      req.on("data", (chunk) => (body += chunk));
      req.on("end", async () => {
        try {
          const [code, out] = this.handle(req, body);
          if (req.method !== "GET" && this.options.onWrite)
            await this.options.onWrite(this.requests[this.requests.length - 1]);
          send(res, code, out);
        } catch (err) {
          const e =
            err instanceof ApiError
              ? err
              : new ApiError(500, "InternalError", `Internal error occurred: ${(err as Error).message}`);
          send(res, e.code, statusOf(e));
        }
      });
    });
    this.server.on("upgrade", (req: http.IncomingMessage, socket: net.Socket, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
  }

  /**
   * A port-forward upgrade, through the API server's filters in their order: authentication (401), authorization of
   * the request's own verb, `get` for a WebSocket's GET, and then of `create` (the check Kubernetes 1.35 adds for
   * WebSocket upgrades of pods/portforward, feature gate AuthorizePodWebsocketUpgradeCreatePermission, on by
   * default), each 403; the pod lookup (404); then the kubelet (400 without a port).
   */
  private upgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    const url = new URL(req.url ?? "/", "http://standin");
    this.requests.push(`UPGRADE ${url.pathname}`);
    const refuse = (e: ApiError) =>
      refuseUpgrade(socket, e.code, http.STATUS_CODES[e.code] ?? "Error", JSON.stringify(statusOf(e)));
    const match = PORT_FORWARD_PATH.exec(url.pathname);
    try {
      const user = this.authenticate(req);
      if (!match || !this.options.portForward)
        throw new ApiError(404, "NotFound", "the server could not find the requested resource");
      const [, namespace, name] = match;
      for (const verb of ["get", "create"])
        this.authorize(user, { verb, group: "", resource: "pods", subresource: "portforward", name, namespace });
      const ordinal = this.ordinalOf(name);
      const port = Number(url.searchParams.get("ports"));
      const pod =
        namespace === this.options.namespace && ordinal !== undefined && this.pods.get(ordinal)
          ? this.options.portForward(ordinal, port)
          : undefined;
      if (!pod) throw notFound("pods", name);
      this.forwards.accept(req, socket, head, namespace, name, pod);
    } catch (err) {
      refuse(err instanceof ApiError ? err : new ApiError(500, "InternalError", (err as Error).message));
    }
  }

  /** The user a request's bearer token names (undefined when the stand-in checks nobody); 401 for any other token. */
  private authenticate(req: http.IncomingMessage): { name: string; rules: PolicyRule[] } | undefined {
    if (!this.options.users) return undefined;
    const token = (req.headers.authorization ?? "").replace(/^Bearer /, "");
    const user = Object.hasOwn(this.options.users, token) ? this.options.users[token] : undefined;
    if (!user) throw new ApiError(401, "Unauthorized", "Unauthorized");
    return user;
  }

  /**
   * RBAC: allowed when one rule names the API group, the resource (with its subresource: "pods/portforward"), the
   * verb and, when it lists resourceNames, the object's name (so a named rule never allows list or create, which name
   * none). Denied: 403 Forbidden with the message the API server writes (forbiddenMessage of its authorization filter).
   */
  private authorize(user: { name: string; rules: PolicyRule[] } | undefined, a: Attributes): void {
    if (!user) return;
    const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
    const has = (list: string[], value: string) => list.includes(value) || list.includes("*");
    const allowed = user.rules.some(
      (r) =>
        has(r.apiGroups, a.group) &&
        has(r.resources, resource) &&
        has(r.verbs, a.verb) &&
        (!r.resourceNames?.length || (a.name !== undefined && r.resourceNames.includes(a.name))),
    );
    if (allowed) return;
    const qualified = a.group ? `${a.resource}.${a.group}` : a.resource;
    const why = `User "${user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" in the namespace "${a.namespace}"`;
    throw new ApiError(
      403,
      "Forbidden",
      a.name ? `${qualified} "${a.name}" is forbidden: ${why}` : `${qualified} is forbidden: ${why}`,
      {
        ...(a.name ? { name: a.name } : {}),
        ...(a.group ? { group: a.group } : {}),
        kind: a.resource,
      },
    );
  }

  async stop(): Promise<void> {
    this.forwards.closeAll();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, body: string): [number, object] {
    const url = new URL(req.url ?? "/", "http://standin");
    this.requests.push(`${req.method} ${url.pathname}`);
    const user = this.authenticate(req);
    const attributes = requestAttributes(req.method ?? "GET", url);
    if (attributes) this.authorize(user, attributes);
    const { namespace, statefulSet } = this.options;
    const sts = url.pathname.match(/^\/apis\/apps\/v1\/namespaces\/([^/]+)\/statefulsets\/([^/]+)$/);
    if (sts && req.method === "GET") {
      if (sts[1] !== namespace || sts[2] !== statefulSet) throw notFound("statefulsets", sts[2], "apps");
      return [200, this.statefulSetObject()];
    }
    const lease = url.pathname.match(/^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/([^/]+)\/leases(?:\/([^/]+))?$/);
    if (lease && lease[1] === namespace) return this.handleLease(req.method ?? "GET", lease[2], body);
    const object =
      url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|services|secrets)\/([^/]+)$/) ??
      url.pathname.match(/^\/apis\/batch\/v1\/namespaces\/([^/]+)\/(cronjobs)\/([^/]+)$/);
    if (object && object[1] === namespace) return this.handleObject(req, url, object[2] as Resource, object[3], body);
    if (url.pathname === `/api/v1/namespaces/${namespace}/pods` && req.method === "GET")
      return [200, this.listPods(url.searchParams.get("labelSelector") ?? "")];
    const pod = url.pathname.match(/^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/);
    if (pod && pod[1] === namespace && (req.method === "GET" || req.method === "DELETE" || req.method === "PATCH")) {
      const ordinal = this.ordinalOf(pod[2]);
      const current = ordinal === undefined ? undefined : this.pods.get(ordinal);
      if (ordinal === undefined || !current) throw notFound("pods", pod[2]);
      if (req.method === "DELETE") {
        this.deleted.add(ordinal);
        this.terminate(ordinal);
      }
      if (req.method === "PATCH")
        this.patchPod(ordinal, current, (req.headers["content-type"] ?? "").split(";")[0].trim(), body);
      return [200, this.podObject(ordinal, current)];
    }
    throw new ApiError(404, "NotFound", `stand-in does not serve ${req.method} ${url.pathname}`);
  }

  private handleObject(
    req: http.IncomingMessage,
    url: URL,
    resource: Resource,
    name: string,
    body: string,
  ): [number, object] {
    const key = `${resource}/${name}`;
    const stored = this.objects.get(key);
    if (req.method === "GET") {
      if (!stored) throw notFound(resource, name);
      return [200, this.render(stored)];
    }
    const manager = url.searchParams.get("fieldManager") ?? managerFromUserAgent(req.headers["user-agent"]);
    if (req.method === "PUT") {
      if (!stored) throw notFound(resource, name);
      const next = parseJson(body) as JsonObject;
      if ((next.metadata as JsonObject | undefined)?.name !== name)
        throw new ApiError(
          400,
          "BadRequest",
          `the name of the object (${(next.metadata as JsonObject | undefined)?.name}) does not match the name on the URL (${name})`,
        );
      return [200, this.update(resource, name, stored, next, manager)];
    }
    if (req.method !== "PATCH")
      throw new ApiError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource`);
    // Content negotiation of the patch handler: the media type names the patch strategy (API conventions, "Patch operations").
    const type = (req.headers["content-type"] ?? "").split(";")[0].trim();
    if (!PATCH_TYPES.includes(type)) {
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`,
      );
    }
    const force = url.searchParams.get("force");
    // PatchOptions validation (apimachinery ValidatePatchOptions): 422 Invalid.
    if (type === "application/apply-patch+yaml" && !url.searchParams.get("fieldManager")) {
      throw new ApiError(
        422,
        "Invalid",
        `PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch`,
      );
    }
    if (type !== "application/apply-patch+yaml" && force !== null) {
      throw new ApiError(
        422,
        "Invalid",
        `PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch`,
      );
    }
    if (type === "application/apply-patch+yaml")
      return this.apply(resource, name, stored, yaml.load(body) as JsonObject, manager, force === "true");
    if (!stored && !(this.options.createOnPatch ?? true)) throw notFound(resource, name);
    const current = stored ?? this.create(resource, name, {});
    const patched =
      type === "application/json-patch+json"
        ? jsonPatch(current.body, parseJson(body) as JsonPatchOp[])
        : (mergePatch(current.body, parseJson(body)) as JsonObject);
    return [200, this.update(resource, name, current, patched, manager)];
  }

  /**
   * coordination.k8s.io/v1 Leases, as the API server stores them: GET, POST (create; 409 AlreadyExists), PUT (404
   * when missing, 409 Conflict when metadata.resourceVersion is not the stored one; without one the update is
   * unconditional, as Leases allow). Spec times are MicroTime (RFC 3339 with exactly 6 fractional digits; anything
   * else fails decoding with 400) and leaseDurationSeconds must be positive (422).
   */
  private handleLease(method: string, name: string | undefined, body: string): [number, object] {
    if (this.leaseOutage)
      throw new ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request");
    const group = "coordination.k8s.io";
    if (method === "GET" && name) {
      const stored = this.leases.get(name);
      if (!stored) throw notFound("leases", name, group);
      return [200, stored];
    }
    if (method === "POST" && !name) {
      const next = this.decodeLease(body);
      const wanted = (next.metadata as JsonObject | undefined)?.name;
      if (typeof wanted !== "string" || !wanted)
        throw new ApiError(
          422,
          "Invalid",
          `Lease.${group} "" is invalid: metadata.name: Required value: name or generateName is required`,
        );
      if (this.leases.has(wanted))
        throw new ApiError(409, "AlreadyExists", `leases.${group} "${wanted}" already exists`, {
          name: wanted,
          group,
          kind: "leases",
        });
      const created = {
        uid: `uid-${++this.uidCounter}`,
        creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
      };
      return [201, this.writeLease(wanted, next, created)];
    }
    if (method === "PUT" && name) {
      const stored = this.leases.get(name);
      if (!stored) throw notFound("leases", name, group);
      const next = this.decodeLease(body);
      const meta = (next.metadata as JsonObject | undefined) ?? {};
      if (meta.name !== name)
        throw new ApiError(
          400,
          "BadRequest",
          `the name of the object (${meta.name}) does not match the name on the URL (${name})`,
        );
      const current = stored.metadata as JsonObject;
      if (meta.resourceVersion && meta.resourceVersion !== current.resourceVersion) {
        throw new ApiError(
          409,
          "Conflict",
          `Operation cannot be fulfilled on leases.${group} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name, group, kind: "leases" },
        );
      }
      return [200, this.writeLease(name, next, { uid: current.uid, creationTimestamp: current.creationTimestamp })];
    }
    throw new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource");
  }

  private decodeLease(body: string): JsonObject {
    const lease = parseJson(body) as JsonObject;
    if (
      (lease.kind !== undefined && lease.kind !== "Lease") ||
      (lease.apiVersion !== undefined && lease.apiVersion !== "coordination.k8s.io/v1")
    ) {
      throw new ApiError(
        400,
        "BadRequest",
        `the API version in the data (${lease.apiVersion}) does not match the expected API version (coordination.k8s.io/v1)`,
      );
    }
    const ns = (lease.metadata as JsonObject | undefined)?.namespace;
    if (ns !== undefined && ns !== this.options.namespace)
      throw new ApiError(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    const spec = (lease.spec as JsonObject | undefined) ?? {};
    for (const field of ["acquireTime", "renewTime"]) {
      const value = spec[field];
      // metav1.MicroTime.UnmarshalJSON parses with RFC3339Micro ("2006-01-02T15:04:05.000000Z07:00").
      if (
        value !== undefined &&
        value !== null &&
        (typeof value !== "string" || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$/.test(value))
      ) {
        throw new ApiError(
          400,
          "BadRequest",
          `Lease in version "v1" cannot be handled as a Lease: parsing time ${JSON.stringify(value)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse as RFC3339Micro`,
        );
      }
    }
    const duration = spec.leaseDurationSeconds;
    if (duration !== undefined && duration !== null && (!Number.isInteger(duration) || (duration as number) <= 0)) {
      throw new ApiError(
        422,
        "Invalid",
        `Lease.coordination.k8s.io is invalid: spec.leaseDurationSeconds: Invalid value: ${JSON.stringify(duration)}: must be greater than 0`,
      );
    }
    const transitions = spec.leaseTransitions;
    if (
      transitions !== undefined &&
      transitions !== null &&
      (!Number.isInteger(transitions) || (transitions as number) < 0)
    ) {
      throw new ApiError(
        422,
        "Invalid",
        `Lease.coordination.k8s.io is invalid: spec.leaseTransitions: Invalid value: ${JSON.stringify(transitions)}: must be greater than or equal to 0`,
      );
    }
    return lease;
  }

  private writeLease(name: string, next: JsonObject, identity: { uid: Json; creationTimestamp: Json }): JsonObject {
    const meta = (next.metadata as JsonObject | undefined) ?? {};
    const stored: JsonObject = {
      ...next,
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: { ...meta, name, namespace: this.options.namespace, ...identity, resourceVersion: this.nextVersion() },
    };
    this.leases.set(name, stored);
    return structuredClone(stored);
  }

  /** Server-side apply (Server-Side Apply docs, "Conflicts", "Merge strategy"); creates the object if missing. */
  private apply(
    resource: Resource,
    name: string,
    stored: StoredObject | undefined,
    config: JsonObject,
    manager: string,
    force: boolean,
  ): [number, object] {
    if (config?.kind !== KINDS[resource] || config.apiVersion !== API_VERSIONS[resource]) {
      throw new ApiError(
        400,
        "BadRequest",
        `apply patch for ${resource} "${name}" must be kind ${KINDS[resource]}, apiVersion ${API_VERSIONS[resource]}`,
      );
    }
    if (resource === "secrets") secretData(config);
    const target = stored ?? this.create(resource, name, {});
    checkResourceVersion(resource, name, target.body, config);
    const applied = leafPaths(config, ATOMIC_PATHS[resource]);
    const conflicts: Array<{ path: string; owner: ManagedFieldsEntry }> = [];
    for (const [path, value] of applied) {
      const live = valueAt(target.body, JSON.parse(path));
      if (live === undefined || deepEqual(live, value)) continue;
      for (const owner of target.managed)
        if (owner.manager !== manager && owner.fields.has(path)) conflicts.push({ path, owner });
    }
    if (conflicts.length && !force) {
      const list = conflicts.map((c) => `conflict with "${c.owner.manager}" using v1: ${dotted(c.path)}`);
      throw new ApiError(
        409,
        "Conflict",
        `Apply failed with ${conflicts.length} conflict${conflicts.length > 1 ? "s" : ""}: ${list.join("\n")}`,
        {
          causes: conflicts.map((c) => ({
            reason: "FieldManagerConflict",
            message: `conflict with "${c.owner.manager}" using v1`,
            field: dotted(c.path),
          })),
        },
      );
    }
    // Forced: the conflicting fields change hands (Server-Side Apply docs, "Conflicts").
    for (const { path, owner } of conflicts) owner.fields.delete(path);
    const next = structuredClone(target.body);
    const mine = target.managed.find((m) => m.manager === manager && m.operation === "Apply");
    // Fields this manager applied before, left out now, and owned by nobody else are removed.
    for (const path of mine?.fields ?? []) {
      if (applied.has(path) || target.managed.some((m) => m !== mine && m.fields.has(path))) continue;
      deleteAt(next, JSON.parse(path));
    }
    for (const [path, value] of applied) setAt(next, JSON.parse(path), value);
    this.own(target, manager, "Apply", new Set(applied.keys()), true);
    return [stored ? 200 : 201, this.write(resource, name, target, next)];
  }

  /** An update (PUT or a non-apply patch): the writer takes the fields it changed from every other manager. */
  private update(resource: Resource, name: string, stored: StoredObject, next: JsonObject, manager: string): object {
    checkResourceVersion(resource, name, stored.body, next);
    const before = leafPaths(stored.body, ATOMIC_PATHS[resource]);
    const after = leafPaths(next, ATOMIC_PATHS[resource]);
    const changed = new Set(
      [...after]
        .filter(([path, value]) => !before.has(path) || !deepEqual(before.get(path)!, value))
        .map(([path]) => path),
    );
    const removed = [...before.keys()].filter((path) => !after.has(path));
    for (const entry of stored.managed) for (const path of [...changed, ...removed]) entry.fields.delete(path);
    this.own(stored, manager, "Update", changed, false);
    // Status belongs to the status subresource; the main resource ignores changes to it.
    next.status = stored.body.status ?? null;
    if (next.status === null) delete next.status;
    return this.write(resource, name, stored, next);
  }

  private own(
    stored: StoredObject,
    manager: string,
    operation: "Apply" | "Update",
    fields: Set<string>,
    replace: boolean,
  ): void {
    const time = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    let entry = stored.managed.find((m) => m.manager === manager && m.operation === operation);
    if (!entry) stored.managed.push((entry = { manager, operation, time, fields: new Set() }));
    entry.time = time;
    if (replace) entry.fields = fields;
    else for (const f of fields) entry.fields.add(f);
    stored.managed = stored.managed.filter((m) => m.fields.size > 0);
  }

  private create(resource: Resource, name: string, body: JsonObject): StoredObject {
    const stored: StoredObject = {
      body: {
        ...body,
        apiVersion: API_VERSIONS[resource],
        kind: KINDS[resource],
        metadata: {
          name,
          namespace: this.options.namespace,
          uid: `uid-${++this.uidCounter}`,
          creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        },
      },
      managed: [],
    };
    return stored;
  }

  private write(resource: Resource, name: string, stored: StoredObject, next: JsonObject): object {
    if (resource === "secrets") secretData(next);
    const identity = stored.body.metadata as JsonObject;
    const { managedFields: _ignored, ...metadata } = (next.metadata as JsonObject) ?? {};
    next.metadata = {
      ...metadata,
      name,
      namespace: identity.namespace,
      uid: identity.uid,
      creationTimestamp: identity.creationTimestamp,
    };
    // Every write gets a new resourceVersion (API conventions, "Concurrency Control and Consistency").
    (next.metadata as JsonObject).resourceVersion = this.nextVersion();
    stored.body = next;
    this.objects.set(`${resource}/${name}`, stored);
    return this.render(stored);
  }

  private render(stored: StoredObject): object {
    const metadata = {
      ...(stored.body.metadata as JsonObject),
      managedFields: stored.managed.map((m) => ({
        manager: m.manager,
        operation: m.operation,
        apiVersion: stored.body.apiVersion,
        time: m.time,
        fieldsType: "FieldsV1",
        fieldsV1: fieldsV1(m.fields),
      })),
    };
    return { ...stored.body, metadata };
  }

  private view(resource: Resource, path: FieldPath): FieldView {
    return {
      get: (name) => {
        const stored = this.objects.get(`${resource}/${name}`);
        return stored && (valueAt(stored.body, path) as Record<string, string> | undefined);
      },
      delete: (name) => this.objects.delete(`${resource}/${name}`),
    };
  }

  /**
   * Graceful deletion: the pod keeps its name with deletionTimestamp set, not Ready, for its grace period; only then
   * is it gone (pod lifecycle, "Termination of Pods"). A second DELETE of a terminating pod changes nothing.
   */
  private terminate(ordinal: number): void {
    const pod = this.pods.get(ordinal)!;
    if (pod.deletionTimestamp) return;
    pod.deletionTimestamp = new Date().toISOString();
    pod.ready = false;
    this.touch(pod);
    this.later(this.options.recreateMs ?? 50, () => {
      this.pods.delete(ordinal);
      this.sync();
    });
  }

  /** GET of the pod collection: a PodList of the pods the label selector matches, sorted by name as etcd lists them. */
  private listPods(labelSelector: string): object {
    const requirements = parseLabelSelector(labelSelector);
    const items = [...this.pods.entries()]
      .filter(([, pod]) => requirements.every((r) => r(pod.labels)))
      .map(([ordinal, pod]) => this.podObject(ordinal, pod) as { metadata: { name: string } })
      .sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
    return { kind: "PodList", apiVersion: "v1", metadata: { resourceVersion: String(this.revisionCounter) }, items };
  }

  /**
   * PATCH of a pod by the three non-apply patch types. Of a pod's metadata the stand-in keeps only labels, so a patch
   * changing anything else is refused (the real server would change annotations, and refuse most spec changes with
   * the same 422); status belongs to its subresource and is ignored, as the main resource does.
   */
  private patchPod(ordinal: number, pod: Pod, type: string, body: string): void {
    if (!PATCH_TYPES.includes(type)) {
      throw new ApiError(
        415,
        "UnsupportedMediaType",
        `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`,
      );
    }
    if (type === "application/apply-patch+yaml")
      throw new ApiError(404, "NotFound", "stand-in does not serve server-side apply of pods");
    const name = `${this.options.statefulSet}-${ordinal}`;
    const current = this.podObject(ordinal, pod) as JsonObject;
    const patched =
      type === "application/json-patch+json"
        ? jsonPatch(current, parseJson(body) as JsonPatchOp[])
        : (mergePatch(current, parseJson(body)) as JsonObject);
    checkResourceVersion("pods", name, current, patched);
    const { labels, ...metadata } = (patched.metadata ?? {}) as JsonObject;
    const { labels: _old, ...before } = current.metadata as JsonObject;
    for (const key of new Set([...Object.keys(before), ...Object.keys(metadata)])) {
      if (key !== "resourceVersion" && !deepEqual(before[key] ?? null, metadata[key] ?? null)) {
        throw new ApiError(
          422,
          "Invalid",
          `Pod "${name}" is invalid: metadata.${key}: Forbidden: the stand-in changes only metadata.labels of a pod`,
        );
      }
    }
    if (!deepEqual(current.spec ?? null, patched.spec ?? null))
      throw new ApiError(
        422,
        "Invalid",
        `Pod "${name}" is invalid: spec: Forbidden: pod updates may not change fields other than image, activeDeadlineSeconds, tolerations (only additions) and terminationGracePeriodSeconds`,
      );
    pod.labels = validLabels(name, (labels ?? {}) as JsonObject);
    pod.resourceVersion = this.nextVersion();
  }

  /**
   * One pass of the StatefulSet controller (pkg/controller/statefulset/stateful_set_control.go). OrderedReady is
   * "monotonic": it creates the lowest missing ordinal and waits for it to be Running and Ready, waits out any
   * Terminating pod, and deletes condemned pods highest ordinal first, one at a time. Parallel does each at once.
   * With updateStrategy OnDelete a template change replaces no running pod: only deleted pods come back on it.
   */
  private sync(): void {
    const monotonic = (this.options.podManagementPolicy ?? "OrderedReady") === "OrderedReady";
    this.statefulSetVersion = this.nextVersion();
    for (let ordinal = 0; ordinal < this.options.replicas; ordinal++) {
      const pod = this.pods.get(ordinal);
      if (!pod) {
        this.startPod(ordinal, this.newPod(ordinal, this.updateRevision));
        if (monotonic) return;
        continue;
      }
      if (monotonic && (pod.deletionTimestamp || !runningAndReady(pod))) return;
    }
    const condemned = [...this.pods.keys()].filter((o) => o >= this.options.replicas).sort((a, b) => b - a);
    const firstUnhealthy = condemned.find((o) => !runningAndReady(this.pods.get(o)!));
    for (const ordinal of condemned) {
      const pod = this.pods.get(ordinal)!;
      if (pod.deletionTimestamp) {
        if (monotonic) return;
        continue;
      }
      if (monotonic && !runningAndReady(pod) && ordinal !== firstUnhealthy) return;
      this.terminate(ordinal);
      if (monotonic) return;
    }
  }

  /** The kubelet's part: init containers, then the main container, then readiness (or a crash loop). */
  private startPod(ordinal: number, pod: Pod): void {
    const replacement = this.deleted.delete(ordinal);
    this.pods.set(ordinal, pod);
    const alive = () => this.pods.get(ordinal) === pod && !pod.deletionTimestamp;
    const backoff = this.options.readyMs ?? 50;
    const init = () => {
      if (!alive()) return;
      if (this.brokenInit.has(pod.revision)) {
        pod.initRestarts++;
        this.touch(pod);
        return this.later(backoff, init);
      }
      Object.assign(pod, { phase: "Running", initialized: true });
      this.touch(pod);
      if (replacement && this.options.onRecreate) {
        const crashed = () => {
          pod.restarts = 3;
          this.touch(pod);
        };
        this.options
          .onRecreate(ordinal, pod.revision)
          .then((ready) => (ready ? this.becomeReady(ordinal, pod) : crashed()), crashed);
        return;
      }
      const probe = () => {
        if (!alive()) return;
        if (!this.broken.has(pod.revision)) return this.becomeReady(ordinal, pod);
        pod.restarts++;
        this.touch(pod);
        this.later(backoff, probe);
      };
      this.later(backoff, probe);
    };
    this.later(this.options.initMs ?? 10, init);
  }

  private becomeReady(ordinal: number, pod: Pod): void {
    if (this.pods.get(ordinal) !== pod || pod.deletionTimestamp) return;
    pod.ready = true;
    this.touch(pod);
    this.sync();
  }

  private touch(pod: Pod): void {
    pod.resourceVersion = this.nextVersion();
    this.statefulSetVersion = this.nextVersion();
  }

  private nextVersion(): string {
    return String(++this.revisionCounter);
  }

  /** A new pod comes from the template: its labels, plus the controller's revision and pod-name labels. */
  private newPod(ordinal: number, revision: string): Pod {
    return {
      uid: `uid-${++this.uidCounter}`,
      revision,
      created: new Date().toISOString(),
      resourceVersion: this.nextVersion(),
      phase: "Pending",
      initialized: false,
      ready: false,
      restarts: 0,
      initRestarts: 0,
      labels: {
        ...this.options.podLabels,
        "controller-revision-hash": revision,
        "statefulset.kubernetes.io/pod-name": `${this.options.statefulSet}-${ordinal}`,
      },
    };
  }

  private ordinalOf(name: string): number | undefined {
    const m = name.match(/^(.*)-(\d+)$/);
    return m && m[1] === this.options.statefulSet ? Number(m[2]) : undefined;
  }

  /**
   * Status as the controller computes it (computeReplicaStatus): replicas counts every created pod, Terminating too;
   * readyReplicas the Running and Ready ones. With OnDelete the controller never promotes currentRevision to the
   * update revision (only a completed RollingUpdate does; kubernetes/kubernetes#106055).
   */
  private statefulSetObject(): object {
    const pods = [...this.pods.values()];
    const live = pods.filter((p) => !p.deletionTimestamp);
    return {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: {
        name: this.options.statefulSet,
        namespace: this.options.namespace,
        generation: this.generation,
        resourceVersion: this.statefulSetVersion,
      },
      spec: {
        replicas: this.options.replicas,
        podManagementPolicy: this.options.podManagementPolicy ?? "OrderedReady",
        updateStrategy: { type: "OnDelete" },
      },
      status: {
        observedGeneration: this.observedGeneration,
        replicas: pods.length,
        readyReplicas: pods.filter(runningAndReady).length,
        currentReplicas: live.filter((p) => p.revision === this.options.revision).length,
        updatedReplicas: live.filter((p) => p.revision === this.updateRevision).length,
        currentRevision: this.options.revision,
        updateRevision: this.updateRevision,
      },
    };
  }

  private podObject(ordinal: number, pod: Pod): object {
    const crashing = pod.initialized && !pod.ready && pod.restarts > 0;
    const initCrashing = !pod.initialized && pod.initRestarts > 0;
    const condition = (type: string, status: boolean) => ({ type, status: status ? "True" : "False" });
    const name = `${this.options.statefulSet}-${ordinal}`;
    return {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name,
        namespace: this.options.namespace,
        uid: pod.uid,
        resourceVersion: pod.resourceVersion,
        creationTimestamp: pod.created,
        ...(pod.deletionTimestamp
          ? {
              deletionTimestamp: pod.deletionTimestamp,
              deletionGracePeriodSeconds: Math.ceil((this.options.recreateMs ?? 50) / 1000),
            }
          : {}),
        labels: { ...pod.labels },
      },
      status: {
        phase: pod.phase,
        conditions: [
          condition("PodScheduled", true),
          condition("Initialized", pod.initialized),
          condition("ContainersReady", pod.ready),
          condition("Ready", pod.ready),
        ],
        initContainerStatuses: [
          {
            name: "init-server",
            ready: pod.initialized,
            restartCount: pod.initRestarts,
            image: "mariadb",
            imageID: "",
            state: pod.initialized
              ? { terminated: { reason: "Completed", exitCode: 0 } }
              : initCrashing
                ? { waiting: { reason: "CrashLoopBackOff" } }
                : { running: {} },
            lastState: initCrashing ? { terminated: { reason: "Error", exitCode: 1 } } : {},
          },
        ],
        containerStatuses: [
          {
            name: "mariadb",
            ready: pod.ready,
            restartCount: pod.restarts,
            image: "mariadb",
            imageID: "",
            state: !pod.initialized
              ? { waiting: { reason: "PodInitializing" } }
              : crashing
                ? { waiting: { reason: "CrashLoopBackOff" } }
                : { running: {} },
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

function runningAndReady(pod: Pod): boolean {
  return pod.phase === "Running" && pod.ready;
}

/** An API error as the server's metav1.Status body. */
function statusOf(e: ApiError): object {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message: e.message,
    reason: e.reason,
    details: e.details,
    code: e.code,
  };
}

/** The authorization attributes of a resource request (the API server's RequestInfo); undefined for other paths. */
function requestAttributes(method: string, url: URL): Attributes | undefined {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)(?:\/([^/]+)(?:\/([^/]+))?)?$/.exec(
    url.pathname,
  );
  if (!m) return undefined;
  const [, group = "", namespace, resource, name, subresource] = m;
  const verbs: Record<string, string> = { POST: "create", PUT: "update", PATCH: "patch" };
  const verb =
    method === "GET"
      ? name
        ? "get"
        : url.searchParams.get("watch") === "true"
          ? "watch"
          : "list"
      : method === "DELETE"
        ? name
          ? "delete"
          : "deletecollection"
        : (verbs[method] ?? method.toLowerCase());
  return { verb, group, resource, namespace, ...(name ? { name } : {}), ...(subresource ? { subresource } : {}) };
}

function notFound(resource: string, name: string, group = ""): ApiError {
  return new ApiError(404, "NotFound", `${resource}${group ? `.${group}` : ""} "${name}" not found`, {
    name,
    group: group || undefined,
    kind: resource,
  });
}

/** Optimistic concurrency: a write naming a resourceVersion other than the stored one is refused (API conventions). */
function checkResourceVersion(resource: string, name: string, current: JsonObject, next: JsonObject): void {
  const wanted = (next.metadata as JsonObject | undefined)?.resourceVersion;
  const stored = (current.metadata as JsonObject | undefined)?.resourceVersion;
  if (wanted && stored && wanted !== stored) {
    throw new ApiError(
      409,
      "Conflict",
      `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name, kind: resource },
    );
  }
}

/** Without ?fieldManager=, the API server names the manager after the User-Agent up to its first "/". */
function managerFromUserAgent(agent: string | undefined): string {
  return (agent ?? "").split("/")[0].slice(0, 128);
}

/**
 * A Secret's stringData is write-only: merged into data (base64) on write, overwriting, and never read back (core/v1
 * Secret, field stringData).
 */
function secretData(secret: JsonObject): void {
  const strings = secret.stringData as Record<string, string> | undefined;
  if (!strings) return;
  secret.data = {
    ...((secret.data as JsonObject | undefined) ?? {}),
    ...Object.fromEntries(Object.entries(strings).map(([k, v]) => [k, Buffer.from(String(v)).toString("base64")])),
  };
  delete secret.stringData;
}

function parseJson(body: string): any {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw new ApiError(400, "BadRequest", `error decoding patch: ${(err as Error).message}`);
  }
}

interface JsonPatchOp {
  op: string;
  path: string;
  from?: string;
  value?: Json;
}

/**
 * RFC 6902 with the apiserver's failure mode: any op that does not apply (a missing parent, a failed "test") fails
 * the whole patch with 422 Invalid (handlers/patch.go: NewGenericServerResponse(StatusUnprocessableEntity, ...)).
 */
function jsonPatch(doc: JsonObject, ops: JsonPatchOp[]): JsonObject {
  if (!Array.isArray(ops))
    throw new ApiError(400, "BadRequest", "json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  const out = structuredClone(doc);
  const fail = (why: string): never => {
    throw new ApiError(422, "Invalid", "the server rejected our request due to an error in our request", {
      causes: [{ message: why }],
    });
  };
  const pointer = (p: string) =>
    p === ""
      ? []
      : p
          .split("/")
          .slice(1)
          .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"));
  const parentOf = (path: string[], op: string): [JsonObject | Json[], string] => {
    const parent = valueAt(out, path.slice(0, -1));
    if (parent === undefined || parent === null || typeof parent !== "object")
      fail(`${op} operation does not apply: doc is missing path: "/${path.join("/")}"`);
    return [parent as JsonObject | Json[], path[path.length - 1]];
  };
  for (const op of ops) {
    const path = pointer(op.path);
    if (op.op === "test") {
      if (!deepEqual(valueAt(out, path) ?? null, op.value ?? null) || valueAt(out, path) === undefined)
        fail(`testing value ${op.path} failed: test failed`);
      continue;
    }
    const value = op.op === "move" || op.op === "copy" ? valueAt(out, pointer(op.from ?? "")) : op.value;
    if (value === undefined && op.op !== "remove")
      fail(`${op.op} operation does not apply: doc is missing ${op.from ? `from path: "${op.from}"` : "value"}`);
    if (op.op === "move") removeAt(out, pointer(op.from!), fail, "move");
    if (op.op === "remove" || op.op === "replace") {
      if (valueAt(out, path) === undefined) fail(`${op.op} operation does not apply: doc is missing key: ${op.path}`);
      if (op.op === "remove") {
        removeAt(out, path, fail, "remove");
        continue;
      }
    }
    if (!["add", "replace", "move", "copy"].includes(op.op)) fail(`Unexpected kind: ${op.op}`);
    const [parent, key] = parentOf(path, op.op);
    if (Array.isArray(parent)) {
      const index = key === "-" ? parent.length : Number(key);
      if (!Number.isInteger(index) || index < 0 || index > parent.length)
        fail(`${op.op} operation does not apply: index out of bounds: ${key}`);
      parent.splice(index, op.op === "replace" ? 1 : 0, structuredClone(value!));
    } else parent[key] = structuredClone(value!);
  }
  return out;
}

function removeAt(doc: JsonObject, path: string[], fail: (why: string) => never, op: string): void {
  const parent = valueAt(doc, path.slice(0, -1));
  const key = path[path.length - 1];
  if (Array.isArray(parent) && Number(key) < parent.length) parent.splice(Number(key), 1);
  else if (parent && typeof parent === "object" && !Array.isArray(parent) && key in parent) delete parent[key];
  else fail(`${op} operation does not apply: doc is missing path: "/${path.join("/")}"`);
}

/** RFC 7386 JSON merge patch; a strategic merge patch merges maps the same way (list merge keys are not modelled). */
function mergePatch(target: Json | undefined, patch: Json): Json {
  if (patch === null || typeof patch !== "object" || Array.isArray(patch)) return structuredClone(patch);
  const out: JsonObject = target && typeof target === "object" && !Array.isArray(target) ? structuredClone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** The managed leaf fields of an object, JSON-encoded path -> value: maps are granular unless atomic; lists atomic. */
function leafPaths(obj: JsonObject, atomic: string[]): Map<string, Json> {
  const out = new Map<string, Json>();
  const walk = (value: Json, path: string[]) => {
    const key = JSON.stringify(path);
    if (UNMANAGED.has(path.join("."))) return;
    if (
      path.length > 0 &&
      (value === null ||
        typeof value !== "object" ||
        Array.isArray(value) ||
        atomic.includes(key) ||
        Object.keys(value).length === 0)
    ) {
      out.set(key, value);
      return;
    }
    for (const [k, v] of Object.entries(value as JsonObject)) walk(v, [...path, k]);
  };
  walk(obj, []);
  return out;
}

/** managedFields' FieldsV1 form: {"f:data": {"f:primary": {}}}. */
function fieldsV1(paths: Set<string>): object {
  const root: Record<string, any> = {};
  for (const path of paths) {
    let node = root;
    for (const part of JSON.parse(path) as string[]) node = node[`f:${part}`] ??= {};
  }
  return root;
}

function dotted(path: string): string {
  return (JSON.parse(path) as string[]).map((p) => `.${p}`).join("");
}

function valueAt(doc: Json, path: string[]): Json | undefined {
  let node: Json | undefined = doc;
  for (const part of path) {
    if (node === null || typeof node !== "object") return undefined;
    node = Array.isArray(node) ? node[Number(part)] : node[part];
  }
  return node;
}

function setAt(doc: JsonObject, path: string[], value: Json): void {
  let node = doc;
  for (const part of path.slice(0, -1)) {
    if (!node[part] || typeof node[part] !== "object" || Array.isArray(node[part])) node[part] = {};
    node = node[part] as JsonObject;
  }
  node[path[path.length - 1]] = structuredClone(value);
}

function deleteAt(doc: JsonObject, path: string[]): void {
  const parent = valueAt(doc, path.slice(0, -1));
  if (parent && typeof parent === "object" && !Array.isArray(parent)) delete parent[path[path.length - 1]];
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return a === b;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => deepEqual((a as JsonObject)[k], (b as JsonObject)[k]));
}

/** Label keys and values as ObjectMeta validation has them (IsQualifiedName, IsValidLabelValue); 400 when not strings. */
function validLabels(pod: string, labels: JsonObject): Record<string, string> {
  const name = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
  const prefix = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  for (const [key, value] of Object.entries(labels)) {
    if (typeof value !== "string")
      throw new ApiError(
        400,
        "BadRequest",
        `json: cannot unmarshal ${typeof value} into Go struct field ObjectMeta.metadata.labels of type string`,
      );
    const [p, n] = key.includes("/") ? key.split(/\/(.*)/s) : [undefined, key];
    const keyOk = n.length <= 63 && name.test(n) && (p === undefined || (p.length <= 253 && prefix.test(p)));
    const valueOk = value === "" || (value.length <= 63 && name.test(value));
    if (!keyOk || !valueOk) {
      throw new ApiError(
        422,
        "Invalid",
        `Pod "${pod}" is invalid: metadata.labels: Invalid value: ${JSON.stringify(keyOk ? value : key)}: ${keyOk ? "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character" : "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"}`,
      );
    }
  }
  return labels as Record<string, string>;
}

/**
 * A label selector string as the API server parses it (labels.Parse): requirements separated by commas, each
 * `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (exists) or `!k` (does not exist); 400 otherwise.
 */
function parseLabelSelector(text: string): Array<(labels: Record<string, string>) => boolean> {
  if (!text.trim()) return [];
  const requirement =
    /^\s*(!?)\s*([A-Za-z0-9][-A-Za-z0-9_./]*)\s*(?:(==|=|!=)\s*([-A-Za-z0-9_.]*)|\s(in|notin)\s*\(([^()]*)\))?\s*$/;
  return text.split(/,(?![^(]*\))/).map((part) => {
    const m = requirement.exec(part);
    if (!m || (m[1] && (m[3] || m[5])))
      throw new ApiError(
        400,
        "BadRequest",
        `unable to parse requirement: found '${part.trim()}', expected: key, !key, key=value, key!=value, key in (...), key notin (...)`,
      );
    const [, not, key, op, value, setOp, set] = m;
    const values = (set ?? "")
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean);
    if (not) return (l) => !(key in l);
    if (op === "!=") return (l) => l[key] !== value;
    if (op) return (l) => l[key] === value;
    if (setOp === "in") return (l) => key in l && values.includes(l[key]);
    if (setOp === "notin") return (l) => !(key in l) || !values.includes(l[key]);
    return (l) => key in l;
  });
}

function send(res: http.ServerResponse, status: number, body: object): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
