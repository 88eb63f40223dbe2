import { validateConfig, Settings } from "../../components/config";
import { objectNames, selectorLabels } from "../../components/kubernetes/names";
import { SECRET_KEYS } from "../../components/kubernetes/secret";
import {
  AGENT_BUNDLE_ANNOTATION,
  AGENT_BUNDLE_KEY,
  AGENT_HEALTH_PORT,
  AGENT_PATHS,
  agentSelectorLabels,
  buildAgentBundleConfigMap,
  buildAgentDeployment,
  buildAgentPodDisruptionBudget,
  buildAgentRole,
  buildAgentRoleBinding,
  buildAgentServiceAccount,
} from "../../components/kubernetes/agent";

const settings = (raw: Record<string, unknown> = {}): Settings => {
  const { settings: s, errors } = validateConfig({ namespace: "db", ...raw });
  if (!s) throw new Error(errors.map((e) => e.message).join("\n"));
  return s;
};
const args = (raw: Record<string, unknown> = {}) => ({
  name: "mysql",
  names: objectNames("mysql"),
  settings: settings(raw),
});
const deployment = (raw: Record<string, unknown> = {}) =>
  buildAgentDeployment({ ...args(raw), bundleSha256: "f".repeat(64) }) as any;

describe("agent RBAC", () => {
  // test/agent/labels.test.ts checks these against the requests the agent makes.
  test("the Role allows exactly the Lease, the topology ConfigMap, the primary Service and the members' pods, by name where RBAC can", () => {
    const role = buildAgentRole(args({ replicas: 4 })) as any;
    expect(role.metadata).toMatchObject({ name: "mysql-agent", namespace: "db" });
    expect(role.rules).toEqual([
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: ["mysql-agent"],
        verbs: ["get", "update"],
      },
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      { apiGroups: [""], resources: ["configmaps"], resourceNames: ["mysql-topology"], verbs: ["patch"] },
      { apiGroups: [""], resources: ["services"], resourceNames: ["mysql-primary"], verbs: ["get"] },
      { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
      {
        apiGroups: [""],
        resources: ["pods"],
        resourceNames: ["mysql-0", "mysql-1", "mysql-2", "mysql-3"],
        verbs: ["patch"],
      },
    ]);
  });

  test("the RoleBinding gives that Role to the agent's ServiceAccount only; the account mounts its token", () => {
    const account = buildAgentServiceAccount(args()) as any;
    expect(account.metadata).toMatchObject({ name: "mysql-agent", namespace: "db" });
    expect(account.automountServiceAccountToken).toBe(true);
    const binding = buildAgentRoleBinding(args()) as any;
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "mysql-agent" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "mysql-agent", namespace: "db" }]);
  });
});

