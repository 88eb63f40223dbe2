/**
 * Which pods each selector of the rendered prod stack picks. Required pod anti-affinity is symmetric and a
 * PodDisruptionBudget counts every pod its selector matches, so a selector that also matches the backup Job's pod
 * keeps backups Pending forever (one member per node) and lets a drain count a Job pod as a member. The failover
 * agent's pods are the instance's too: the same holds between them and the members.
 */
import { renderStack, RenderedStack } from "../../offline/render";
import { ROLE_LABEL } from "../../components/kubernetes/names";

const onResource = async (r: { type: string; inputs: any }) =>
  r.type === "aws:s3/bucket:Bucket"
    ? { id: "b", state: { ...r.inputs, bucket: "b", arn: "arn:aws:s3:::b" } }
    : undefined;

const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

describe("selectors of the rendered prod stack", () => {
  let rendered: RenderedStack;
  const of = (type: string) => rendered.resources.filter((r) => r.type === type);
  beforeAll(async () => {
    rendered = await renderStack({ stack: "prod", onResource });
    expect(rendered.errors).toEqual([]);
  });

  test("the backup Job's pod matches neither the members' anti-affinity, the PDB, the StatefulSet nor any Service", () => {
    const [sts] = of("kubernetes:apps/v1:StatefulSet");
    const [cron] = of("kubernetes:batch/v1:CronJob");
    const [pdb] = of("kubernetes:policy/v1:PodDisruptionBudget");
    const jobPod: Record<string, string> = cron.inputs.spec.jobTemplate.spec.template.metadata.labels;
    // A member as it runs: the template's labels and the role label its mover keeps.
    const memberPod: Record<string, string> = { ...sts.inputs.spec.template.metadata.labels, [ROLE_LABEL]: "primary" };
    const antiAffinity =
      sts.inputs.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]
        .labelSelector.matchLabels;
    const selectors: Array<[string, Record<string, string>]> = [
      ["anti-affinity", antiAffinity],
      ["pdb", pdb.inputs.spec.selector.matchLabels],
      ["statefulset", sts.inputs.spec.selector.matchLabels],
      ...of("kubernetes:core/v1:Service")
        .filter((s) => s.inputs.spec.selector)
        .map((s): [string, Record<string, string>] => [s.name, s.inputs.spec.selector]),
    ];
    const template: Record<string, string> = sts.inputs.spec.template.metadata.labels;
    for (const [what, selector] of selectors) {
      // Every selector picks the members...
      expect([what, matches(selector, memberPod)]).toEqual([what, true]);
      // ...and none picks the Job's pod.
      expect([what, matches(selector, jobPod)]).toEqual([what, false]);
      // Only the write endpoint needs the role label: a pod fresh from the template, or a replica, is not the primary.
      const primaryOnly = what === "mysql-primary";
      expect([what, matches(selector, template), matches(selector, { ...template, [ROLE_LABEL]: "replica" })]).toEqual([
        what,
        !primaryOnly,
        !primaryOnly,
      ]);
    }
    expect(jobPod["app.kubernetes.io/instance"]).toBe(memberPod["app.kubernetes.io/instance"]);
    expect(selectors.map(([what]) => what)).toEqual(
      expect.arrayContaining(["mysql-headless", "mysql-read", "mysql-primary"]),
    );
  });

  test("the failover agent's pods match none of the members' selectors, and the agent's selectors pick only agent pods", () => {
    const [sts] = of("kubernetes:apps/v1:StatefulSet");
    const [cron] = of("kubernetes:batch/v1:CronJob");
    const [agent] = of("kubernetes:apps/v1:Deployment");
    const agentPdb = of("kubernetes:policy/v1:PodDisruptionBudget").find((p) => p.name === "mysql-agent-pdb")!;
    const memberPdb = of("kubernetes:policy/v1:PodDisruptionBudget").find((p) => p.name === "mysql-pdb")!;
    const memberPod: Record<string, string> = { ...sts.inputs.spec.template.metadata.labels, [ROLE_LABEL]: "primary" };
    const jobPod: Record<string, string> = cron.inputs.spec.jobTemplate.spec.template.metadata.labels;
    const agentPod: Record<string, string> = agent.inputs.spec.template.metadata.labels;
    expect(agentPod["app.kubernetes.io/component"]).toBe("agent");
    const memberSelectors: Array<[string, Record<string, string>]> = [
      [
        "anti-affinity",
        sts.inputs.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]
          .labelSelector.matchLabels,
      ],
      ["pdb", memberPdb.inputs.spec.selector.matchLabels],
      ["statefulset", sts.inputs.spec.selector.matchLabels],
      ...of("kubernetes:core/v1:Service")
        .filter((s) => s.inputs.spec.selector)
        .map((s): [string, Record<string, string>] => [s.name, s.inputs.spec.selector]),
    ];
    for (const [what, selector] of memberSelectors) expect([what, matches(selector, agentPod)]).toEqual([what, false]);
    const agentSelectors: Array<[string, Record<string, string>]> = [
      [
        "agent anti-affinity",
        agent.inputs.spec.template.spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0]
          .labelSelector.matchLabels,
      ],
      ["agent pdb", agentPdb.inputs.spec.selector.matchLabels],
      ["agent deployment", agent.inputs.spec.selector.matchLabels],
    ];
    for (const [what, selector] of agentSelectors) {
      expect([what, matches(selector, agentPod), matches(selector, memberPod), matches(selector, jobPod)]).toEqual([
        what,
        true,
        false,
        false,
      ]);
    }
  });
});

