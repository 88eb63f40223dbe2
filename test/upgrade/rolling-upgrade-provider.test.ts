/**
 * The RollingUpgrade provider as `pulumi up` runs it: serialized by the SDK, executed in a separate host process
 * (local/dynamic-host.ts). Members are real local mariadbd; the Kubernetes API it restarts pods through is the local
 * stand-in (local/kube-api-standin.ts), whose "StatefulSet controller" restarts the matching local server with
 * the options of the pod template revision, as the kubelet would start a new pod.
 */
import { ROLLING_UPGRADE_TYPE, SECRET_PROPERTIES, serializableProvider } from "../../components/providers";
import { apply, EngineSettings, inspect, mariadb, plan } from "../../components/replication";
import { Declaration, DynamicHost, serializeProvider } from "../../local/dynamic-host";
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  ServerOptions,
  startServers,
} from "../../local/mariadbd";
import { KubeApiStandin } from "../../local/kube-api-standin";
import { applyProgramObjects, memberStandin, roleLabels } from "../connectors/program-objects";

const REPLICATION_PASSWORD = "repl-Pw-5e2b9a71";
const BASE: ServerOptions = { ...REPLICATION_OPTIONS, "read-only": 1, "rpl-semi-sync-slave-enabled": 1 };
/** The pod template revisions: what a pod of each revision runs with. */
const TEMPLATES: Record<string, ServerOptions> = {
  "mysql-rev1": BASE,
  "mysql-rev2": { ...BASE, "table-open-cache-instances": 3, "max-connections": 321 },
};

