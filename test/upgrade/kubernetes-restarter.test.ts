import { KubernetesRestarter, RESTARTER_FIELD_MANAGER } from "../../components/upgrade/kubernetes-restarter";
import { MemberRestartError } from "../../components/upgrade/restarter";
import { KubeApiStandin } from "../../local/kube-api-standin";

// Runs against a local stand-in of the API server's pod/StatefulSet endpoints (there is no cluster here).
describe("KubernetesRestarter (against a local stand-in of the pod API)", () => {
  let api: KubeApiStandin;
  let restarter: KubernetesRestarter;

  beforeEach(async () => {
    api = new KubeApiStandin({ namespace: "db", statefulSet: "mysql", replicas: 3, revision: "mysql-aaa", recreateMs: 100, readyMs: 150 });
    await api.start();
    restarter = new KubernetesRestarter({ namespace: "db", statefulSet: "mysql", kubeconfig: api.kubeconfig(), pollMs: 30 });
  });
  afterEach(() => api.stop());

  it("reports every pod current while the template is unchanged", async () => {
    const revisions = await restarter.revisions([0, 1, 2]);
    expect(revisions).toEqual([0, 1, 2].map((ordinal) => ({ ordinal, current: true, ready: true, revision: "mysql-aaa" })));
  });

  it("waits for the controller to observe a template change before judging pods out of date", async () => {
    api.setTemplateRevision("mysql-bbb", 200);
    const revisions = await restarter.revisions([0, 1, 2]);
    expect(revisions.map((r) => r.current)).toEqual([false, false, false]);
  });

  it("deletes the pod and returns once its replacement runs the update revision and is Ready", async () => {
    api.setTemplateRevision("mysql-bbb");
    const started = Date.now();
    await restarter.restart(2, Date.now() + 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200); // recreate + ready delays of the stand-in
    expect(api.podRevision(2)).toBe("mysql-bbb");
    expect(api.requests).toContain("DELETE /api/v1/namespaces/db/pods/mysql-2");
    expect((await restarter.revisions([0, 1, 2])).map((r) => r.current)).toEqual([false, false, true]);
  });

  it("fails with the pod's crash reason when the new revision crash-loops", async () => {
    api.setTemplateRevision("mysql-bad");
    api.broken.add("mysql-bad");
    const failure = restarter.restart(1, Date.now() + 10000);
    await expect(failure).rejects.toBeInstanceOf(MemberRestartError);
    await expect(failure).rejects.toThrow(/member 1: pod mysql-1 not Ready: mariadb CrashLoopBackOff \(Error, exit 1\); its container restarted 3 times/);
  });

  it("fails early, naming the init container, when the new revision's init container crash-loops", async () => {
    api.setTemplateRevision("mysql-bad");
    api.brokenInit.add("mysql-bad");
    await expect(restarter.restart(1, Date.now() + 10000)).rejects.toThrow(/member 1: pod mysql-1 not Ready: init-server CrashLoopBackOff \(Error, exit 1\); its container restarted 3 times/);
  });

  it("does not take the old pod, still Terminating, for its replacement", async () => {
    api.setTemplateRevision("mysql-bbb");
    api.options.recreateMs = 400;
    const started = Date.now();
    await restarter.restart(0, Date.now() + 5000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(api.requests.filter((r) => r.startsWith("DELETE"))).toEqual(["DELETE /api/v1/namespaces/db/pods/mysql-0"]);
  });

  it("names the pod and the revision it waited for when the deadline passes", async () => {
    api.setTemplateRevision("mysql-bbb");
    await expect(restarter.restart(0, Date.now() + 100)).rejects.toThrow(/member 0: pod db\/mysql-0 did not come back on revision mysql-bbb in time/);
  });
});

describe("KubernetesRestarter after a switchover", () => {
  const POD_NAME = "statefulset.kubernetes.io/pod-name";
  const PULUMI = "pulumi-kubernetes-1a2b3c4d"; // the provider's server-side apply field manager
  let api: KubeApiStandin;
  let restarter: KubernetesRestarter;
  /** What `pulumi up` sends for the two objects: a server-side apply under its field manager. */
  const pulumiApply = async (resource: "configmaps" | "services", body: object, force = false) => {
    const name = resource === "configmaps" ? "mysql-topology" : "mysql-primary";
    const res = await fetch(`${api.url}/api/v1/namespaces/db/${resource}/${name}?fieldManager=${PULUMI}${force ? "&force=true" : ""}`, {
      method: "PATCH", headers: { "content-type": "application/apply-patch+yaml" }, body: JSON.stringify({ apiVersion: "v1", metadata: { name }, ...body }),
    });
    return { code: res.status, body: (await res.json()) as any };
  };
  const topology = (primary: number) => ({ kind: "ConfigMap", data: { primary: String(primary) } });
  const primaryService = (primary: number) => ({ kind: "Service", spec: { selector: { app: "mysql", [POD_NAME]: `mysql-${primary}` } } });

  beforeEach(async () => {
    api = new KubeApiStandin({ namespace: "db", statefulSet: "mysql", replicas: 3, revision: "mysql-aaa", createOnPatch: false });
    await api.start();
    restarter = new KubernetesRestarter({ namespace: "db", statefulSet: "mysql", kubeconfig: api.kubeconfig(), topologyConfigMap: "mysql-topology", primaryService: "mysql-primary" });
  });
  afterEach(() => api.stop());

  it("points the topology ConfigMap and the primary Service, as Pulumi applied them, at the new primary", async () => {
    await pulumiApply("configmaps", topology(0));
    await pulumiApply("services", primaryService(0));
    await restarter.primaryMoved(1);
    expect(api.configMaps.get("mysql-topology")).toEqual({ primary: "1" });
    expect(api.serviceSelectors.get("mysql-primary")).toEqual({ app: "mysql", [POD_NAME]: "mysql-1" });
  });

  it("names the missing object when there is nothing to patch", async () => {
    await expect(restarter.primaryMoved(1)).rejects.toThrow(/pointing the topology ConfigMap and primary Service at member 1 failed: configmaps "mysql-topology" not found/);
  });

  // The rollout ends with the primary back where Pulumi put it, so the next apply agrees. But the restarter's
  // patches make it an owner of data.primary and the (atomic) selector: once a failover moves the primary, Pulumi's
  // apply of the new value conflicts, unless it forces (pulumi.com/patchForce) or leaves the field out of its apply
  // (ignoreChanges, which components/database.ts uses for these two fields).
  it("leaves its field manager owning the fields, so Pulumi's apply of a different primary conflicts unless forced", async () => {
    await pulumiApply("configmaps", topology(0));
    await pulumiApply("services", primaryService(0));
    await restarter.primaryMoved(1);
    await restarter.primaryMoved(0);
    expect((await pulumiApply("configmaps", topology(0))).code).toBe(200);
    expect(await pulumiApply("configmaps", topology(2))).toMatchObject({
      code: 409, body: { reason: "Conflict", message: `Apply failed with 1 conflict: conflict with "${RESTARTER_FIELD_MANAGER}" using v1: .data.primary` },
    });
    expect((await pulumiApply("services", primaryService(2))).body.message).toBe(`Apply failed with 1 conflict: conflict with "${RESTARTER_FIELD_MANAGER}" using v1: .spec.selector`);
    expect((await pulumiApply("configmaps", topology(2), true)).code).toBe(200);
    expect((await pulumiApply("services", primaryService(2), true)).code).toBe(200);
    expect(api.serviceSelectors.get("mysql-primary")).toEqual({ app: "mysql", [POD_NAME]: "mysql-2" });
  });
});
