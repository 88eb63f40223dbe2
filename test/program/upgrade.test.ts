/**
 * Rolling upgrades in the program, under Pulumi mocks: the StatefulSet only changes pods when RollingUpgrade deletes
 * them (OnDelete), its pod template carries the restart-only server config hash, and RollingUpgrade runs after the
 * StatefulSet and the replication topology, before the objects that name the primary.
 */
import { REPLICATION_TOPOLOGY_TYPE, ROLLING_UPGRADE_TYPE } from "../../components/providers";
import { CONFIG_HASH_ANNOTATION } from "../../components/kubernetes/config-hash";
import { MockResourceArgs, REDACTED, RenderedResource, RenderedStack, renderStack } from "../../offline/render";

function find(stack: RenderedStack, type: string, name?: string): RenderedResource {
  const r = stack.resources.find((x) => x.type === type && (name === undefined || x.name === name));
  if (!r)
    throw new Error(`no ${type} ${name ?? ""} in ${stack.resources.map((x) => `${x.type}/${x.name}`).join(", ")}`);
  return r;
}

async function podTemplateHash(set: Record<string, string>): Promise<{ annotation: string; revision: string }> {
  const stack = await renderStack({ stack: "prod", set });
  expect(stack.errors).toEqual([]);
  const annotation = find(stack, "kubernetes:apps/v1:StatefulSet").inputs.spec.template.metadata.annotations[
    CONFIG_HASH_ANNOTATION
  ];
  return { annotation, revision: find(stack, ROLLING_UPGRADE_TYPE).inputs.revision };
}

describe("rolling upgrades in the program", () => {
  test("the StatefulSet uses OnDelete and its pod template carries the server config hash RollingUpgrade rolls to", async () => {
    const stack = await renderStack({ stack: "prod" });
    expect(stack.errors).toEqual([]);
    const statefulSet = find(stack, "kubernetes:apps/v1:StatefulSet");
    expect(statefulSet.inputs.spec.updateStrategy).toEqual({ type: "OnDelete" });
    // A lost member (the primary at any ordinal among them) is recreated without waiting for lower ordinals.
    expect(statefulSet.inputs.spec.podManagementPolicy).toBe("Parallel");
    // Pulumi's wait for Ready members covers a clone of a large peer, not only its default 10 minutes.
    expect(statefulSet.customTimeouts).toEqual({ create: "2h", update: "2h" });
    const annotation = statefulSet.inputs.spec.template.metadata.annotations[CONFIG_HASH_ANNOTATION];
    expect(annotation).toMatch(/^[0-9a-f]{16}$/);
    expect(find(stack, ROLLING_UPGRADE_TYPE).inputs.revision).toBe(annotation);
  });

  test("a live option change keeps the pod template; a restart-only option or a new image changes it", async () => {
    const base = await podTemplateHash({ serverConfig: JSON.stringify({ max_connections: 300 }) });
    expect(await podTemplateHash({ serverConfig: JSON.stringify({ max_connections: 500 }) })).toEqual(base);
    const restart = await podTemplateHash({
      serverConfig: JSON.stringify({ max_connections: 300, table_open_cache_instances: 4 }),
    });
    expect(restart.annotation).not.toBe(base.annotation);
    expect(restart.revision).toBe(restart.annotation);
    const image = await podTemplateHash({
      serverConfig: JSON.stringify({ max_connections: 300 }),
      image: "mariadb:10.11.11",
    });
    expect(image.revision).not.toBe(base.revision);
  });

  test("RollingUpgrade runs after the StatefulSet and the topology and keeps the topology's primary", async () => {
    const stack = await renderStack({
      stack: "prod",
      set: { replicas: "3", primary: "0", serverConfig: JSON.stringify({ max_connections: 400 }) },
      onResource: async (r: MockResourceArgs) =>
        r.type === REPLICATION_TOPOLOGY_TYPE
          ? { id: "topology", state: { ...r.inputs, primaryOrdinal: 2, plan: "failover: promote member 2" } }
          : undefined,
    });
    expect(stack.errors).toEqual([]);
    const rollout = find(stack, ROLLING_UPGRADE_TYPE);
    const statefulSet = find(stack, "kubernetes:apps/v1:StatefulSet");
    expect(rollout.name).toBe("mysql-rollout");
    expect(rollout.parent).toBe(statefulSet.parent);
    expect(rollout.dependsOn).toEqual(
      expect.arrayContaining([statefulSet.urn, find(stack, REPLICATION_TOPOLOGY_TYPE).urn]),
    );
    expect(rollout.inputs).toMatchObject({
      replicas: 3,
      primary: 2,
      serverConfig: { max_connections: 400 },
      providerVersion: "2",
      adminPassword: REDACTED,
      replicationPassword: REDACTED,
      restarter: {
        kind: "kubernetes",
        namespace: expect.any(String),
        statefulSet: "mysql",
        topologyConfigMap: "mysql-topology",
        primaryService: "mysql-primary",
      },
    });
    expect(rollout.inputs.__provider).toContain('"rolling-upgrade-handlers"');
    expect(rollout.inputs.__provider).not.toContain(REDACTED);
  });

  test("with direct member addresses there is no pod restarter: only live options are applied", async () => {
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
    const rollout = find(stack, ROLLING_UPGRADE_TYPE);
    expect(rollout.inputs.restarter).toBeUndefined();
    expect(rollout.inputs.connector).toEqual({ kind: "direct", members: ["127.0.0.1:3310", "127.0.0.1:3311"] });
  });
});
