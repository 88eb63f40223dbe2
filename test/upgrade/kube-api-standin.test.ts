/**
 * The Kubernetes API stand-in (local/kube-api-standin.ts) must be as strict as the real API server and StatefulSet
 * controller, or the restarter's tests pass where a cluster would fail. Each test is one documented upstream rule.
 */
import { KubeApiStandin } from "../../local/kube-api-standin";

const CM = "/api/v1/namespaces/db/configmaps/topo";
const SVC = "/api/v1/namespaces/db/services/primary";
const POD = (o: number) => `/api/v1/namespaces/db/pods/mysql-${o}`;
const STS = "/apis/apps/v1/namespaces/db/statefulsets/mysql";
const JSON_PATCH = "application/json-patch+json";
const MERGE = "application/merge-patch+json";
const APPLY = "application/apply-patch+yaml";

async function call(
  api: KubeApiStandin,
  method: string,
  path: string,
  body?: unknown,
  type?: string,
): Promise<{ code: number; body: any }> {
  const res = await fetch(api.url + path, {
    method,
    headers: type ? { "content-type": type } : {},
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  return { code: res.status, body: await res.json() };
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 3000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const ready = (pod: any) => pod.status.conditions.find((c: any) => c.type === "Ready").status === "True";
const configMap = (primary: string) => ({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: "topo" },
  data: { primary },
});
const owners = (obj: any) =>
  Object.fromEntries(obj.metadata.managedFields.map((m: any) => [`${m.manager}/${m.operation}`, m.fieldsV1]));

describe("Kube API stand-in: requests, as the API server answers them", () => {
  let api: KubeApiStandin;
  beforeEach(async () => {
    api = new KubeApiStandin({
      namespace: "db",
      statefulSet: "mysql",
      replicas: 1,
      revision: "rev1",
      createOnPatch: false,
    });
    await api.start();
  });
  afterEach(() => api.stop());

  it("serves the four patch types by Content-Type and refuses any other with a 415 Status", async () => {
    expect((await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("0"), APPLY)).code).toBe(201);
    expect(
      (await call(api, "PATCH", CM, [{ op: "replace", path: "/data/primary", value: "1" }], JSON_PATCH)).body.data,
    ).toEqual({ primary: "1" });
    expect((await call(api, "PATCH", CM, { data: { other: "x" } }, MERGE)).body.data).toEqual({
      primary: "1",
      other: "x",
    });
    expect(
      (await call(api, "PATCH", CM, { data: { other: null } }, "application/strategic-merge-patch+json")).body.data,
    ).toEqual({ primary: "1" });
    const refused = await call(api, "PATCH", CM, { data: { primary: "2" } }, "application/json");
    expect(refused).toEqual({
      code: 415,
      body: expect.objectContaining({
        kind: "Status",
        apiVersion: "v1",
        status: "Failure",
        reason: "UnsupportedMediaType",
        code: 415,
        message: expect.stringContaining("accepted media types include: application/json-patch+json"),
      }),
    });
  });

  it("validates PatchOptions: apply needs a fieldManager, force is for apply only (422 Invalid)", async () => {
    const noManager = await call(api, "PATCH", CM, configMap("0"), APPLY);
    expect(noManager.body).toMatchObject({
      kind: "Status",
      reason: "Invalid",
      code: 422,
      message: expect.stringMatching(/fieldManager: Required value/),
    });
    await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("0"), APPLY);
    expect((await call(api, "PATCH", `${CM}?force=true`, { data: {} }, MERGE)).body).toMatchObject({
      code: 422,
      message: expect.stringMatching(/force: Forbidden/),
    });
  });

  it("answers 404 NotFound for a patch or PUT of a missing object; apply creates it", async () => {
    for (const [method, type] of [
      ["PATCH", MERGE],
      ["PATCH", JSON_PATCH],
      ["PUT", undefined],
    ] as const) {
      const res = await call(
        api,
        method,
        CM,
        method === "PUT" ? configMap("1") : type === MERGE ? { data: { primary: "1" } } : [],
        type,
      );
      expect(res).toEqual({
        code: 404,
        body: expect.objectContaining({
          kind: "Status",
          status: "Failure",
          reason: "NotFound",
          code: 404,
          message: 'configmaps "topo" not found',
        }),
      });
    }
    expect((await call(api, "GET", POD(7))).body).toMatchObject({
      reason: "NotFound",
      message: 'pods "mysql-7" not found',
    });
  });

  it("fails a whole JSON patch with 422 Invalid when an op does not apply: a missing parent, a failed test", async () => {
    await call(
      api,
      "PATCH",
      `${CM}?fieldManager=pulumi`,
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "topo" } },
      APPLY,
    );
    const missingParent = await call(api, "PATCH", CM, [{ op: "add", path: "/data/primary", value: "1" }], JSON_PATCH);
    expect(missingParent).toEqual({
      code: 422,
      body: expect.objectContaining({
        kind: "Status",
        reason: "Invalid",
        message: "the server rejected our request due to an error in our request",
      }),
    });
    expect(missingParent.body.details.causes[0].message).toMatch(/doc is missing path/);
    const failedTest = await call(
      api,
      "PATCH",
      CM,
      [
        { op: "add", path: "/data", value: { primary: "1" } },
        { op: "test", path: "/data/primary", value: "0" },
      ],
      JSON_PATCH,
    );
    expect(failedTest.body).toMatchObject({ code: 422, reason: "Invalid" });
    expect((await call(api, "GET", CM)).body.data).toBeUndefined(); // nothing of a failed patch is kept
  });

  it("bumps metadata.resourceVersion on every write and refuses a stale one with 409 Conflict", async () => {
    const v1 = (await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("0"), APPLY)).body;
    const v2 = (await call(api, "PATCH", CM, { data: { primary: "1" } }, MERGE)).body;
    expect(Number(v2.metadata.resourceVersion)).toBeGreaterThan(Number(v1.metadata.resourceVersion));
    const stale = { ...configMap("2"), metadata: { name: "topo", resourceVersion: v1.metadata.resourceVersion } };
    for (const res of [
      await call(api, "PUT", CM, stale),
      await call(
        api,
        "PATCH",
        CM,
        { metadata: { resourceVersion: v1.metadata.resourceVersion }, data: { primary: "2" } },
        MERGE,
      ),
    ]) {
      expect(res).toEqual({
        code: 409,
        body: expect.objectContaining({
          kind: "Status",
          reason: "Conflict",
          message: expect.stringMatching(/the object has been modified/),
        }),
      });
    }
    const put = await call(api, "PUT", CM, {
      ...stale,
      metadata: { name: "topo", resourceVersion: v2.metadata.resourceVersion },
    });
    expect(put.code).toBe(200);
    expect(put.body.data).toEqual({ primary: "2" });
    const pod = (await call(api, "GET", POD(0))).body.metadata.resourceVersion;
    await call(api, "DELETE", POD(0));
    expect(Number((await call(api, "GET", POD(0))).body.metadata.resourceVersion)).toBeGreaterThan(Number(pod));
  });

  it("server-side apply: a field another manager changed conflicts (409) unless forced; forcing takes it over", async () => {
    await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("0"), APPLY);
    const updated = (await call(api, "PATCH", `${CM}?fieldManager=restarter`, { data: { primary: "1" } }, MERGE)).body;
    // The update took the field it changed away from the applier.
    expect(owners(updated)).toEqual({ "restarter/Update": { "f:data": { "f:primary": {} } } });
    const conflict = await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("0"), APPLY);
    expect(conflict.code).toBe(409);
    expect(conflict.body).toMatchObject({
      kind: "Status",
      status: "Failure",
      reason: "Conflict",
      message: 'Apply failed with 1 conflict: conflict with "restarter" using v1: .data.primary',
      details: {
        causes: [
          { reason: "FieldManagerConflict", message: 'conflict with "restarter" using v1', field: ".data.primary" },
        ],
      },
    });
    // The same value is no conflict: the field becomes shared.
    expect(owners((await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("1"), APPLY)).body)).toEqual({
      "restarter/Update": { "f:data": { "f:primary": {} } },
      "pulumi/Apply": { "f:data": { "f:primary": {} } },
    });
    const forced = (await call(api, "PATCH", `${CM}?fieldManager=pulumi&force=true`, configMap("0"), APPLY)).body;
    expect(forced.data).toEqual({ primary: "0" });
    expect(owners(forced)).toEqual({ "pulumi/Apply": { "f:data": { "f:primary": {} } } });
  });

  it("server-side apply: a Service selector is atomic (one field), and an applier's dropped field is removed", async () => {
    const service = (selector: object) => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "primary" },
      spec: { selector },
    });
    await call(api, "PATCH", `${SVC}?fieldManager=pulumi`, service({ app: "db", pod: "mysql-0" }), APPLY);
    const patched = (
      await call(api, "PATCH", `${SVC}?fieldManager=restarter`, { spec: { selector: { pod: "mysql-1" } } }, MERGE)
    ).body;
    expect(owners(patched)).toEqual({ "restarter/Update": { "f:spec": { "f:selector": {} } } });
    expect(
      (await call(api, "PATCH", `${SVC}?fieldManager=pulumi`, service({ app: "db", pod: "mysql-0" }), APPLY)).body
        .message,
    ).toBe('Apply failed with 1 conflict: conflict with "restarter" using v1: .spec.selector');
    await call(
      api,
      "PATCH",
      `${CM}?fieldManager=pulumi`,
      { ...configMap("0"), data: { primary: "0", extra: "x" } },
      APPLY,
    );
    expect((await call(api, "PATCH", `${CM}?fieldManager=pulumi`, configMap("0"), APPLY)).body.data).toEqual({
      primary: "0",
    });
  });
});

