/**
 * One decider through a coordination.k8s.io/v1 Lease, against the strict API stand-in: the stand-in's Lease endpoints
 * answer as the API server does, every write of the elector carries the resourceVersion it read (409 = lost), a
 * holder that cannot renew stops acting before its lease can expire, and a stopped holder releases it.
 */
import { execFileSync } from "node:child_process";
import * as http from "node:http";
import { AddressInfo } from "node:net";
import * as path from "node:path";
import { LeaseElector } from "../../components/agent/lease";
import { KubeApiStandin } from "../../local/kube-api-standin";

const ROOT = path.join(__dirname, "..", "..");
const LEASES = "/apis/coordination.k8s.io/v1/namespaces/db/leases";
const MICRO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

async function call(base: string, method: string, path: string, body?: unknown): Promise<{ code: number; body: any }> {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { code: res.status, body: await res.json() };
}

const lease = (name: string, spec: object, resourceVersion?: string) => ({
  apiVersion: "coordination.k8s.io/v1",
  kind: "Lease",
  metadata: { name, ...(resourceVersion ? { resourceVersion } : {}) },
  spec,
});

describe("Lease stand-in and elector", () => {
  let api: KubeApiStandin;
  const electors: LeaseElector[] = [];
  const elector = (identity: string, extra: Partial<ConstructorParameters<typeof LeaseElector>[0]> = {}) => {
    const e = new LeaseElector({ kubeconfig: api.kubeconfig(), namespace: "db", name: "agent", identity, ...extra });
    electors.push(e);
    return e;
  };
  beforeEach(async () => {
    api = new KubeApiStandin({
      namespace: "db",
      statefulSet: "mysql",
      replicas: 1,
      revision: "r1",
      createOnPatch: false,
    });
    await api.start();
  });
  afterEach(async () => {
    await Promise.all(electors.splice(0).map((e) => e.stop()));
    await api.stop();
  });

  it("stand-in: GET/POST/PUT as the API server answers them, 409 on a stale resourceVersion", async () => {
    const now = "2025-01-02T03:04:05.123456Z";
    expect((await call(api.url, "GET", `${LEASES}/l`)).body).toMatchObject({
      kind: "Status",
      code: 404,
      reason: "NotFound",
      message: 'leases.coordination.k8s.io "l" not found',
    });
    expect((await call(api.url, "PUT", `${LEASES}/l`, lease("l", {}))).code).toBe(404);
    const created = await call(
      api.url,
      "POST",
      LEASES,
      lease("l", { holderIdentity: "a", leaseDurationSeconds: 15, renewTime: now }),
    );
    expect(created.code).toBe(201);
    expect(created.body).toMatchObject({
      kind: "Lease",
      metadata: { name: "l", namespace: "db", uid: expect.any(String) },
      spec: { holderIdentity: "a", renewTime: now },
    });
    const v1 = created.body.metadata.resourceVersion;
    expect((await call(api.url, "POST", LEASES, lease("l", {}))).body).toMatchObject({
      code: 409,
      reason: "AlreadyExists",
    });

    const renewed = await call(
      api.url,
      "PUT",
      `${LEASES}/l`,
      lease("l", { holderIdentity: "a", leaseDurationSeconds: 15 }, v1),
    );
    expect(renewed.code).toBe(200);
    expect(renewed.body.metadata.resourceVersion).not.toBe(v1);
    const stale = await call(
      api.url,
      "PUT",
      `${LEASES}/l`,
      lease("l", { holderIdentity: "b", leaseDurationSeconds: 15 }, v1),
    );
    expect(stale.body).toMatchObject({
      kind: "Status",
      code: 409,
      reason: "Conflict",
      message: expect.stringContaining("the object has been modified"),
    });
    expect((await call(api.url, "GET", `${LEASES}/l`)).body.spec.holderIdentity).toBe("a");
    // Leases allow unconditional updates: no resourceVersion, no precondition.
    expect(
      (await call(api.url, "PUT", `${LEASES}/l`, lease("l", { holderIdentity: "c", leaseDurationSeconds: 15 }))).code,
    ).toBe(200);

    // MicroTime needs exactly 6 fractional digits (what Date.toISOString gives is refused); durations are positive.
    expect(
      (await call(api.url, "PUT", `${LEASES}/l`, lease("l", { renewTime: new Date().toISOString() }))).body,
    ).toMatchObject({ code: 400, reason: "BadRequest" });
    expect((await call(api.url, "PUT", `${LEASES}/l`, lease("l", { leaseDurationSeconds: 0 }))).body).toMatchObject({
      code: 422,
      reason: "Invalid",
    });
    expect((await call(api.url, "PUT", `${LEASES}/l`, lease("m", {}))).code).toBe(400);
  });

  it("the first elector creates and holds the Lease; a second waits while it is renewed", async () => {
    const a = elector("a", { leaseDurationSeconds: 15 });
    const b = elector("b");
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(a.leading()).toBe(true);
    const first = api.lease("agent");
    expect(first.spec).toEqual({
      holderIdentity: "a",
      leaseDurationSeconds: 15,
      acquireTime: expect.stringMatching(MICRO),
      renewTime: expect.stringMatching(MICRO),
      leaseTransitions: 0,
    });

    expect(await b.tryAcquireOrRenew()).toBe(false);
    expect(b.leading()).toBe(false);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    const renewed = api.lease("agent");
    expect(renewed.spec.acquireTime).toBe(first.spec.acquireTime);
    expect(renewed.spec.renewTime > first.spec.renewTime).toBe(true);
    expect(renewed.spec.leaseTransitions).toBe(0);
    expect(await b.tryAcquireOrRenew()).toBe(false);
  });

  it("a renewal whose resourceVersion went stale gets 409 Conflict: the elector has lost and stops acting at once", async () => {
    const a = elector("a");
    expect(await a.tryAcquireOrRenew()).toBe(true);
    // Between the elector's GET and its PUT another writer updates the Lease (a proxy in front of the stand-in).
    let intervened = 0;
    const proxy = http.createServer((req, res) => {
      let body = "";
      req.on("data", (c) => (body += c));
      req.on("end", async () => {
        if (req.method === "PUT" && req.url?.startsWith(LEASES)) {
          const current = (await call(api.url, "GET", `${LEASES}/agent`)).body;
          await call(api.url, "PUT", `${LEASES}/agent`, current);
          intervened++;
        }
        const upstream = await fetch(api.url + req.url, {
          method: req.method,
          headers: { "content-type": String(req.headers["content-type"] ?? "application/json") },
          body: body || undefined,
        });
        res.writeHead(upstream.status, { "content-type": "application/json" });
        res.end(await upstream.text());
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
      const kubeconfig = api.kubeconfig().replace(api.url, url);
      const viaProxy = new LeaseElector({ kubeconfig, namespace: "db", name: "agent", identity: "a" });
      expect(await viaProxy.tryAcquireOrRenew()).toBe(false);
      expect(viaProxy.leading()).toBe(false);
      expect(intervened).toBe(1);
    } finally {
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });

  it("a holder that cannot renew stops acting before renewTime + lease - safety margin; the lease is not taken meanwhile", async () => {
    const a = elector("a", { leaseDurationSeconds: 3, renewIntervalMs: 300, safetyMarginMs: 1000 });
    const b = elector("b", { leaseDurationSeconds: 3, renewIntervalMs: 300, safetyMarginMs: 1000 });
    a.start();
    const deadline = Date.now() + 3000;
    while (!a.leading() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(a.leading()).toBe(true);
    b.start();
    api.leaseOutage = true;
    const lastRenew = Date.parse(api.lease("agent").spec.renewTime);
    while (a.leading()) await new Promise((r) => setTimeout(r, 10));
    const stoppedAt = Date.now();
    // renewTime is written after the request left, so a stopped acting by renewTime + 3000 - 1000 at the latest.
    expect(stoppedAt).toBeLessThanOrEqual(lastRenew + 2000 + 50);
    expect(stoppedAt).toBeGreaterThan(lastRenew + 2000 - 400);
    expect(b.leading()).toBe(false);
    expect(api.lease("agent").spec.holderIdentity).toBe("a");
    // The API comes back: nobody else took the lease, so a renews it.
    api.leaseOutage = false;
    const back = Date.now() + 3000;
    while (!a.leading() && Date.now() < back) await new Promise((r) => setTimeout(r, 20));
    expect(a.leading()).toBe(true);
    expect(b.leading()).toBe(false);
  });

  it("a holder that stops releases the Lease, and another elector takes it at once (one more transition)", async () => {
    const a = elector("a");
    const b = elector("b");
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(await b.tryAcquireOrRenew()).toBe(false);
    await a.stop();
    expect(a.leading()).toBe(false);
    expect(api.lease("agent").spec.holderIdentity).toBeUndefined();
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(api.lease("agent").spec).toMatchObject({ holderIdentity: "b", leaseTransitions: 1 });
  });

  it("in-cluster: the pod's ServiceAccount (service host and port, token file, CA), and a clear error outside a pod", () => {
    // A child process: the client reads the real process.env, which jest's sandbox does not share.
    const script = `const { kubeConfigFor, loadKubernetesClient } = require("./components/connectors/kube-config");
      try { const c = kubeConfigFor(loadKubernetesClient(), { inCluster: true });
        console.log(JSON.stringify({ cluster: c.getCurrentCluster(), user: c.getCurrentUser() })); }
      catch (e) { console.log(JSON.stringify({ error: e.message })); }`;
    const run = (env: Record<string, string>) => {
      const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("KUBERNETES_")));
      return JSON.parse(
        execFileSync(process.execPath, ["-r", "ts-node/register/transpile-only", "-e", script], {
          cwd: ROOT,
          env: { ...clean, ...env },
          encoding: "utf8",
        }),
      );
    };
    const inPod = run({ KUBERNETES_SERVICE_HOST: "10.96.0.1", KUBERNETES_SERVICE_PORT: "443" });
    expect(inPod.cluster).toMatchObject({
      server: "https://10.96.0.1:443",
      caFile: "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    });
    expect(inPod.user.authProvider.config.tokenFile).toBe("/var/run/secrets/kubernetes.io/serviceaccount/token");
    expect(run({}).error).toMatch(/^not running in a pod: KUBERNETES_SERVICE_HOST/);
  });
});