describe("agent Deployment", () => {
  test("runs `mysql-ha agent` from the bundle with the stack's settings, as the agent's contract says", () => {
    const [container] = deployment({
      replicas: 5,
      agentIntervalMs: 250,
      agentFailureThreshold: 4,
      agentCooldownSeconds: 60,
    }).spec.template.spec.containers;
    expect(container.command).toEqual([
      "node",
      "/opt/mysql-ha/mysql-ha.js",
      "agent",
      "--statefulset",
      "mysql",
      "--service",
      "mysql-headless",
      "--namespace",
      "db",
      "--replicas",
      "5",
      "--port",
      "3306",
      "--lease",
      "mysql-agent",
      "--topology-configmap",
      "mysql-topology",
      "--primary-service",
      "mysql-primary",
      "--interval-ms",
      "250",
      "--failure-threshold",
      "4",
      "--cooldown-seconds",
      "60",
      "--metrics-port",
      String(AGENT_HEALTH_PORT),
      "--semi-sync-timeout-ms",
      "10000",
      "--timeout-ms",
      "120000",
      "--flavor",
      "mariadb",
      "--tls-ca",
      "/etc/mysql-ha/tls/ca.crt",
      "--tls-member-ca",
      "/etc/mysql-ha/tls/ca.crt",
    ]);
    expect(deployment({ tls: "off" }).spec.template.spec.containers[0].command).not.toContain("--tls-ca");
    // A promoted primary gets the stack's replication mode; SIGTERM never cuts a failover short.
    expect(deployment({ semiSync: false }).spec.template.spec.containers[0].command).toContain("--async");
    expect(deployment({ operationTimeoutSeconds: 300 }).spec.template.spec.terminationGracePeriodSeconds).toBe(310);
    expect(container.image).toBe("node:20.19.5-bookworm-slim");
    expect(deployment({ agentImage: "node:20.20.0-bookworm-slim" }).spec.template.spec.containers[0].image).toBe(
      "node:20.20.0-bookworm-slim",
    );
  });

  test("takes credentials from the Secret by secretKeyRef only: its own operator account (never root) and the replication account", () => {
    const spec = deployment().spec.template.spec;
    const env = spec.containers[0].env;
    expect(env).toEqual([
      { name: "MYSQL_HA_USER", value: "mysql_ha_operator" },
      {
        name: "MYSQL_HA_PASSWORD",
        valueFrom: { secretKeyRef: { name: "mysql-credentials", key: "operator-password" } },
      },
      { name: "MYSQL_HA_REPLICATION_USER", value: "replication" },
      {
        name: "MYSQL_HA_REPLICATION_PASSWORD",
        valueFrom: { secretKeyRef: { name: "mysql-credentials", key: SECRET_KEYS.replication } },
      },
    ]);
    // No password anywhere else in the pod, and none of the app account.
    const everyEnv = [...spec.initContainers, ...spec.containers].flatMap((c: any) => c.env ?? []);
    expect(
      everyEnv
        .filter((e: any) => /PASSWORD/.test(e.name))
        .every((e: any) => e.valueFrom?.secretKeyRef && e.value === undefined),
    ).toBe(true);
    expect(JSON.stringify(spec)).not.toContain(SECRET_KEYS.app);
  });

  test("probes /healthz on the agent's health port for liveness and readiness", () => {
    const [container] = deployment().spec.template.spec.containers;
    expect(container.ports).toEqual([{ name: "health", containerPort: AGENT_HEALTH_PORT, protocol: "TCP" }]);
    for (const probe of [container.livenessProbe, container.readinessProbe]) {
      expect(probe.httpGet).toEqual({ path: "/healthz", port: "health" });
      expect(probe.periodSeconds).toBeGreaterThan(0);
    }
  });

  test("runs non-root (the image's node user), read-only, without privilege escalation or capabilities, under RuntimeDefault seccomp, with requests and limits", () => {
    const pod = deployment().spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      seccompProfile: { type: "RuntimeDefault" },
    });
    for (const c of [...pod.initContainers, ...pod.containers]) {
      expect([c.name, c.securityContext]).toEqual([
        c.name,
        {
          runAsNonRoot: true,
          runAsUser: 1000,
          runAsGroup: 1000,
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        },
      ]);
      for (const kind of ["requests", "limits"])
        expect(Object.keys(c.resources[kind]).sort()).toEqual(["cpu", "memory"]);
    }
  });

  test("mounts the token of its own ServiceAccount: it talks to the API", () => {
    const pod = deployment().spec.template.spec;
    expect(pod.serviceAccountName).toBe("mysql-agent");
    expect(pod.automountServiceAccountToken).toBe(true);
  });

  test("runs two pods, one replaced at a time without a surge, spread over nodes as the stack's antiAffinity says", () => {
    const term = {
      topologyKey: "kubernetes.io/hostname",
      labelSelector: { matchLabels: agentSelectorLabels("mysql") },
    };
    const none = deployment({ antiAffinity: "none" });
    expect(none.spec.replicas).toBe(2);
    expect(none.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } });
    expect(none.spec.template.spec.affinity).toBeUndefined();
    expect(deployment({ antiAffinity: "preferred" }).spec.template.spec.affinity).toEqual({
      podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: term }] },
    });
    expect(deployment({ antiAffinity: "required" }).spec.template.spec.affinity).toEqual({
      podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [term] },
    });
  });

  test("is labelled component agent, so the members' selectors (component database) never pick its pods", () => {
    const d = deployment();
    const podLabels = d.spec.template.metadata.labels;
    expect(podLabels["app.kubernetes.io/component"]).toBe("agent");
    expect(d.spec.selector.matchLabels).toEqual(agentSelectorLabels("mysql"));
    const members = selectorLabels("mysql");
    expect(Object.entries(members).every(([k, v]) => podLabels[k] === v)).toBe(false);
  });

  test("unpacks the bundle from the ConfigMap into a read-only emptyDir, checking the sha256 the pod template names", () => {
    const d = deployment();
    const pod = d.spec.template.spec;
    expect(d.spec.template.metadata.annotations).toEqual({ [AGENT_BUNDLE_ANNOTATION]: "f".repeat(64) });
    const [unpack] = pod.initContainers;
    expect(unpack.command.slice(0, 2)).toEqual(["node", "-e"]);
    expect(unpack.env).toEqual([
      { name: "BUNDLE_IN", value: `${AGENT_PATHS.bundle}/${AGENT_BUNDLE_KEY}` },
      { name: "BUNDLE_OUT", value: AGENT_PATHS.script },
      { name: "BUNDLE_SHA256", value: "f".repeat(64) },
    ]);
    expect(pod.volumes).toEqual([
      { name: "bundle", configMap: { name: "mysql-agent-bundle" } },
      { name: "app", emptyDir: { sizeLimit: "32Mi" } },
      // The CA only: the agent verifies the members and holds none of their keys.
      { name: "tls-ca", secret: { secretName: "mysql-tls", items: [{ key: "ca.crt", path: "ca.crt" }] } },
    ]);
    expect(pod.containers[0].volumeMounts).toEqual([
      { name: "app", mountPath: AGENT_PATHS.app, readOnly: true },
      { name: "tls-ca", mountPath: "/etc/mysql-ha/tls", readOnly: true },
    ]);
  });
});

describe("agent ConfigMap and PodDisruptionBudget", () => {
  test("the ConfigMap carries the compressed bundle as binaryData", () => {
    const cm = buildAgentBundleConfigMap({ ...args(), brotliBase64: "AAEC" }) as any;
    expect(cm.metadata).toMatchObject({
      name: "mysql-agent-bundle",
      namespace: "db",
      labels: { "app.kubernetes.io/component": "agent" },
    });
    expect(cm.binaryData).toEqual({ [AGENT_BUNDLE_KEY]: "AAEC" });
    expect(cm.data).toBeUndefined();
  });

  test("the PodDisruptionBudget lets one agent pod go at a time and selects only agent pods", () => {
    const pdb = buildAgentPodDisruptionBudget(args()) as any;
    expect(pdb.metadata).toMatchObject({ name: "mysql-agent", namespace: "db" });
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: agentSelectorLabels("mysql") } });
  });
});
