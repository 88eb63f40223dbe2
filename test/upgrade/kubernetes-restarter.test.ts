import { KubernetesRestarter } from "../../components/upgrade/kubernetes-restarter";
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

  it("names the pod and the revision it waited for when the deadline passes", async () => {
    api.setTemplateRevision("mysql-bbb");
    await expect(restarter.restart(0, Date.now() + 100)).rejects.toThrow(/member 0: pod db\/mysql-0 did not come back on revision mysql-bbb in time/);
  });
});

describe("KubernetesRestarter after a switchover", () => {
  it("points the topology ConfigMap and the primary Service at the new primary", async () => {
    const api = new KubeApiStandin({ namespace: "db", statefulSet: "mysql", replicas: 3, revision: "mysql-aaa" });
    await api.start();
    try {
      const restarter = new KubernetesRestarter({
        namespace: "db", statefulSet: "mysql", kubeconfig: api.kubeconfig(), topologyConfigMap: "mysql-topology", primaryService: "mysql-primary",
      });
      await restarter.primaryMoved(1);
      expect(api.configMaps.get("mysql-topology")).toEqual({ primary: "1" });
      expect(api.serviceSelectors.get("mysql-primary")).toEqual({ "statefulset.kubernetes.io/pod-name": "mysql-1" });
    } finally {
      await api.stop();
    }
  });
});