describe("RollingUpgrade provider, serialized and run in a separate process", () => {
  let servers: LocalServer[] = [];
  let api: KubeApiStandin;
  let host: DynamicHost;
  let provider: string;
  const hostLog: string[] = [];

  beforeAll(async () => {
    [servers, host, provider] = await Promise.all([
      startServers(3, BASE, 700),
      DynamicHost.start({ log: (line) => hostLog.push(line) }),
      serializeProvider(serializableProvider("rollingUpgrade")),
    ]);
    api = memberStandin({
      revision: "mysql-rev1",
      recreateMs: 20,
      onRecreate: async (ordinal, revision) => {
        const server = servers[ordinal];
        await server.stop();
        server.spec.options = TEMPLATES[revision];
        return server.start().then(
          () => true,
          () => false,
        );
      },
    });
    await api.start();
    await applyProgramObjects(api);
    const members = servers.map((s) => ({ host: s.host, port: s.port }));
    const settings: EngineSettings = {
      admin: { user: LOCAL_ROOT_USER, password: LOCAL_ROOT_PASSWORD },
      replication: { user: "repl", password: REPLICATION_PASSWORD },
      semiSync: true,
      semiSyncTimeoutMs: 2000,
      flavor: mariadb,
    };
    await apply(
      members,
      plan(await inspect(members, settings), { members: 3, primary: 0, allowFailover: false }),
      settings,
    );
  });
  afterAll(async () => {
    await host?.stop();
    await api?.stop();
    await destroyAll(servers);
  });

  function decl(revision: string, serverConfig: ServerOptions): Declaration {
    return {
      type: ROLLING_UPGRADE_TYPE,
      provider,
      secretOutputs: SECRET_PROPERTIES,
      inputs: {
        providerVersion: "1",
        flavor: "mariadb",
        replicas: 3,
        primary: 0,
        revision,
        serverConfig,
        semiSync: true,
        semiSyncTimeoutMs: 2000,
        operationTimeoutSeconds: 60,
        rolloutTimeoutSeconds: 300,
        maxLagSeconds: 5,
        connector: { kind: "direct", members: servers.map((s) => s.address) },
        kubeconfig: api.kubeconfig(),
        restarter: {
          kind: "kubernetes",
          namespace: "db",
          statefulSet: "mysql",
          topologyConfigMap: "mysql-topology",
          primaryService: "mysql-primary",
        },
        adminUser: LOCAL_ROOT_USER,
        adminPassword: LOCAL_ROOT_PASSWORD,
        replicationUser: "repl",
        replicationPassword: REPLICATION_PASSWORD,
      },
    };
  }

  test("create changes nothing; preview tells the rollout in words; up rolls every member onto the new revision", async () => {
    const pids = servers.map((s) => s.process?.pid);
    const created = await host.up("db-rollout", decl("mysql-rev1", {}));
    expect(created.outputs.plan).toBe("no change: every member runs the current revision and options");
    expect(created.outputs.primaryOrdinal).toBe(0);
    expect(servers.map((s) => s.process?.pid)).toEqual(pids);

    const next = decl("mysql-rev2", { table_open_cache_instances: 3, max_connections: 321 });
    const preview = await host.preview("db-rollout", next);
    expect(preview.op).toBe("update");
    expect(preview.diff!.replaces).toEqual([]);
    expect(preview.outputs.plan).toBe(
      "set max_connections = 321 live (SET GLOBAL) on every member; revision mysql-rev1 -> mysql-rev2: restart 2, 1; switch over 0 -> 1; restart 0; switch over 1 -> 0",
    );
    expect(api.requests.filter((r) => r.startsWith("DELETE"))).toEqual([]);

    api.setTemplateRevision("mysql-rev2"); // the StatefulSet update, which comes first in `up`
    const rolled = await host.up("db-rollout", next);
    expect(rolled.op).toBe("update");
    expect(rolled.outputs.plan).toMatch(
      /^set member 0: max_connections = 321 live; set member 1: max_connections = 321 live; set member 2: max_connections = 321 live; restart 2, 1; switch over 0 -> 1; restart 0; switch over 1 -> 0 \(writes paused \d+ ms, \d+ ms\)$/,
    );
    expect(rolled.outputs.primaryOrdinal).toBe(0);
    expect(api.requests.filter((r) => r.startsWith("DELETE"))).toEqual(
      [2, 1, 0].map((o) => `DELETE /api/v1/namespaces/db/pods/mysql-${o}`),
    );
    for (const s of servers) {
      const [row] = await s.query<{ i: number; m: number }>(
        "SELECT @@table_open_cache_instances AS i, @@max_connections AS m",
      );
      expect([Number(row.i), Number(row.m)]).toEqual([3, 321]);
    }
    expect(api.configMaps.get("mysql-topology")).toEqual({ primary: "0" });
    expect(api.serviceEndpoints("mysql-primary")).toEqual(["mysql-0"]);
    expect(roleLabels(api)).toEqual({ "mysql-0": "primary", "mysql-1": "replica", "mysql-2": "replica" });
    // A replacement pod comes without its role label: each is labelled again before the next restart.
    const podWrites = api.requests
      .filter((r) => /^(DELETE|PATCH) \/api\/v1\/namespaces\/db\/pods\//.test(r))
      .map((r) => r.replace("/api/v1/namespaces/db/pods/", ""));
    for (const ordinal of [2, 1, 0]) {
      const deleted = podWrites.indexOf(`DELETE mysql-${ordinal}`);
      const next = podWrites.findIndex((w, i) => i > deleted && w.startsWith("DELETE"));
      expect(podWrites.slice(deleted, next < 0 ? undefined : next)).toContain(`PATCH mysql-${ordinal}`);
    }
    expect(hostLog.some((l) => l.includes("[mysql-ha RollingUpgrade]") && l.includes("restart 2, 1"))).toBe(true);

    // Up to date: diff says no change; the checkpoint holds no plaintext password.
    const same = await host.preview("db-rollout", next);
    expect(same.op).toBe("same");
    const checkpoint = host.checkpoint();
    expect(checkpoint).not.toContain(LOCAL_ROOT_PASSWORD);
    expect(checkpoint).not.toContain(REPLICATION_PASSWORD);
  });
});
