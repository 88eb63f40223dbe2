import { renderStack, RenderedStack, RenderedResource } from "../../offline/render";
import { agentBundle } from "../../scripts/agent-bundle";
import { AGENT_BUNDLE_ANNOTATION, AGENT_BUNDLE_KEY } from "../../components/kubernetes/agent";

const COMPONENT = "mysql-ha:index:ReplicatedDatabase";
const AGENT_PARTS = [
  "kubernetes:core/v1:ConfigMap mysql-agent-bundle",
  "kubernetes:core/v1:ServiceAccount mysql-agent-serviceaccount",
  "kubernetes:rbac.authorization.k8s.io/v1:Role mysql-agent-role",
  "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding mysql-agent-rolebinding",
  "kubernetes:apps/v1:Deployment mysql-agent",
  "kubernetes:policy/v1:PodDisruptionBudget mysql-agent-pdb",
];

const byName = (r: RenderedStack, name: string): RenderedResource => {
  const found = r.resources.find((x) => x.name === name);
  if (!found) throw new Error(`no resource ${name}; have ${r.resources.map((x) => x.name).join(", ")}`);
  return found;
};

describe.each([
  ["dev", "mysql-ha-dev", undefined],
  ["prod", "mysql-ha", "requiredDuringSchedulingIgnoredDuringExecution"],
])("the failover agent under mocks, stack %s", (stack, namespace, antiAffinity) => {
  let rendered: RenderedStack;
  beforeAll(async () => {
    rendered = await renderStack({ stack });
    expect(rendered.errors).toEqual([]);
  });

  it("is built when autoFailover is true (the default): ConfigMap, ServiceAccount, Role, RoleBinding, Deployment, PDB, children of the component named mysql-agent...", () => {
    const component = rendered.resources.find((r) => r.type === COMPONENT)!;
    const agentParts = rendered.resources.filter((r) => r.name.startsWith("mysql-agent"));
    expect(agentParts.map((r) => `${r.type} ${r.name}`).sort()).toEqual([...AGENT_PARTS].sort());
    for (const part of agentParts) {
      expect([part.name, part.parent]).toEqual([part.name, component.urn]);
      expect([part.name, part.inputs.metadata.namespace]).toEqual([part.name, namespace]);
    }
  });

  it("ships the bundle the program built, and names its sha256 on the pod template", async () => {
    const bundle = await agentBundle();
    expect(byName(rendered, "mysql-agent-bundle").inputs.binaryData).toEqual({
      [AGENT_BUNDLE_KEY]: bundle.brotliBase64,
    });
    const template = byName(rendered, "mysql-agent").inputs.spec.template;
    expect(template.metadata.annotations[AGENT_BUNDLE_ANNOTATION]).toBe(bundle.sha256);
    expect(template.spec.initContainers[0].env).toContainEqual({ name: "BUNDLE_SHA256", value: bundle.sha256 });
  });

  it("starts the agent after replication is set up, with its bundle, credentials and permissions in place", () => {
    const deployment = byName(rendered, "mysql-agent");
    for (const before of [
      "mysql-agent-bundle",
      "mysql-agent-rolebinding",
      "mysql-credentials",
      "mysql-replication",
      "mysql-namespace",
    ]) {
      expect([before, deployment.dependsOn.includes(byName(rendered, before).urn)]).toEqual([before, true]);
    }
    const binding = byName(rendered, "mysql-agent-rolebinding");
    for (const before of ["mysql-agent-serviceaccount", "mysql-agent-role"])
      expect(binding.dependsOn).toContain(byName(rendered, before).urn);
    expect(byName(rendered, "mysql-agent-pdb").dependsOn).toContain(deployment.urn);
  });

  it("runs in the stack's namespace against the stack's objects, spread as the stack's antiAffinity says", () => {
    const spec = byName(rendered, "mysql-agent").inputs.spec.template.spec;
    const command: string[] = spec.containers[0].command;
    const flag = (name: string) => command[command.indexOf(name) + 1];
    expect([
      flag("--namespace"),
      flag("--statefulset"),
      flag("--service"),
      flag("--topology-configmap"),
      flag("--primary-service"),
      flag("--lease"),
    ]).toEqual([namespace, "mysql", "mysql-headless", "mysql-topology", "mysql-primary", "mysql-agent"]);
    expect(spec.affinity ? Object.keys(spec.affinity.podAntiAffinity) : undefined).toEqual(
      antiAffinity && [antiAffinity],
    );
    expect(spec.serviceAccountName).toBe(byName(rendered, "mysql-agent-serviceaccount").inputs.metadata.name);
  });
});

describe("the failover agent with autoFailover false", () => {
  it.each(["dev", "prod"])("is not built in stack %s, and nothing else changes", async (stack) => {
    const on = await renderStack({ stack });
    const off = await renderStack({ stack, set: { autoFailover: "false" } });
    expect(off.errors).toEqual([]);
    const kinds = (r: RenderedStack) => r.resources.map((x) => x.type);
    expect(off.resources.filter((r) => r.name.startsWith("mysql-agent"))).toEqual([]);
    for (const kind of [
      "kubernetes:apps/v1:Deployment",
      "kubernetes:rbac.authorization.k8s.io/v1:Role",
      "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
    ]) {
      expect(kinds(off)).not.toContain(kind);
    }
    // The only ServiceAccount left is the members' and the Job's, which mounts no token.
    const accounts = off.resources.filter((r) => r.type === "kubernetes:core/v1:ServiceAccount");
    expect(accounts.map((r) => [r.name, r.inputs.automountServiceAccountToken])).toEqual([
      ["mysql-service-account", false],
    ]);
    expect(off.resources.map((r) => r.name)).toEqual(
      on.resources.map((r) => r.name).filter((n) => !n.startsWith("mysql-agent")),
    );
  });
});
