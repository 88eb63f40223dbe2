/**
 * The dynamic providers as `pulumi up` runs them: serialized by the SDK's own closure serializer, deserialized and
 * executed in a separate plain Node process (local/dynamic-host.ts), against real local mariadbd members.
 */
import {
  PRIMARY_PLACEMENT_TYPE,
  REPLICATION_TOPOLOGY_TYPE,
  SECRET_PROPERTIES,
  serializableProvider,
} from "../../components/providers";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import { Declaration, DynamicHost, serializeProvider } from "../../local/dynamic-host";
import { ApiServerStandin } from "../connectors/apiserver-standin";
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  sleep,
  startServers,
} from "../../local/mariadbd";

const REPLICATION_PASSWORD = "repl-Pw-7d1c0f3e";

interface Row {
  [column: string]: any;
}

/** Which member each server replicates from (by port), and whether it accepts writes. */
async function roleOf(
  servers: LocalServer[],
  s: LocalServer,
): Promise<{ writable: boolean; source: number | null; running: boolean }> {
  const [ro] = await s.query<Row>("SELECT @@read_only AS ro");
  const status = await s.query<Row>("SHOW SLAVE STATUS");
  const source = status.length ? servers.findIndex((x) => x.port === Number(status[0].Master_Port)) : null;
  const running = status.length > 0 && status[0].Slave_IO_Running === "Yes" && status[0].Slave_SQL_Running === "Yes";
  return { writable: Number(ro.ro) === 0, source, running };
}

async function waitForRows(s: LocalServer, expected: number, timeoutMs = 15000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await s.query<Row>("SELECT COUNT(*) AS n FROM app.t").catch(() => [{ n: -1 }]);
    const n = Number(rows[0].n);
    if (n === expected || Date.now() > deadline) return n;
    await sleep(100);
  }
}