describe("the members' NetworkPolicy (rendered prod stack)", () => {
  type Pod = { labels: Record<string, string>; namespace: string };
  /** A NetworkPolicy peer admits a pod as the API documents: namespaceSelector picks namespaces by label (absent: the policy's own), podSelector pods. */
  const admits = (peer: any, pod: Pod, policyNamespace: string) => {
    const namespaceLabels = { "kubernetes.io/metadata.name": pod.namespace };
    const namespaceOk = peer.namespaceSelector
      ? matches(peer.namespaceSelector.matchLabels ?? {}, namespaceLabels)
      : pod.namespace === policyNamespace;
    return namespaceOk && (peer.podSelector ? matches(peer.podSelector.matchLabels ?? {}, pod.labels) : true);
  };
  const allowed = (policy: any, port: number, pod: Pod) =>
    policy.spec.ingress.some(
      (rule: any) =>
        rule.ports.some((p: any) => p.port === port) &&
        rule.from.some((peer: any) => admits(peer, pod, policy.metadata.namespace)),
    );

  async function podsOf(set: Record<string, string> = {}) {
    const r = await renderStack({ stack: "prod", onResource, set });
    expect(r.errors).toEqual([]);
    const one = (type: string, name?: string) =>
      r.resources.find((x) => x.type === type && (!name || x.name === name))!.inputs;
    const ns = "mysql-ha";
    return {
      policy: one("kubernetes:networking.k8s.io/v1:NetworkPolicy"),
      member: { labels: one("kubernetes:apps/v1:StatefulSet").spec.template.metadata.labels, namespace: ns },
      agent: { labels: one("kubernetes:apps/v1:Deployment").spec.template.metadata.labels, namespace: ns },
      job: { labels: one("kubernetes:batch/v1:CronJob").spec.jobTemplate.spec.template.metadata.labels, namespace: ns },
      app: { labels: { app: "shop" }, namespace: ns },
      elsewhere: { labels: { app: "shop" }, namespace: "other" },
    };
  }

  test("selects the members only; 3306 from members, the agent, the backup Job and the stack namespace's pods; 4444 from members and the Job", async () => {
    const { policy, member, agent, job, app, elsewhere } = await podsOf();
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    expect([member, agent, job].map((p) => matches(policy.spec.podSelector.matchLabels, p.labels))).toEqual([
      true,
      false,
      false,
    ]);
    expect([member, agent, job, app, elsewhere].map((p) => allowed(policy, 3306, p))).toEqual([
      true,
      true,
      true,
      true,
      false,
    ]);
    expect([member, agent, job, app, elsewhere].map((p) => allowed(policy, 4444, p))).toEqual([
      true,
      false,
      true,
      false,
      false,
    ]);
  });

  test("admits the application pods config names, in the namespaces config names, and no others", async () => {
    const { policy, app, elsewhere, agent } = await podsOf({
      clientNamespaceSelector: JSON.stringify({ "kubernetes.io/metadata.name": "other" }),
      clientPodSelector: JSON.stringify({ app: "shop" }),
    });
    expect(
      [elsewhere, app, { labels: { app: "billing" }, namespace: "other" }].map((p) => allowed(policy, 3306, p)),
    ).toEqual([true, false, false]);
    expect(allowed(policy, 3306, agent)).toBe(true);
  });

  test("members and the backup Job run under a ServiceAccount that mounts no API token", async () => {
    const r = await renderStack({ stack: "prod", onResource });
    const sts = r.resources.find((x) => x.type === "kubernetes:apps/v1:StatefulSet")!.inputs.spec.template.spec;
    const job = r.resources.find((x) => x.type === "kubernetes:batch/v1:CronJob")!.inputs.spec.jobTemplate.spec.template
      .spec;
    const account = r.resources.find(
      (x) => x.type === "kubernetes:core/v1:ServiceAccount" && x.name === "mysql-service-account",
    )!.inputs;
    expect(account).toMatchObject({ metadata: { name: "mysql-database" }, automountServiceAccountToken: false });
    for (const spec of [sts, job])
      expect([spec.serviceAccountName, spec.automountServiceAccountToken]).toEqual(["mysql-database", false]);
  });
});
