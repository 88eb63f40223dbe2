import { renderStack, RenderedStack, RenderedResource, REDACTED } from "../../offline/render";

const COMPONENT = "mysql-ha:index:ReplicatedDatabase";
const byName = (r: RenderedStack, name: string): RenderedResource => {
  const found = r.resources.find((x) => x.name === name);
  if (!found) throw new Error(`no resource ${name}; have ${r.resources.map((x) => x.name).join(", ")}`);
  return found;
};

/** Paths (a.b[2].c) where two JSON values differ. */
function diffPaths(a: any, b: any, at = ""): string[] {
  if (JSON.stringify(a) === JSON.stringify(b)) return [];
  if (a && b && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].flatMap((k) => diffPaths(a[k], b[k], Array.isArray(a) ? `${at}[${k}]` : at ? `${at}.${k}` : k));
  }
  return [at];
}

describe.each(["dev", "prod"])("program under mocks, stack %s", (stack) => {
  let rendered: RenderedStack;
  beforeAll(async () => {
    rendered = await renderStack({ stack });
  });

  it("evaluates without errors", () => {
    expect(rendered.errors).toEqual([]);
  });

  it("registers the component and its parts with the expected types and names", () => {
    const pairs = rendered.resources.map((r) => `${r.type} ${r.name}`);
    const foundation = [
      "pulumi:pulumi:Stack mysql-ha-" + stack,
      `${COMPONENT} mysql`,
      "random:index/randomPassword:RandomPassword mysql-root-password",
      "random:index/randomPassword:RandomPassword mysql-replication-password",
      "random:index/randomPassword:RandomPassword mysql-app-password",
      "kubernetes:core/v1:Secret mysql-credentials",
      "kubernetes:core/v1:ConfigMap mysql-config",
      "kubernetes:core/v1:ConfigMap mysql-scripts",
      "kubernetes:core/v1:ConfigMap mysql-topology",
      "kubernetes:core/v1:Service mysql-headless",
      "kubernetes:core/v1:Service mysql-primary",
      "kubernetes:core/v1:Service mysql-read",
      "kubernetes:apps/v1:StatefulSet mysql-statefulset",
      "kubernetes:policy/v1:PodDisruptionBudget mysql-pdb",
    ];
    expect(pairs).toEqual(expect.arrayContaining(foundation));
    // Each resource is registered once, so names are unique per type.
    expect(new Set(pairs).size).toBe(pairs.length);
  });

  it("parents every part to the component, and the component to the stack", () => {
    const stackRes = rendered.resources.find((r) => r.type === "pulumi:pulumi:Stack")!;
    const component = rendered.resources.find((r) => r.type === COMPONENT)!;
    expect(component.parent).toBe(stackRes.urn);
    const parts = rendered.resources.filter((r) => r !== stackRes && r !== component);
    expect(parts.length).toBeGreaterThan(0);
    for (const part of parts) {
      expect([part.name, part.parent]).toEqual([part.name, component.urn]);
      expect(part.name).toMatch(/^mysql-[a-z0-9-]+$/);
    }
  });

  it("creates the Secret, ConfigMaps and headless Service before the StatefulSet", () => {
    const sts = byName(rendered, "mysql-statefulset");
    for (const before of ["mysql-credentials", "mysql-config", "mysql-scripts", "mysql-headless"]) {
      expect(sts.dependsOn).toContain(byName(rendered, before).urn);
    }
    expect(byName(rendered, "mysql-pdb").dependsOn).toContain(sts.urn);
  });

  it("exports passwords only as secrets and endpoints in the clear", () => {
    expect(rendered.outputs).toMatchObject({
      rootPassword: REDACTED,
      replicationPassword: REDACTED,
      appPassword: REDACTED,
      primaryEndpoint: expect.stringMatching(/^mysql-primary\.[a-z-]+\.svc:3306$/),
      readEndpoint: expect.stringMatching(/^mysql-read\.[a-z-]+\.svc:3306$/),
      headlessServiceName: "mysql-headless",
      secretName: "mysql-credentials",
    });
    const secret = byName(rendered, "mysql-credentials");
    expect(secret.inputs.stringData).toEqual({
      "root-password": REDACTED,
      "replication-password": REDACTED,
      "app-password": REDACTED,
      "backup-signing-key": REDACTED,
      "clone-token": REDACTED,
      "operator-password": REDACTED,
      "backup-password": REDACTED,
      "archiver-password": REDACTED,
      "probe-password": REDACTED,
      "metrics-password": REDACTED,
    });
    for (const role of ["operator", "backup", "archiver", "probe", "metrics"])
      expect(byName(rendered, `mysql-${role}-password`).inputs).toEqual({ length: 32, special: false });
    expect(byName(rendered, "mysql-backup-signing-key").inputs).toEqual({ length: 64, special: false });
    // The donor port's token is a secret of its own, not an account's password.
    expect(byName(rendered, "mysql-clone-token").inputs).toEqual({ length: 48, special: false });
  });

  it("feeds passwords to the pods through secretKeyRef, never as literal values", () => {
    const pod = byName(rendered, "mysql-statefulset").inputs.spec.template.spec;
    const env = pod.containers[0].env as Array<{ name: string; value?: string; valueFrom?: any }>;
    const passwordVars = env.filter((e) => /PASSWORD/.test(e.name));
    expect(passwordVars.map((e) => e.name).sort()).toEqual([
      "MARIADB_PASSWORD",
      "MARIADB_REPLICATION_PASSWORD",
      "MARIADB_ROOT_PASSWORD",
      "MYSQL_HA_ARCHIVER_PASSWORD",
      "MYSQL_HA_BACKUP_PASSWORD",
      "MYSQL_HA_METRICS_PASSWORD",
      "MYSQL_HA_OPERATOR_PASSWORD",
      "MYSQL_HA_PROBE_PASSWORD",
    ]);
    for (const e of passwordVars) {
      expect(e.value).toBeUndefined();
      expect(e.valueFrom.secretKeyRef.name).toBe("mysql-credentials");
    }
  });

  it("keeps root on the members' loopback and gives every other client its own account", () => {
    const pod = byName(rendered, "mysql-statefulset").inputs.spec.template.spec;
    const env = (c: any) =>
      Object.fromEntries(
        (c.env ?? []).map((e: any) => [e.name, e.value ?? `secret:${e.valueFrom?.secretKeyRef?.key}`]),
      );
    const database = pod.containers.find((c: any) => c.name === "mariadb");
    expect(env(database)).toMatchObject({
      MARIADB_ROOT_HOST: "127.0.0.1",
      PROBE_USER: "mysql_ha_probe",
      MYSQL_HA_HOST: "127.0.0.1",
    });
    // The entrypoint runs the accounts script once, from its initdb directory (executable, so run, not sourced).
    const initdb = database.volumeMounts.find((m: any) => m.mountPath === "/docker-entrypoint-initdb.d");
    const volume = pod.volumes.find((v: any) => v.name === initdb.name);
    expect(volume.configMap).toEqual({
      name: "mysql-scripts",
      defaultMode: 0o555,
      items: [{ key: "init-accounts.sh", path: "50-init-accounts.sh" }],
    });
    expect(byName(rendered, "mysql-scripts").inputs.data["init-accounts.sh"]).toMatch(
      /CREATE USER IF NOT EXISTS 'mysql_ha_probe'@'127.0.0.1'/,
    );
    // No container but the database's (its entrypoint) and the seed (a restore's private server) sees root's password.
    const containers = [
      ...pod.initContainers,
      ...pod.containers,
      byName(rendered, "mysql-agent").inputs.spec.template.spec.containers[0],
    ];
    const rootReaders = containers
      .filter((c: any) => Object.values(env(c)).includes("secret:root-password"))
      .map((c: any) => c.name);
    expect(rootReaders.sort()).toEqual(["mariadb", "seed"]);
    expect(env(pod.containers.find((c: any) => c.name === "clone-donor"))).toMatchObject({
      MYSQL_USER: "mysql_ha_backup",
      MYSQL_PASSWORD: "secret:backup-password",
    });
    expect(env(byName(rendered, "mysql-agent").inputs.spec.template.spec.containers[0])).toMatchObject({
      MYSQL_HA_USER: "mysql_ha_operator",
      MYSQL_HA_PASSWORD: "secret:operator-password",
    });
    const archiver = pod.containers.find((c: any) => c.name === "binlog-archiver");
    if (archiver)
      expect(env(archiver)).toMatchObject({
        MYSQL_USER: "mysql_ha_archiver",
        MYSQL_PASSWORD: "secret:archiver-password",
      });
    // Every up keeps the accounts: the replication resource gets them, as a secret.
    expect(byName(rendered, "mysql-replication").inputs.accounts).toEqual(
      Array(5).fill({ role: REDACTED, user: REDACTED, password: REDACTED }),
    );
  });

  it("creates the write Service and the topology ConfigMap before the members, leaving the primary's name to the providers", () => {
    // Pulumi never owns those fields (the ConfigMap's primary, the pods' role labels), so its applies cannot revert or
    // conflict with a move (connectors/primary-objects.ts); the write Service selects the role label, statically.
    expect(byName(rendered, "mysql-primary").inputs.spec.selector).toMatchObject({ "mysql-ha/role": "primary" });
    expect(byName(rendered, "mysql-topology").inputs.data).toBeUndefined();
    const placement = byName(rendered, "mysql-placement");
    expect(placement.dependsOn).toEqual(
      expect.arrayContaining([byName(rendered, "mysql-primary").urn, byName(rendered, "mysql-topology").urn]),
    );
    expect(byName(rendered, "mysql-statefulset").dependsOn).toContain(placement.urn);
  });
});

