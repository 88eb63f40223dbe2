/**
 * The program's own replication resources executed for real, the way `npm run demo` drives them: index.ts is
 * evaluated under mocks (offline/render.ts), and the onResource hook hands each dynamic resource's serialized
 * provider to the separate host process, which runs it against local mariadbd members (connector = direct).
 */
import { PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE, SECRET_PROPERTIES } from "../../components/providers";
import { pointAtPrimary } from "../../components/connectors";
import { failover, mariadb } from "../../components/replication";
import { DynamicHost } from "../../local/dynamic-host";
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LocalServer,
  REPLICATION_OPTIONS,
  sleep,
  startServers,
} from "../../local/mariadbd";
import { MockResourceArgs, MockResult, renderStack } from "../../offline/render";
import { writableMembers } from "../chaos/support";
import { memberStandin, roleLabels } from "../connectors/program-objects";

describe("the program's replication resources, run for real through the render hook", () => {
  let servers: LocalServer[] = [];
  let host: DynamicHost;
  /**
   * The cluster: the program's ConfigMaps and Services are applied here, and the providers point the primary here;
   * its three pods (the members' template labels) are what the write Service selects among.
   */
  const api = memberStandin({ namespace: "mysql-ha-dev", recreateMs: 20, initMs: 10, readyMs: 20 });
  /** After each write to the API during an up: the pods the write Service selects, and which of them are writable. */
  const selected: Array<{ request: string; pods: string[]; writable: string[] }> = [];
  api.options.onWrite = async (request) => {
    const pods = api.serviceEndpoints("mysql-primary");
    const writable = await writableMembers(servers);
    selected.push({ request, pods, writable: pods.filter((p) => writable.includes(Number(p.split("-")[1]))) });
  };
  beforeAll(async () => {
    [servers, host] = await Promise.all([
      startServers(3, { ...REPLICATION_OPTIONS, "read-only": 1 }, 540),
      DynamicHost.start(),
      api.start(),
    ]);
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
        return {
          id: r.name,
          state: { ...r.inputs, result: r.name === "mysql-root-password" ? LOCAL_ROOT_PASSWORD : `${r.name}-Fixed9` },
        };
      }
      if (r.type === "kubernetes:core/v1:ConfigMap" || r.type === "kubernetes:core/v1:Service") {
        const applied = await api.serverSideApply(
          r.type === "kubernetes:core/v1:Service" ? "services" : "configmaps",
          r.inputs as any,
        );
        if (applied.code >= 300) throw new Error(`${r.name}: ${applied.body.message}`);
        return undefined;
      }
      if (r.type !== PRIMARY_PLACEMENT_TYPE && r.type !== REPLICATION_TOPOLOGY_TYPE) return undefined;
      const { __provider, ...inputs } = r.inputs;
      const step = await host.up(r.name, {
        type: r.type,
        provider: __provider,
        inputs,
        secretOutputs: SECRET_PROPERTIES,
      });
      ops.push(`${r.name}: ${step.op}: ${step.outputs.plan}`);
      return { id: step.id, state: step.outputs };
    };
    const stack = await renderStack({
      stack: "dev",
      // Members by address: TLS verifies names only (test/replication/tls.test.ts runs the engine with TLS).
      set: {
        replicas: "3",
        connector: "direct",
        directMembers: JSON.stringify(servers.map((s) => s.address)),
        tls: "off",
        "kubernetes:kubeconfig": api.kubeconfig(),
        ...set,
      },
      onResource,
    });
    expect(stack.errors).toEqual([]);
    return { stack, ops };
  }

  test("create sets up replication and a primary change moves the write endpoint", async () => {
    // The placement names the primary before any pod starts; here the pods exist already and are labelled at once.
    const created = await up({ primary: "0" });
    expect(created.ops).toEqual([
      "mysql-placement: create: none: first create; topology ConfigMap names member 0",
      "mysql-replication: create: set up member 0 as primary of 1, 2",
    ]);
    expect(created.stack.outputs.primary).toBe(0);
    expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-0"]);
    expect(roleLabels(api)).toEqual({ "mysql-0": "primary", "mysql-1": "replica", "mysql-2": "replica" });
    expect(api.configMaps.get("mysql-topology")!.primary).toBe("0");
    expect((await servers[2].query("SHOW SLAVE STATUS"))[0].Master_Port).toBe(servers[0].port);

    selected.length = 0;
    const moved = await up({ primary: "2" });
    expect(moved.ops[0]).toMatch(/^mysql-placement: update: switched over 0 -> 2/);
    expect(moved.stack.outputs.primary).toBe(2);
    // Pointed by the placement right after its switchover, through the cluster's API (the program's objects never name it).
    expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-2"]);
    expect(roleLabels(api)).toEqual({ "mysql-0": "replica", "mysql-1": "replica", "mysql-2": "primary" });
    expect(api.configMaps.get("mysql-topology")!.primary).toBe("2");
    // At no write during the move did the Service select two pods, or a writable pod other than the new primary:
    // member 0 was read-only when the ConfigMap moved, lost its label, and only then member 2 got it.
    // The move starts with the placement's patch of the ConfigMap, the last one before the first label (before it,
    // Pulumi's applies of the program's objects, while member 0 was the primary).
    const requests = selected.map((s) => s.request);
    const move = selected.slice(
      requests.lastIndexOf(
        "PATCH /api/v1/namespaces/mysql-ha-dev/configmaps/mysql-topology",
        requests.findIndex((r) => r.includes("/pods/")),
      ),
    );
    expect(move.filter((s) => s.pods.length > 1 || s.writable.some((p) => p !== "mysql-2"))).toEqual([]);
    const changes = move.filter((s, i) => i === 0 || s.pods.join() !== move[i - 1].pods.join());
    expect(
      changes.map((s) => [s.request.replace("/api/v1/namespaces/mysql-ha-dev/", ""), s.pods.join(), s.writable.join()]),
    ).toEqual([
      ["PATCH configmaps/mysql-topology", "mysql-0", ""],
      ["PATCH pods/mysql-0", "", ""],
      ["PATCH pods/mysql-2", "mysql-2", "mysql-2"],
    ]);
    expect(JSON.parse(api.configMaps.get("mysql-topology")!["last-move"])).toMatchObject({
      from: 0,
      to: 2,
      by: "pulumi up",
      operation: "switchover",
    });
    expect(Number((await servers[2].query("SELECT @@read_only AS ro"))[0].ro)).toBe(0);
    expect((await servers[0].query("SHOW SLAVE STATUS"))[0].Master_Port).toBe(servers[2].port);

    const again = await up({ primary: "2" });
    expect(again.ops.map((o) => o.split(":")[1].trim())).toEqual(["same", "same"]);
    expect(host.checkpoint()).not.toContain(LOCAL_ROOT_PASSWORD);
  });

  test("a primary pod the StatefulSet controller recreated comes back unlabelled: the next up labels it, and says so", async () => {
    expect((await fetch(`${api.url}/api/v1/namespaces/mysql-ha-dev/pods/mysql-2`, { method: "DELETE" })).status).toBe(
      200,
    );
    // Terminating, it keeps its label a moment; its replacement comes from the template.
    for (let i = 0; i < 100 && roleLabels(api)["mysql-2"] !== undefined; i++) await sleep(20);
    expect(roleLabels(api)["mysql-2"]).toBeUndefined();
    expect(api.serviceEndpoints("mysql-primary")).toEqual([]);
    const relabelled = await up({ primary: "2" });
    expect(relabelled.ops).toEqual([
      expect.stringMatching(/^mysql-placement: same: /),
      "mysql-replication: update: no change: the topology is healthy and as configured; role labels set: mysql-2 primary",
    ]);
    for (let i = 0; i < 100 && api.serviceEndpoints("mysql-primary").length === 0; i++) await sleep(20);
    expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-2"]);
  });

  test("after the agent failed over between runs, the next up says who moved the primary, records it and changes nothing", async () => {
    // What the agent does when member 2 dies: the engine's failover, then the objects pointed with its record.
    await servers[2].stop();
    const members = servers.map((s) => ({ host: s.host, port: s.port }));
    const settings = {
      admin: { user: "root", password: LOCAL_ROOT_PASSWORD },
      replication: { user: "replication", password: "mysql-replication-password-Fixed9" },
      semiSync: true,
      semiSyncTimeoutMs: 10000,
      flavor: mariadb,
    };
    const result = await failover(members, undefined, settings);
    const objects = {
      namespace: "mysql-ha-dev",
      statefulSet: "mysql",
      topologyConfigMap: "mysql-topology",
      primaryService: "mysql-primary",
      kubeconfig: api.kubeconfig(),
    };
    await pointAtPrimary(objects, result.primary, { move: { from: 2, by: "the agent", operation: "failover" } });
    const promoted = result.primary;
    const gtids = await Promise.all(
      servers.slice(0, 2).map(async (s) => (await s.query("SELECT @@gtid_current_pos AS p"))[0].p),
    );

    const after = await up({ primary: "2" });
    expect(after.ops[0]).toMatch(/^mysql-placement: same: /); // config did not move the primary: nothing to place
    expect(after.ops[1]).toMatch(
      new RegExp(
        `^mysql-replication: update: primary moved 2 -> ${promoted} by the agent at \\S+ \\(failover\\); no change`,
      ),
    );
    expect(after.stack.outputs.primary).toBe(promoted);
    // Nothing was done to the members: same primary, same GTID positions.
    expect(Number((await servers[promoted].query("SELECT @@read_only AS ro"))[0].ro)).toBe(0);
    expect(
      await Promise.all(servers.slice(0, 2).map(async (s) => (await s.query("SELECT @@gtid_current_pos AS p"))[0].p)),
    ).toEqual(gtids);
    expect(api.serviceEndpoints("mysql-primary")).toEqual([`mysql-${promoted}`]);
    expect(roleLabels(api)).toEqual(
      Object.fromEntries([0, 1, 2].map((o) => [`mysql-${o}`, o === promoted ? "primary" : "replica"])),
    );
    await servers[2].start();
  });
});
