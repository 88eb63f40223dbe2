/**
 * The replication resources in the program, under Pulumi mocks: ordered around the StatefulSet, the write
 * endpoint following the topology's primary output, secrets kept secret, the provider serialized.
 */
import { PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE } from "../../components/providers";
import { MockResourceArgs, REDACTED, RenderedResource, RenderedStack, renderStack } from "../../offline/render";

function find(stack: RenderedStack, type: string, name?: string): RenderedResource {
  const r = stack.resources.find((x) => x.type === type && (name === undefined || x.name === name));
  if (!r)
    throw new Error(`no ${type} ${name ?? ""} in ${stack.resources.map((x) => `${x.type}/${x.name}`).join(", ")}`);
  return r;
}

describe("replication resources in the program", () => {
  test("the StatefulSet depends on PrimaryPlacement and ReplicationTopology depends on the StatefulSet", async () => {
    const stack = await renderStack({ stack: "dev" });
    expect(stack.errors).toEqual([]);
    const placement = find(stack, PRIMARY_PLACEMENT_TYPE);
    const statefulSet = find(stack, "kubernetes:apps/v1:StatefulSet");
    const topology = find(stack, REPLICATION_TOPOLOGY_TYPE);
    expect(statefulSet.dependsOn).toContain(placement.urn);
    expect(topology.dependsOn).toContain(statefulSet.urn);
    expect(placement.dependsOn).not.toContain(statefulSet.urn);
    expect(placement.parent).toBe(statefulSet.parent);
    expect([placement.name, topology.name]).toEqual(["mysql-placement", "mysql-replication"]);
    // Without real providers the mock reports the topology as configured; the stack outputs show it.
    expect(stack.outputs.replicationPlan).toMatch(/^no change/);
    expect(stack.outputs.gtidPositions).toEqual(["", ""]);
  });

  test("the primary output follows ReplicationTopology's primary, and no Pulumi object changes with it", async () => {
    // The live topology says member 2 is primary (e.g. after a failover) while the config still says 0.
    const stack = await renderStack({
      stack: "prod",
      set: { replicas: "3", primary: "0" },
      onResource: async (r: MockResourceArgs) =>
        r.type === REPLICATION_TOPOLOGY_TYPE
          ? {
              id: "topology",
              state: {
                ...r.inputs,
                primaryOrdinal: 2,
                gtidPositions: ["0-1000-5", "0-1000-5", "0-1000-5"],
                plan: "failover: promote member 2",
              },
            }
          : undefined,
    });
    expect(stack.errors).toEqual([]);
    // The providers point the topology ConfigMap and the role labels themselves, right after the move: the Service
    // selects whichever pod is labelled primary, the same before and after.
    const service = find(stack, "kubernetes:core/v1:Service", "mysql-primary");
    expect(service.inputs.spec.selector).toEqual({
      "app.kubernetes.io/name": "mysql-ha",
      "app.kubernetes.io/instance": "mysql",
      "app.kubernetes.io/component": "database",
      "mysql-ha/role": "primary",
    });
    expect(service.dependsOn).not.toContain(find(stack, REPLICATION_TOPOLOGY_TYPE).urn);
    expect(stack.outputs.primary).toBe(2);
    expect(stack.outputs.replicationPlan).toBe("failover: promote member 2");
  });

  test("both resources get the settings, a Kubernetes connector, a provider version and secret passwords", async () => {
    const stack = await renderStack({ stack: "prod", set: { replicas: "3", primary: "1", autoFailover: "false" } });
    for (const type of [PRIMARY_PLACEMENT_TYPE, REPLICATION_TOPOLOGY_TYPE]) {
      const r = find(stack, type);
      expect(r.inputs).toMatchObject({
        replicas: 3,
        primary: 1,
        autoFailover: false,
        providerVersion: "2",
        adminUser: "root",
        replicationUser: "replication",
      });
      expect(r.inputs.primaryObjects).toEqual({
        namespace: "mysql-ha",
        statefulSet: "mysql",
        topologyConfigMap: "mysql-topology",
        primaryService: "mysql-primary",
      });
      expect(r.inputs.connector).toEqual({
        kind: "kubernetes",
        namespace: expect.any(String),
        statefulSet: "mysql",
        service: "mysql-headless",
        port: 3306,
      });
      expect(r.inputs.adminPassword).toBe(REDACTED);
      expect(r.inputs.replicationPassword).toBe(REDACTED);
      // The serialized provider loads its implementation from the project directory (no path in state) and captures no secret.
      expect(r.inputs.__provider).toMatch(/^exports\.handler = /);
      expect(r.inputs.__provider).toContain('"handlers"');
      expect(r.inputs.__provider).not.toContain(REDACTED);
    }
  });

  test("connector = direct passes the configured member addresses", async () => {
    const stack = await renderStack({
      stack: "dev",
      set: {
        replicas: "2",
        connector: "direct",
        directMembers: JSON.stringify(["127.0.0.1:3310", "127.0.0.1:3311"]),
        tls: "off",
      },
    });
    expect(stack.errors).toEqual([]);
    expect(find(stack, REPLICATION_TOPOLOGY_TYPE).inputs.connector).toEqual({
      kind: "direct",
      members: ["127.0.0.1:3310", "127.0.0.1:3311"],
    });
  });
});