describe("replication providers, serialized and run in a separate process", () => {
  let servers: LocalServer[] = [];
  let host: DynamicHost;
  let placementProvider: string;
  let topologyProvider: string;
  const hostLog: string[] = [];

  beforeAll(async () => {
    [servers, host, placementProvider, topologyProvider] = await Promise.all([
      // Like the pods: every member starts read-only; setup makes the primary writable.
      startServers(4, { ...REPLICATION_OPTIONS, "read-only": 1 }, 500),
      DynamicHost.start({ log: (line) => hostLog.push(line) }),
      serializeProvider(serializableProvider("placement")),
      serializeProvider(serializableProvider("topology")),
    ]);
  });
  afterAll(async () => {
    await host?.stop();
    await destroyAll(servers);
  });

  function config(overrides: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      providerVersion: "1",
      flavor: "mariadb",
      replicas: 3,
      primary: 0,
      semiSync: true,
      semiSyncTimeoutMs: 2000,
      autoFailover: true,
      operationTimeoutSeconds: 60,
      connector: { kind: "direct", members: servers.map((s) => s.address) },
      adminUser: LOCAL_ROOT_USER,
      adminPassword: LOCAL_ROOT_PASSWORD,
      replicationUser: "repl",
      replicationPassword: REPLICATION_PASSWORD,
      ...overrides,
    };
  }
  const placement = (inputs: Record<string, unknown>): Declaration => ({
    type: PRIMARY_PLACEMENT_TYPE,
    provider: placementProvider,
    inputs,
    secretOutputs: SECRET_PROPERTIES,
  });
  const topology = (inputs: Record<string, unknown>): Declaration => ({
    type: REPLICATION_TOPOLOGY_TYPE,
    provider: topologyProvider,
    inputs,
    secretOutputs: SECRET_PROPERTIES,
  });

  /** One `pulumi up`: placement, (the StatefulSet would change here), topology. */
  async function up(inputs: Record<string, unknown>) {
    const p = await host.up("db-placement", placement(inputs));
    const t = await host.up("db-topology", topology(inputs));
    return { placement: p, topology: t };
  }

  test("check rejects bad inputs naming each field, in the host process", async () => {
    const { failures } = await host.check(
      {},
      {
        ...config({ replicas: 12, primary: 3, semiSync: "yes", connector: { kind: "ssh" } }),
        __provider: topologyProvider,
      },
    );
    expect(failures.map((f) => f.property).sort()).toEqual(["connector.kind", "replicas", "semiSync"]);
    expect(failures.find((f) => f.property === "connector.kind")!.reason).toMatch(
      /"ssh" is not one of direct, kubernetes/,
    );
    const short = await host.check({}, { ...config({ replicas: 3, primary: 3 }), __provider: topologyProvider });
    expect(short.failures).toEqual([
      { property: "primary", reason: "3 is not a member: allowed 0..2 with replicas = 3" },
    ]);
    const accounts = [
      { role: "auditor", user: "a", password: "x" },
      { role: "probe", user: "x'; DROP USER root", password: "" },
    ];
    const bad = await host.check({}, { ...config({ accounts }), __provider: topologyProvider });
    expect(bad.failures).toEqual([
      { property: "accounts[0].role", reason: '"auditor" is not one of operator, backup, archiver, probe, metrics' },
      { property: "accounts[1].user", reason: `"x'; DROP USER root" must be letters, digits and _` },
      { property: "accounts[1].password", reason: "must be a non-empty string" },
    ]);
  });

  test("create -> grow 3 -> 4 -> switch over 0 -> 2 -> fail over after kill -9 -> refresh after drift", async () => {
    // Preview of the first up: the plan in words, nothing touched.
    const preview0 = await host.preview("db-topology", topology(config()));
    expect(preview0.op).toBe("create");
    expect(preview0.outputs.plan).toBe("set up member 0 as primary of 1, 2");
    expect((await roleOf(servers, servers[1])).source).toBeNull();

    // Create: member 0 primary, 1 and 2 replicate from it; member 3 is not part of the stack yet.
    const created = await up(config());
    expect(created.placement.outputs.plan).toBe("none: first create");
    expect(created.topology.outputs.primaryOrdinal).toBe(0);
    expect(await roleOf(servers, servers[0])).toEqual({ writable: true, source: null, running: false });
    for (const i of [1, 2])
      expect(await roleOf(servers, servers[i])).toEqual({ writable: false, source: 0, running: true });
    expect((await roleOf(servers, servers[3])).source).toBeNull();
    await servers[0].query("CREATE DATABASE app");
    await servers[0].query("CREATE TABLE app.t (id INT PRIMARY KEY)");
    await servers[0].query("INSERT INTO app.t VALUES (1), (2)");
    expect(await waitForRows(servers[2], 2)).toBe(2);

    // Healthy and as configured: diff says no change, preview says so in words.
    const same = await host.preview("db-topology", topology(config()));
    expect(same.op).toBe("same");
    expect(same.diff!.changes).toBe(false);
    expect(same.inputs.plan).toMatch(/^no change/);
    expect((await host.preview("db-placement", placement(config()))).diff!.changes).toBe(false);

    // Preview of a growth whose new pod does not run yet (its address refuses connections): promised, not refused.
    const ahead = config({
      replicas: 5,
      connector: { kind: "direct", members: [...servers.map((s) => s.address), "127.0.0.1:1"] },
    });
    expect((await host.preview("db-topology", topology(ahead))).outputs.plan).toBe(
      "attach member 3; attach member 4 once its pod runs",
    );

    // Grow to 4: preview names the member to attach; up attaches it and it has the data.
    const grow = config({ replicas: 4 });
    const growPreview = await host.preview("db-topology", topology(grow));
    expect(growPreview.op).toBe("update");
    expect(growPreview.diff!.replaces).toEqual([]);
    expect(growPreview.outputs.plan).toBe("attach member 3");
    const grown = await up(grow);
    expect(grown.placement.outputs.plan).toBe("none: the primary stays on member 0");
    expect(grown.topology.outputs.plan).toMatch(/^attach member 3/);
    expect(await roleOf(servers, servers[3])).toEqual({ writable: false, source: 0, running: true });
    expect(await waitForRows(servers[3], 2)).toBe(2);
    expect(grown.topology.outputs.gtidPositions).toHaveLength(4);

    // Switch over to member 2: the placement does it before the StatefulSet would change; no write lost.
    const moved = config({ replicas: 4, primary: 2 });
    expect((await host.preview("db-placement", placement(moved))).outputs.plan).toMatch(
      /^switch over 0 -> 2 \(primary changed 0 -> 2\)/,
    );
    const switched = await up(moved);
    expect(switched.placement.op).toBe("update");
    expect(switched.placement.outputs.plan).toMatch(/^switched over 0 -> 2/);
    expect(switched.placement.outputs.primaryOrdinal).toBe(2);
    expect(switched.topology.outputs.primaryOrdinal).toBe(2);
    expect(await roleOf(servers, servers[2])).toEqual({ writable: true, source: null, running: false });
    for (const i of [0, 1, 3])
      expect(await roleOf(servers, servers[i])).toEqual({ writable: false, source: 2, running: true });
    await servers[2].query("INSERT INTO app.t VALUES (3)");
    for (const i of [0, 1, 3]) expect(await waitForRows(servers[i], 3)).toBe(3);
    expect((await host.preview("db-topology", topology(moved))).diff!.changes).toBe(false);

    // Kill -9 the primary: preview says failover, up promotes a replica and repoints the others.
    await servers[2].signal("SIGKILL");
    const failPreview = await host.preview("db-topology", topology(moved));
    expect(failPreview.op).toBe("update");
    expect(failPreview.outputs.plan).toMatch(/^failover: promote the most advanced replica in place of member 2/);
    const failed = await up(moved);
    expect(failed.placement.op).toBe("same"); // nothing to move: no reachable primary
    const promoted = failed.topology.outputs.primaryOrdinal;
    expect([0, 1, 3]).toContain(promoted);
    expect(failed.topology.outputs.members[2].reachable).toBe(false);
    expect(await roleOf(servers, servers[promoted])).toEqual({ writable: true, source: null, running: false });
    for (const i of [0, 1, 3].filter((i) => i !== promoted)) {
      expect(await roleOf(servers, servers[i])).toEqual({ writable: false, source: promoted, running: true });
    }
    await servers[promoted].query("INSERT INTO app.t VALUES (4)");
    for (const i of [0, 1, 3]) expect(await waitForRows(servers[i], 4)).toBe(4); // every acknowledged write is there

    // Manual drift: someone stops replication on a replica. Refresh reads it; preview then plans the repair.
    const drifted = [0, 1, 3].find((i) => i !== promoted)!;
    await servers[drifted].query("STOP SLAVE");
    const refreshed = await host.refresh("db-topology");
    expect(refreshed.healthy).toBe(false);
    expect(refreshed.primaryOrdinal).toBe(promoted);
    expect(refreshed.plan).toContain(`attach member ${drifted}`);
    const repairPreview = await host.preview("db-topology", topology(moved));
    expect(repairPreview.diff!.changes).toBe(true);
    expect(repairPreview.outputs.plan).toContain(`attach member ${drifted}`);
    await host.up("db-topology", topology(moved));
    expect((await roleOf(servers, servers[drifted])).running).toBe(true);

    // The checkpoint: secrets encrypted, no password anywhere (not in __provider, not in plan text or outputs).
    const checkpoint = host.checkpoint();
    expect(checkpoint).not.toContain(LOCAL_ROOT_PASSWORD);
    expect(checkpoint).not.toContain(REPLICATION_PASSWORD);
    const state = JSON.parse(checkpoint);
    for (const r of state.resources) {
      for (const key of ["adminPassword", "replicationPassword"]) {
        expect(r.inputs[key]).toHaveProperty("ciphertext");
        expect(r.outputs[key]).toHaveProperty("ciphertext");
      }
    }
    expect(hostLog.join("\n")).not.toContain(REPLICATION_PASSWORD);

    // Inputs not known yet (preview before their producers ran): a change, decided by up.
    const later = await host.preview("db-topology", topology({ ...moved, replicas: unknownValue }));
    expect(later.op).toBe("update");
    expect(later.diff!.changes).toBe(true);
    expect(later.outputs.plan).toBe("decided once replicas is known: up inspects the members first");

    // Destroy leaves the databases alone.
    await host.destroy("db-topology");
    await host.destroy("db-placement");
    expect(await roleOf(servers, servers[promoted])).toEqual({ writable: true, source: null, running: false });
    expect(await waitForRows(servers[drifted], 4)).toBe(4);
  });

  test("a shrink that would remove the primary switches over first, then the removed member is detached", async () => {
    const three = await startServers(3, { ...REPLICATION_OPTIONS, "read-only": 1 }, 520);
    servers.push(...three);
    const inputs = (replicas: number, primary: number) =>
      config({ replicas, primary, connector: { kind: "direct", members: three.map((s) => s.address) } });
    await host.up("small-placement", placement(inputs(3, 2)));
    expect((await host.up("small-topology", topology(inputs(3, 2)))).outputs.primaryOrdinal).toBe(2);

    // replicas 3 -> 2 with primary 0: the placement moves the primary off member 2 while it still exists.
    const preview = await host.preview("small-placement", placement(inputs(2, 0)));
    expect(preview.outputs.plan).toBe("switch over 2 -> 0 (replicas = 2 removes member 2, the primary)");
    const p = await host.up("small-placement", placement(inputs(2, 0)));
    expect(p.outputs.primaryOrdinal).toBe(0);
    expect(await roleOf(three, three[0])).toEqual({ writable: true, source: null, running: false });
    // The StatefulSet would delete pod 2 here; with direct addresses it is still up, so the topology detaches it.
    const t = await host.up("small-topology", topology(inputs(2, 0)));
    expect(t.outputs.plan).toMatch(/detach member 2/);
    expect(t.outputs.members).toHaveLength(2);
    expect(await roleOf(three, three[1])).toEqual({ writable: false, source: 0, running: true });
    expect((await roleOf(three, three[2])).source).toBeNull();
  });

  test("the Kubernetes connector works inside the provider host: check inspects the pods through port-forward", async () => {
    const three = servers.slice(-3);
    const standin = await ApiServerStandin.start("prod", "k8s-T0ken-9f2");
    try {
      three.forEach((s, i) => standin.pods.set(`db-${i}`, { host: s.host, port: s.port }));
      const inputs = config({
        replicas: 2,
        connector: { kind: "kubernetes", namespace: "prod", statefulSet: "db", service: "db-headless" },
        kubeconfig: standin.kubeconfig(),
      });
      const preview = await host.preview("k8s-topology", topology(inputs));
      // The live topology seen through the tunnels: member 0 is the writable primary; member 1 replicates from
      // 127.0.0.1:<port>, not from pod db-0's DNS name, so in this cluster it would be re-attached.
      expect(preview.outputs.plan).toBe("attach member 1");
      expect(standin.sessions.length).toBeGreaterThan(0);
      expect(new Set(standin.sessions)).toEqual(new Set(["prod/db-0:3306", "prod/db-1:3306"]));
      // First create, before the StatefulSet made the pods: the plan says what up will do once they run.
      const fresh = await host.preview(
        "k8s-fresh",
        topology({ ...inputs, connector: { kind: "kubernetes", namespace: "prod", statefulSet: "new" } }),
      );
      expect(fresh.outputs.plan).toBe("set up member 0 as primary of 1 once the members run (not reachable yet)");
      expect(hostLog.join("\n")).not.toContain("k8s-T0ken-9f2");
    } finally {
      await standin.stop();
    }
  });

  test("preview with inputs not known yet says what up will decide, and reports a change", async () => {
    const unknownReplicas = config({ replicas: unknownValue });
    const created = await host.preview("later-topology", topology(unknownReplicas));
    expect(created.op).toBe("create");
    expect(created.outputs.plan).toBe("decided once replicas is known: up inspects the members first");
  });
});