describe("Kube API stand-in: the StatefulSet controller and the kubelet", () => {
  let api: KubeApiStandin;
  afterEach(() => api.stop());
  const start = async (options: Partial<ConstructorParameters<typeof KubeApiStandin>[0]>) => {
    api = new KubeApiStandin({
      namespace: "db",
      statefulSet: "mysql",
      replicas: 3,
      revision: "rev1",
      recreateMs: 150,
      initMs: 60,
      readyMs: 60,
      ...options,
    });
    await api.start();
  };
  const get = async (o: number) => {
    const res = await call(api, "GET", POD(o));
    return res.code === 200 ? res.body : undefined;
  };

  it("keeps a deleted pod Terminating, same name and uid, for its grace period; the replacement goes Pending -> Running -> Ready", async () => {
    await start({});
    const old = await get(1);
    const deleted = (await call(api, "DELETE", POD(1))).body;
    expect(deleted.metadata.deletionTimestamp).toBeDefined();
    const terminating = await get(1);
    expect([terminating.metadata.uid, ready(terminating), terminating.metadata.deletionTimestamp]).toEqual([
      old.metadata.uid,
      false,
      deleted.metadata.deletionTimestamp,
    ]);
    const pending = await until("the replacement", async () =>
      (await get(1))?.metadata.uid !== old.metadata.uid ? get(1) : undefined,
    );
    expect(pending.status.phase).toBe("Pending");
    expect(pending.status.initContainerStatuses[0].state).toEqual({ running: {} });
    expect(pending.status.containerStatuses[0].state).toEqual({ waiting: { reason: "PodInitializing" } });
    const running = await until("Running", async () =>
      (await get(1))?.status.phase === "Running" ? get(1) : undefined,
    );
    expect(ready(running)).toBe(false);
    await until("Ready", async () => ready(await get(1)));
  });

  it("OrderedReady creates one pod at a time, each once the lower ones are Running and Ready; scales down highest first", async () => {
    await start({ replicas: 0 });
    api.setReplicas(3);
    await until("pod 0", () => get(0));
    expect(await get(1)).toBeUndefined();
    await until("pod 0 Ready", async () => ready(await get(0)));
    await until("pod 1", () => get(1));
    expect(await get(2)).toBeUndefined();
    await until("pod 2 Ready", async () => (await get(2)) && ready(await get(2)));

    api.setReplicas(1);
    expect((await get(2)).metadata.deletionTimestamp).toBeDefined();
    expect((await get(1)).metadata.deletionTimestamp).toBeUndefined();
    await until("pod 2 gone", async () => !(await get(2)));
    expect((await get(1)).metadata.deletionTimestamp).toBeDefined();
  });

  it("Parallel creates and deletes all pods at once", async () => {
    await start({ replicas: 0, podManagementPolicy: "Parallel" });
    api.setReplicas(3);
    expect((await Promise.all([0, 1, 2].map(get))).map((p) => p.status.phase)).toEqual([
      "Pending",
      "Pending",
      "Pending",
    ]);
    await until("all Ready", async () => (await Promise.all([0, 1, 2].map(get))).every(ready));
    api.setReplicas(0);
    expect((await Promise.all([0, 1, 2].map(get))).every((p) => p.metadata.deletionTimestamp)).toBe(true);
  });

  it("OnDelete: a template change touches no pod; status counts like the controller and never promotes currentRevision", async () => {
    await start({});
    const uids = (await Promise.all([0, 1, 2].map(get))).map((p) => p.metadata.uid);
    api.setTemplateRevision("rev2");
    await until("observed", async () => (await call(api, "GET", STS)).body.status.updateRevision === "rev2");
    expect(
      (await Promise.all([0, 1, 2].map(get))).map((p) => [
        p.metadata.uid,
        p.metadata.labels["controller-revision-hash"],
      ]),
    ).toEqual(uids.map((u) => [u, "rev1"]));
    await call(api, "DELETE", POD(2));
    const sts = (await call(api, "GET", STS)).body;
    // A Terminating pod still counts in replicas, not in readyReplicas nor currentReplicas.
    expect(sts.status).toMatchObject({
      replicas: 3,
      readyReplicas: 2,
      currentReplicas: 2,
      updatedReplicas: 0,
      currentRevision: "rev1",
      updateRevision: "rev2",
      observedGeneration: sts.metadata.generation,
    });
    for (const o of [0, 1, 2]) {
      if (o !== 2) await call(api, "DELETE", POD(o));
      await until(`pod ${o} on rev2 and Ready`, async () => {
        const p = await get(o);
        return p && p.metadata.labels["controller-revision-hash"] === "rev2" && ready(p);
      });
    }
    expect((await call(api, "GET", STS)).body.status).toMatchObject({
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      currentRevision: "rev1",
      updateRevision: "rev2",
    });
  });

  it("shows an init container crash loop: Pending, initContainerStatuses restartCount and CrashLoopBackOff", async () => {
    await start({ readyMs: 20 });
    api.setTemplateRevision("rev2");
    api.brokenInit.add("rev2");
    await call(api, "DELETE", POD(0));
    const pod = await until("init restarts", async () => {
      const p = await get(0);
      return p?.status.initContainerStatuses[0].restartCount >= 2 ? p : undefined;
    });
    expect(pod.status.phase).toBe("Pending");
    expect(pod.status.initContainerStatuses[0]).toMatchObject({
      name: "init-server",
      state: { waiting: { reason: "CrashLoopBackOff" } },
      lastState: { terminated: { exitCode: 1 } },
    });
    expect(pod.status.conditions.find((c: any) => c.type === "Initialized").status).toBe("False");
    // OrderedReady: the broken pod 0 blocks nothing that exists, but pod 1 is not replaced while 0 is unhealthy.
    await call(api, "DELETE", POD(1));
    await new Promise((r) => setTimeout(r, 300));
    expect(await get(1)).toBeUndefined();
  });
});