describe("program config changes", () => {
  it("follows replicas in the StatefulSet and the member host list", async () => {
    const dev = await renderStack({ stack: "dev" });
    const prod = await renderStack({ stack: "prod" });
    expect(byName(dev, "mysql-statefulset").inputs.spec.replicas).toBe(2);
    expect(byName(prod, "mysql-statefulset").inputs.spec.replicas).toBe(3);
    expect(prod.outputs.memberHosts).toEqual([0, 1, 2].map((i) => `mysql-${i}.mysql-headless.mysql-ha.svc`));
  });

  it("applies the stack's anti-affinity, storage class and resources", async () => {
    const dev = byName(await renderStack({ stack: "dev" }), "mysql-statefulset").inputs.spec;
    const prod = byName(await renderStack({ stack: "prod" }), "mysql-statefulset").inputs.spec;
    expect(dev.template.spec.affinity).toBeUndefined();
    expect(
      prod.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey,
    ).toBe("kubernetes.io/hostname");
    expect(dev.volumeClaimTemplates[0].spec.storageClassName).toBeUndefined();
    expect(prod.volumeClaimTemplates[0].spec).toMatchObject({
      storageClassName: "gp3",
      resources: { requests: { storage: "100Gi" } },
    });
    expect(prod.template.spec.containers[0].resources).toEqual({
      requests: { cpu: "2", memory: "8Gi", "ephemeral-storage": "256Mi" },
      limits: { cpu: "4", memory: "8Gi" },
    });
  });

  it("creates the stack's namespace first, so every namespaced object has somewhere to go; never `default`, and not when told it exists", async () => {
    const prod = await renderStack({ stack: "prod" });
    const ns = prod.resources.find((r) => r.type === "kubernetes:core/v1:Namespace")!;
    expect(ns.inputs.metadata.name).toBe("mysql-ha");
    const namespaced = prod.resources.filter(
      (r) => r.type.startsWith("kubernetes:") && r.type !== "kubernetes:core/v1:Namespace",
    );
    expect(namespaced.length).toBeGreaterThan(8);
    for (const r of namespaced)
      expect([r.name, r.inputs.metadata.namespace, r.dependsOn.includes(ns.urn)]).toEqual([r.name, "mysql-ha", true]);
    for (const set of [{ namespace: "default" }, { createNamespace: "false" }] as Array<Record<string, string>>) {
      const r = await renderStack({ stack: "prod", set });
      expect(r.errors).toEqual([]);
      expect(r.resources.some((x) => x.type === "kubernetes:core/v1:Namespace")).toBe(false);
    }
  });

  it("hands the configured primary and the objects that name it to the placement, which points them before the members start", async () => {
    const r = await renderStack({ stack: "prod", set: { primary: "2" } });
    expect(r.errors).toEqual([]);
    expect(byName(r, "mysql-placement").inputs).toMatchObject({
      primary: 2,
      primaryObjects: {
        namespace: "mysql-ha",
        statefulSet: "mysql",
        topologyConfigMap: "mysql-topology",
        primaryService: "mysql-primary",
      },
    });
    expect(r.outputs.primary).toBe(2);
  });

  it("growing from 3 to 5 members changes only the StatefulSet's replicas, the failover agent's --replicas and pods it may label, and the member list", async () => {
    const three = await renderStack({ stack: "prod", set: { replicas: "3" } });
    const grown = await renderStack({ stack: "prod", set: { replicas: "5" } });
    // The new members' own TLS keys and certificates are the only new resources.
    const newCertificates = grown.resources.filter((r) => /^mysql-tls-member-[34]($|-)/.test(r.name));
    expect(newCertificates.map((r) => r.name).sort()).toEqual([
      "mysql-tls-member-3",
      "mysql-tls-member-3-key",
      "mysql-tls-member-3-request",
      "mysql-tls-member-4",
      "mysql-tls-member-4-key",
      "mysql-tls-member-4-request",
    ]);
    const five = { ...grown, resources: grown.resources.filter((r) => !newCertificates.includes(r)) };
    expect(five.resources.map((r) => r.urn)).toEqual(three.resources.map((r) => r.urn));
    const changed = three.resources.flatMap((r, i) =>
      diffPaths(r.inputs, five.resources[i].inputs).map((p) => `${r.name}: ${p}`),
    );
    const kubernetes = new Set(three.resources.filter((r) => r.type.startsWith("kubernetes:")).map((r) => r.name));
    // Of the Kubernetes objects only the StatefulSet's size, the agent's member count and the pods its Role may
    // label change, and the TLS Secret gains the new members' pairs; other resources (replication) see the new size.
    expect(changed.filter((c) => kubernetes.has(c.split(":")[0]))).toEqual([
      "mysql-agent-role: rules[5].resourceNames[3]",
      "mysql-agent-role: rules[5].resourceNames[4]",
      "mysql-tls: stringData.member-3.crt",
      "mysql-tls: stringData.member-3.key",
      "mysql-tls: stringData.member-4.crt",
      "mysql-tls: stringData.member-4.key",
      "mysql-statefulset: spec.replicas",
      "mysql-agent: spec.template.spec.containers[0].command[10]",
    ]);
    expect(five.resources.find((r) => r.name === "mysql-agent-role")!.inputs.rules[5]).toEqual({
      apiGroups: [""],
      resources: ["pods"],
      resourceNames: [0, 1, 2, 3, 4].map((o) => `mysql-${o}`),
      verbs: ["patch"],
    });
    const agentCommand: string[] = five.resources.find((r) => r.name === "mysql-agent")!.inputs.spec.template.spec
      .containers[0].command;
    expect(agentCommand.slice(9, 11)).toEqual(["--replicas", "5"]);
    // (and the new members' certificates, which the replication resources load when renewed)
    expect(
      changed
        .filter((c) => !kubernetes.has(c.split(":")[0]))
        .every((c) => /: (replicas|tls\.certificates\[[34]\])$/.test(c)),
    ).toBe(true);
    // Outputs: only per-member lists grow by the two new members.
    const outputChanges = diffPaths(three.outputs, five.outputs);
    expect(outputChanges).toEqual(expect.arrayContaining(["memberHosts[3]", "memberHosts[4]"]));
    expect(outputChanges.filter((p) => !/^\w+\[[34]\]$/.test(p))).toEqual([]);
  });

  it("marks passwords secret by Pulumi's secret flag, not only by matching known values", async () => {
    // The provider returns a value the renderer does not know; it must still never appear in the output.
    const visible = "plainPasswordValue123";
    const r = await renderStack({
      stack: "dev",
      onResource: async (args) =>
        args.type === "random:index/randomPassword:RandomPassword"
          ? { id: args.name, state: { ...args.inputs, result: visible } }
          : undefined,
    });
    expect(r.errors).toEqual([]);
    expect(JSON.stringify(r)).not.toContain(visible);
    expect(r.outputs.rootPassword).toBe(REDACTED);
  });

  it("ends and reports a resource whose registration fails instead of waiting forever", async () => {
    const r = await renderStack({
      stack: "dev",
      onResource: async (args) => {
        if (args.type === "kubernetes:apps/v1:StatefulSet") throw new Error("apply refused");
        return undefined;
      },
    });
    expect(r.errors).toEqual(["kubernetes:apps/v1:StatefulSet mysql-statefulset: apply refused"]);
    // The rest of the program still evaluated.
    expect(r.resources.some((x) => x.type === "kubernetes:core/v1:Service")).toBe(true);
  });

  it("reports every config problem instead of resources", async () => {
    const r = await renderStack({ stack: "dev", set: { replicas: "12", imgae: "mariadb:latest" } });
    expect(r.errors).toEqual([
      expect.stringMatching(/mysql-ha:imgae: unknown config key \(did you mean image\?\)/),
      'mysql-ha:replicas: "12" is not allowed; expected an integer from 1 to 9',
    ]);
    expect(r.resources.filter((x) => x.type !== "pulumi:pulumi:Stack")).toEqual([]);
  });
});
