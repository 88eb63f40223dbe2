import { FIELD_MANAGER as RESTARTER_FIELD_MANAGER } from "../../components/connectors";
import { KubernetesRestarter } from "../../components/upgrade/kubernetes-restarter";
import { objectNames, ROLE_LABEL, selectorLabels } from "../../components/kubernetes/names";
import { buildPrimaryService } from "../../components/kubernetes/services";
import { buildTopologyConfigMap } from "../../components/kubernetes/topology";
import { MemberRestartError } from "../../components/upgrade/restarter";
import { KubeApiStandin } from "../../local/kube-api-standin";

// Runs against a local stand-in of the API server's pod/StatefulSet endpoints (there is no cluster here).
describe("KubernetesRestarter (against a local stand-in of the pod API)", () => {
  let api: KubeApiStandin;
  let restarter: KubernetesRestarter;

  beforeEach(async () => {
    api = new KubeApiStandin({
      namespace: "db",
      statefulSet: "mysql",
      replicas: 3,
      revision: "mysql-aaa",
      recreateMs: 100,
      readyMs: 150,
    });
    await api.start();
    restarter = new KubernetesRestarter({
      namespace: "db",
      statefulSet: "mysql",
      kubeconfig: api.kubeconfig(),
      pollMs: 30,
    });
  });
  afterEach(() => api.stop());

  it("reports every pod current while the template is unchanged", async () => {
    const revisions = await restarter.revisions([0, 1, 2]);
    expect(revisions).toEqual(
      [0, 1, 2].map((ordinal) => ({ ordinal, current: true, ready: true, revision: "mysql-aaa" })),
    );
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
    await expect(failure).rejects.toThrow(
      /member 1: pod mysql-1 not Ready: mariadb CrashLoopBackOff \(Error, exit 1\); its container restarted 3 times/,
    );
  });

  it("fails early, naming the init container, when the new revision's init container crash-loops", async () => {
    api.setTemplateRevision("mysql-bad");
    api.brokenInit.add("mysql-bad");
    await expect(restarter.restart(1, Date.now() + 10000)).rejects.toThrow(
      /member 1: pod mysql-1 not Ready: init-server CrashLoopBackOff \(Error, exit 1\); its container restarted 3 times/,
    );
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
    await expect(restarter.restart(0, Date.now() + 100)).rejects.toThrow(
      /member 0: pod db\/mysql-0 did not come back on revision mysql-bbb in time/,
    );
  });
});

describe("KubernetesRestarter after a switchover", () => {
  const PULUMI = "pulumi-kubernetes-1a2b3c4d"; // the provider's server-side apply field manager
  let api: KubeApiStandin;
  let restarter: KubernetesRestarter;
  /** What `pulumi up` sends for the two objects: a server-side apply under its field manager. */
  const pulumiApply = async (resource: "configmaps" | "services", body: any) => {
    const name = resource === "configmaps" ? "mysql-topology" : "mysql-primary";
    const force = body.metadata?.annotations?.["pulumi.com/patchForce"] === "true";
    const res = await fetch(
      `${api.url}/api/v1/namespaces/db/${resource}/${name}?fieldManager=${PULUMI}${force ? "&force=true" : ""}`,
      {
        method: "PATCH",
        headers: { "content-type": "application/apply-patch+yaml" },
        body: JSON.stringify({ apiVersion: "v1", metadata: { name }, ...body }),
      },
    );
    return { code: res.status, body: (await res.json()) as any };
  };
  // The two objects exactly as the program renders them (namespace db, component name mysql).
  const names = objectNames("mysql");
  const rendered = (labels: Record<string, string> = {}) => {
    const base = {
      name: "mysql",
      names,
      settings: { namespace: "db", serviceType: "ClusterIP" as const, loadBalancerSourceRanges: [] },
    };
    const withLabels = (o: any) => ({ ...o, metadata: { ...o.metadata, labels: { ...o.metadata.labels, ...labels } } });
    return { topology: withLabels(buildTopologyConfigMap(base)), service: withLabels(buildPrimaryService(base)) };
  };

  beforeEach(async () => {
    api = new KubeApiStandin({
      namespace: "db",
      statefulSet: "mysql",
      replicas: 3,
      revision: "mysql-aaa",
      createOnPatch: false,
      podLabels: selectorLabels("mysql"),
    });
    await api.start();
    restarter = new KubernetesRestarter({
      namespace: "db",
      statefulSet: "mysql",
      kubeconfig: api.kubeconfig(),
      topologyConfigMap: "mysql-topology",
      primaryService: "mysql-primary",
    });
  });
  afterEach(() => api.stop());

  it("names the new primary in the topology ConfigMap and by the role labels the Service, as Pulumi applied it, selects", async () => {
    const { topology, service } = rendered();
    expect((await pulumiApply("configmaps", topology)).code).toBe(201);
    expect((await pulumiApply("services", service)).code).toBe(201);
    await restarter.namePrimary(1);
    expect(api.configMaps.get("mysql-topology")).toEqual({ primary: "1" });
    expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-1"]);
    expect([0, 1, 2].map((o) => api.podLabels(o)![ROLE_LABEL])).toEqual(["replica", "primary", "replica"]);
  });

  it("names the missing object when there is nothing to patch", async () => {
    await expect(restarter.namePrimary(1)).rejects.toThrow(
      /pointing ConfigMap db\/mysql-topology at member 1 failed: configmaps "mysql-topology" not found \(HTTP 404\)/,
    );
  });

  // The program leaves the primary's name out of both objects (the ConfigMap's key, the pods' labels), so Pulumi's
  // later applies (with other changes such as new labels) neither conflict with the engine's field manager nor write
  // an old primary back.
  it("Pulumi's later applies of the rendered objects neither conflict with nor revert the primary the engine named", async () => {
    const first = rendered();
    await pulumiApply("configmaps", first.topology);
    await pulumiApply("services", first.service);
    await restarter.namePrimary(2);
    const later = rendered({ "example.com/team": "db" });
    expect((await pulumiApply("configmaps", later.topology)).code).toBe(200);
    expect((await pulumiApply("services", later.service)).code).toBe(200);
    expect(api.configMaps.get("mysql-topology")).toEqual({ primary: "2" });
    expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-2"]);
    // The engine never wrote the Service: its selector is Pulumi's alone.
    const live = (await (await fetch(`${api.url}/api/v1/namespaces/db/services/mysql-primary`)).json()) as any;
    expect(live.metadata.managedFields.map((m: any) => m.manager)).toEqual([PULUMI]);
    const configMap = (await (await fetch(`${api.url}/api/v1/namespaces/db/configmaps/mysql-topology`)).json()) as any;
    expect(configMap.metadata.managedFields.find((m: any) => m.manager === RESTARTER_FIELD_MANAGER).fieldsV1).toEqual({
      "f:data": { "f:primary": {} },
    });
  });
});
