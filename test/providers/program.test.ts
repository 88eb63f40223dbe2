/**
 * The program's own replication resources executed for real, the way `npm run demo` drives them: index.ts is
 * evaluated under mocks (local/render.ts), and the onResource hook hands each dynamic resource's serialized
 * provider to the separate host process, which runs it against local mariadbd members (connector = direct).
 */
import { PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE, SECRET_PROPERTIES } from "../../components/providers";
import { DynamicHost } from "../../local/dynamic-host";
import { KubeApiStandin } from "../../local/kube-api-standin";
import { destroyAll, LOCAL_ROOT_PASSWORD, LocalServer, REPLICATION_OPTIONS, startServers } from "../../local/mariadbd";
import { MockResourceArgs, MockResult, renderStack } from "../../local/render";

const POD_NAME = "statefulset.kubernetes.io/pod-name";

describe("the program's replication resources, run for real through the render hook", () => {
  let servers: LocalServer[] = [];
  let host: DynamicHost;
  /** The cluster: the program's ConfigMaps and Services are applied here, and the providers point the primary here. */
  const api = new KubeApiStandin({ namespace: "mysql-ha-dev", statefulSet: "mysql", replicas: 0, revision: "", createOnPatch: false });
  beforeAll(async () => {
    [servers, host] = await Promise.all([startServers(3, { ...REPLICATION_OPTIONS, "read-only": 1 }, 540), DynamicHost.start(), api.start()]);
  });
  afterAll(async () => {
    await api.stop();
    await host?.stop();
    await destroyAll(servers);
  });

  /** One `pulumi up` of the dev stack with these overrides; returns the stack and what each dynamic resource did. */
  async function up(set: Record<string, string>) {
    const ops: string[] = [];
    const onResource = async (r: MockResourceArgs): Promise<MockResult> => {
      // Passwords stay the same from one up to the next, as in a real stack; root is the local servers' admin.
      if (r.type === "random:index/randomPassword:RandomPassword") {
        return { id: r.name, state: { ...r.inputs, result: r.name === "mysql-root-password" ? LOCAL_ROOT_PASSWORD : `${r.name}-Fixed9` } };
      }
      if (r.type === "kubernetes:core/v1:ConfigMap" || r.type === "kubernetes:core/v1:Service") {
        const applied = await api.serverSideApply(r.type === "kubernetes:core/v1:Service" ? "services" : "configmaps", r.inputs as any);
        if (applied.code >= 300) throw new Error(`${r.name}: ${applied.body.message}`);
        return undefined;
      }
      if (r.type !== PRIMARY_PLACEMENT_TYPE && r.type !== REPLICATION_TOPOLOGY_TYPE) return undefined;
      const { __provider, ...inputs } = r.inputs;
      const step = await host.up(r.name, { type: r.type, provider: __provider, inputs, secretOutputs: SECRET_PROPERTIES });
      ops.push(`${r.name}: ${step.op}: ${step.outputs.plan}`);
      return { id: step.id, state: step.outputs };
    };
    const stack = await renderStack({
      stack: "dev",
      set: { replicas: "3", connector: "direct", directMembers: JSON.stringify(servers.map((s) => s.address)), "kubernetes:kubeconfig": api.kubeconfig(), ...set },
      onResource,
    });
    expect(stack.errors).toEqual([]);
    return { stack, ops };
  }

  test("create sets up replication and a primary change moves the write endpoint", async () => {
    const created = await up({ primary: "0" });
    expect(created.ops).toEqual([
      "mysql-placement: create: none: first create; topology ConfigMap and primary Service name member 0",
      "mysql-replication: create: set up member 0 as primary of 1, 2",
    ]);
    expect(created.stack.outputs.primary).toBe(0);
    expect([api.serviceSelectors.get("mysql-primary"), api.configMaps.get("mysql-topology")]).toEqual([{ [POD_NAME]: "mysql-0" }, { primary: "0" }]);
    expect((await servers[2].query("SHOW SLAVE STATUS"))[0].Master_Port).toBe(servers[0].port);

    const moved = await up({ primary: "2" });
    expect(moved.ops[0]).toMatch(/^mysql-placement: update: switched over 0 -> 2/);
    expect(moved.stack.outputs.primary).toBe(2);
    // Pointed by the placement right after its switchover, through the cluster's API (the program's objects never name it).
    expect([api.serviceSelectors.get("mysql-primary"), api.configMaps.get("mysql-topology")]).toEqual([{ [POD_NAME]: "mysql-2" }, { primary: "2" }]);
    expect(Number((await servers[2].query("SELECT @@read_only AS ro"))[0].ro)).toBe(0);
    expect((await servers[0].query("SHOW SLAVE STATUS"))[0].Master_Port).toBe(servers[2].port);

    const again = await up({ primary: "2" });
    expect(again.ops.map((o) => o.split(":")[1].trim())).toEqual(["same", "same"]);
    expect(host.checkpoint()).not.toContain(LOCAL_ROOT_PASSWORD);
  });
});
