import { kubernetesManifests, renderStack } from "../../offline/render";

/**
 * Model class for an apiVersion/kind, e.g. apps/v1 StatefulSet -> kubernetes-models/apps/v1/StatefulSet; the
 * Prometheus Operator's kinds from its CRD schemas (@kubernetes-models/prometheus-operator).
 */
function modelFor(apiVersion: string, kind: string): new (data: any) => { validate(): void } {
  const pkg = apiVersion.startsWith("monitoring.coreos.com/")
    ? "@kubernetes-models/prometheus-operator"
    : "kubernetes-models";
  const mod = require(`${pkg}/${apiVersion}/${kind}`);
  return mod[kind];
}

/** The shipped stacks, and prod with every monitoring object (sidecar, PodMonitors, PrometheusRule). */
const MONITORED = { metrics: "true", monitoring: "prometheus-operator" };

describe.each([
  ["dev", {}],
  ["prod", {}],
  ["prod", MONITORED],
])("rendered manifests of stack %s %j", (stack, set) => {
  let manifests: Array<Record<string, any>>;
  beforeAll(async () => {
    const rendered = await renderStack({ stack, set });
    expect(rendered.errors).toEqual([]);
    manifests = kubernetesManifests(rendered).map((m) => m.manifest);
  });

  it("include every kind the component builds", () => {
    const kinds = new Set(manifests.map((m) => m.kind));
    for (const kind of ["ConfigMap", "Secret", "Service", "StatefulSet", "PodDisruptionBudget"])
      expect(kinds).toContain(kind);
    // The failover agent (autoFailover is true in both stacks).
    for (const kind of ["Deployment", "ServiceAccount", "Role", "RoleBinding"]) expect(kinds).toContain(kind);
    if (set === MONITORED) for (const kind of ["PodMonitor", "PrometheusRule"]) expect(kinds).toContain(kind);
  });

  it("each validate against the Kubernetes OpenAPI schema", () => {
    const problems: string[] = [];
    for (const m of manifests) {
      try {
        new (modelFor(m.apiVersion, m.kind))(m).validate();
      } catch (err) {
        problems.push(`${m.kind}/${m.metadata.name}: ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("schema validation", () => {
  it("rejects a broken agent Deployment and Role (the check covers them)", async () => {
    const manifests = kubernetesManifests(await renderStack({ stack: "prod" })).map((m) => structuredClone(m.manifest));
    const deployment = manifests.find((m) => m.kind === "Deployment")!;
    const role = manifests.find((m) => m.kind === "Role")!;
    for (const m of [deployment, role]) expect(() => new (modelFor(m.apiVersion, m.kind))(m).validate()).not.toThrow();
    deployment.spec.template.spec.containers[0].livenessProbe.httpGet.port = { name: "health" };
    role.rules[0].verbs = "get";
    expect(() => new (modelFor(deployment.apiVersion, deployment.kind))(deployment).validate()).toThrow(/port/);
    expect(() => new (modelFor(role.apiVersion, role.kind))(role).validate()).toThrow(/verbs/);
  });

  it("rejects a broken StatefulSet (the check can fail)", async () => {
    const rendered = await renderStack({ stack: "dev" });
    const sts = structuredClone(kubernetesManifests(rendered).find((m) => m.manifest.kind === "StatefulSet")!.manifest);
    const Model = modelFor(sts.apiVersion, sts.kind);
    expect(() => new Model(sts).validate()).not.toThrow();
    sts.spec.replicas = "two";
    sts.spec.template.spec.containers[0].ports[0].containerPort = "mysql";
    expect(() => new Model(sts).validate()).toThrow(/replicas|containerPort/);
  });
});
