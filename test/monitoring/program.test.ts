/**
 * Monitoring in the program under Pulumi mocks: `metrics` adds the mysqld_exporter sidecar (pinned image, its own
 * account, password by secretKeyRef) and opens its port to the monitoring namespace only; `monitoring:
 * prometheus-operator` adds the PodMonitors and the PrometheusRule, valid against the operator's CRD schemas; the
 * policy pack passes the monitored prod stack; config errors name the key.
 */
import { kubernetesManifests, renderStack, RenderedStack } from "../../offline/render";
import { runPolicies } from "../../offline/analyzer";
import { validateConfig } from "../../components/config";
import { buildAlertRules } from "../../components/monitoring/rules";
import { buildDashboard } from "../../components/monitoring/dashboard";
import { exporterMyCnf } from "../../components/monitoring/exporter";

const MONITORED = {
  metrics: "true",
  monitoring: "prometheus-operator",
  monitoringNamespace: "observability",
  monitoringLabels: '{"release":"kube-prometheus-stack"}',
};

/** The operator's model class for a monitoring.coreos.com/v1 kind. */
function operatorModel(kind: string): new (data: unknown) => { validate(): void } {
  return require(`@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/${kind}`)[kind];
}

const manifest = (r: RenderedStack, kind: string, name: string) => {
  const found = kubernetesManifests(r).find((m) => m.manifest.kind === kind && m.manifest.metadata.name === name);
  if (!found) throw new Error(`no ${kind} ${name}`);
  return found.manifest;
};

describe("monitoring in the program (prod stack, monitored)", () => {
  let r: RenderedStack;
  beforeAll(async () => {
    r = await renderStack({ stack: "prod", set: MONITORED });
    expect(r.errors).toEqual([]);
  });

  it("adds the mysqld_exporter sidecar: pinned image, the metrics account over verified TLS from an option file in a Secret of its own", () => {
    const pod = manifest(r, "StatefulSet", "mysql").spec.template.spec;
    const exporter = pod.containers.find((c: any) => c.name === "mysqld-exporter");
    expect(exporter.image).toBe("prom/mysqld-exporter:v0.15.1");
    // Flags both 0.14 and 0.15+ take (test/monitoring/exporter-sidecar.test.ts runs them); no password in argv or env.
    expect(exporter.args).toEqual([
      "--config.my-cnf=/etc/mysqld-exporter/my.cnf",
      "--web.listen-address=:9104",
      "--collect.binlog_size",
    ]);
    expect(exporter.env).toBeUndefined();
    expect(exporter.volumeMounts).toEqual([
      { name: "exporter-config", mountPath: "/etc/mysqld-exporter", readOnly: true },
      { name: "exporter-tls-ca", mountPath: "/etc/mysql-ha/tls", readOnly: true },
    ]);
    // The option file's Secret (readable by the pod's group only) and only the CA of the TLS Secret, none of its keys.
    expect(pod.volumes).toContainEqual({
      name: "exporter-config",
      secret: { secretName: "mysql-exporter", defaultMode: 0o440 },
    });
    expect(pod.volumes).toContainEqual({
      name: "exporter-tls-ca",
      secret: { secretName: "mysql-tls", items: [{ key: "ca.crt", path: "ca.crt" }] },
    });
    // The file is secret in state (redacted in the render) and made from the metrics password with the CA's path.
    const secret = kubernetesManifests(r).find(
      (m) => m.manifest.kind === "Secret" && m.manifest.metadata.name === "mysql-exporter",
    )!;
    expect(secret.manifest.stringData).toEqual({ "my.cnf": "[secret]" });
    expect(exporterMyCnf("pw42", { tls: "self-signed" })).toBe(
      "[client]\nuser=mysql_ha_metrics\npassword=pw42\nhost=127.0.0.1\nport=3306\nssl-ca=/etc/mysql-ha/tls/ca.crt\n",
    );
    expect(exporterMyCnf("pw42", { tls: "off" })).not.toMatch(/ssl/);
    expect(exporter.ports).toEqual([{ name: "metrics", containerPort: 9104, protocol: "TCP" }]);
    expect(exporter.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
    });
    expect(exporter.readinessProbe).toBeUndefined();
  });

  it("the NetworkPolicy admits the exporter port from the monitoring namespace only", () => {
    const ingress = manifest(r, "NetworkPolicy", "mysql-members").spec.ingress;
    const monitoring = [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "observability" } } }];
    const exporter = ingress.filter((rule: any) => rule.ports.some((p: any) => p.port === 9104));
    expect(exporter).toEqual([{ ports: [{ protocol: "TCP", port: 9104 }], from: monitoring }]);
    // The binlog archivers' metrics port too (the prod stack archives binlogs).
    const archive = ingress.filter((rule: any) => rule.ports.some((p: any) => p.port === 9105));
    expect(archive).toEqual([{ ports: [{ protocol: "TCP", port: 9105 }], from: monitoring }]);
    // The other ports do not admit the monitoring namespace.
    for (const rule of ingress.filter((x: any) => x !== exporter[0] && x !== archive[0]))
      expect(JSON.stringify(rule.from)).not.toContain("observability");
  });

  it("PodMonitors of the agents and the members, and a PrometheusRule with the alerts, labelled for Prometheus' selectors", () => {
    const agent = manifest(r, "PodMonitor", "mysql-agent");
    const members = manifest(r, "PodMonitor", "mysql-members");
    const archive = manifest(r, "PodMonitor", "mysql-archive");
    const rule = manifest(r, "PrometheusRule", "mysql");
    for (const m of [agent, members, archive, rule]) {
      expect(m.apiVersion).toBe("monitoring.coreos.com/v1");
      expect(m.metadata).toMatchObject({
        namespace: "mysql-ha",
        labels: { release: "kube-prometheus-stack", "app.kubernetes.io/instance": "mysql" },
      });
    }
    expect(agent.spec).toEqual({
      selector: {
        matchLabels: {
          "app.kubernetes.io/name": "mysql-ha",
          "app.kubernetes.io/instance": "mysql",
          "app.kubernetes.io/component": "agent",
        },
      },
      podTargetLabels: ["app.kubernetes.io/instance"],
      podMetricsEndpoints: [{ port: "health", path: "/metrics", interval: "15s" }],
    });
    expect(members.spec.selector.matchLabels["app.kubernetes.io/component"]).toBe("database");
    expect(members.spec.podMetricsEndpoints).toEqual([{ port: "metrics", path: "/metrics", interval: "30s" }]);
    expect(archive.spec.selector).toEqual(members.spec.selector);
    expect(archive.spec.podMetricsEndpoints).toEqual([{ port: "archive-metrics", path: "/metrics", interval: "30s" }]);
    // The prod stack's readMaxLagSeconds (5), semi-sync, backups with the binlog archive, its daily backup schedule.
    const settings = {
      namespace: "mysql-ha",
      readMaxLagSeconds: 5,
      semiSync: true,
      backupEnabled: true,
      binlogArchive: true,
      backupSchedule: "0 2 * * *",
    };
    expect(rule.spec.groups).toEqual(buildAlertRules({ name: "mysql", settings }));
    expect(rule.spec.groups[0].rules.map((x: any) => x.alert)).toEqual(
      expect.arrayContaining(["MysqlHaBackupTooOld", "MysqlHaBinlogArchiveBehind"]),
    );
    // The archiver serves its metrics on the port its monitor names, told by METRICS_PORT.
    const archiver = manifest(r, "StatefulSet", "mysql").spec.template.spec.containers.find(
      (c: any) => c.name === "binlog-archiver",
    );
    expect(archiver.ports).toEqual([{ name: "archive-metrics", containerPort: 9105, protocol: "TCP" }]);
    expect(archiver.env).toContainEqual({ name: "METRICS_PORT", value: "9105" });
    // The ports the monitors name exist on the pods they select.
    expect(
      manifest(r, "Deployment", "mysql-agent").spec.template.spec.containers[0].ports.map((p: any) => p.name),
    ).toContain("health");
  });

  it("validate against the Prometheus Operator's CRD schemas; a broken one does not (the check can fail)", () => {
    const objects = kubernetesManifests(r)
      .map((m) => m.manifest)
      .filter((m) => m.apiVersion === "monitoring.coreos.com/v1");
    expect(objects.map((m) => m.kind).sort()).toEqual(["PodMonitor", "PodMonitor", "PodMonitor", "PrometheusRule"]);
    for (const m of objects) expect(() => new (operatorModel(m.kind))(m).validate()).not.toThrow();
    const broken = structuredClone(manifest(r, "PrometheusRule", "mysql"));
    delete broken.spec.groups[0].rules[0].expr;
    expect(() => new (operatorModel("PrometheusRule"))(broken).validate()).toThrow(/expr/);
  });

  it("ships the Grafana dashboard in a ConfigMap labelled grafana_dashboard, with the backup and archive panels", () => {
    const configMap = manifest(r, "ConfigMap", "mysql-dashboard");
    expect(configMap.metadata).toMatchObject({
      namespace: "mysql-ha",
      labels: { grafana_dashboard: "1", release: "kube-prometheus-stack", "app.kubernetes.io/instance": "mysql" },
    });
    const settings = {
      namespace: "mysql-ha",
      backupEnabled: true,
      binlogArchive: true,
      monitoringLabels: { release: "kube-prometheus-stack" },
    };
    expect(Object.entries(configMap.data).map(([k, v]) => [k, JSON.parse(v as string)])).toEqual([
      ["mysql-ha-mysql-ha-mysql.json", buildDashboard({ name: "mysql", settings })],
    ]);
    expect(buildDashboard({ name: "mysql", settings }).panels.map((p) => p.title)).toEqual(
      expect.arrayContaining(["Backup age", "Binlog archive delay"]),
    );
  });

  it("passes every mandatory policy; the policy pack knows the sidecar: unpinned, without resources or as root it is refused by name", async () => {
    const violations = await runPolicies(r.resources);
    expect(violations.filter((v) => v.level === "mandatory").map((v) => `${v.policy}: ${v.message}`)).toEqual([]);
    /** The mandatory violations about the exporter container once `change` is made to it. */
    const refused = async (change: (exporter: any) => void) => {
      const changed = structuredClone(r.resources);
      const pod = changed.find((x) => x.name === "mysql-statefulset")!.inputs.spec.template.spec;
      change(pod.containers.find((c: any) => c.name === "mysqld-exporter"));
      return (await runPolicies(changed))
        .filter((v) => v.level === "mandatory" && /mysqld-exporter/.test(v.message))
        .map((v) => v.policy);
    };
    expect(await refused((c) => (c.image = "prom/mysqld-exporter:latest"))).toEqual(["k8s-image-pinned"]);
    expect(await refused((c) => delete c.resources.limits)).toEqual(["k8s-container-resources"]);
    expect(await refused((c) => (c.securityContext = { ...c.securityContext, runAsUser: 0 }))).toEqual([
      "k8s-run-as-non-root",
    ]);
  });
});

describe("monitoring off (the shipped stacks' default)", () => {
  it("no sidecar, no exporter port in the NetworkPolicy, no operator objects, no dashboard", async () => {
    const r = await renderStack({ stack: "dev" });
    expect(r.errors).toEqual([]);
    const manifests = kubernetesManifests(r).map((m) => m.manifest);
    expect(manifests.filter((m) => m.apiVersion === "monitoring.coreos.com/v1")).toEqual([]);
    expect(manifests.filter((m) => m.metadata?.labels?.grafana_dashboard)).toEqual([]);
    expect(
      manifests.find((m) => m.kind === "StatefulSet")!.spec.template.spec.containers.map((c: any) => c.name),
    ).not.toContain("mysqld-exporter");
    expect(JSON.stringify(manifests.find((m) => m.kind === "NetworkPolicy")!.spec)).not.toContain("9104");
  });

  it("metrics alone: the sidecar and its port, but no operator objects", async () => {
    const r = await renderStack({ stack: "dev", set: { metrics: "true" } });
    expect(r.errors).toEqual([]);
    const manifests = kubernetesManifests(r).map((m) => m.manifest);
    expect(manifests.filter((m) => m.apiVersion === "monitoring.coreos.com/v1")).toEqual([]);
    expect(
      manifests.find((m) => m.kind === "StatefulSet")!.spec.template.spec.containers.map((c: any) => c.name),
    ).toContain("mysqld-exporter");
  });

  it("prometheus-operator without metrics (and, as dev, without backups): the agents' PodMonitor and the rule, no members' or archivers' PodMonitor", async () => {
    const r = await renderStack({ stack: "dev", set: { monitoring: "prometheus-operator" } });
    expect(r.errors).toEqual([]);
    const names = kubernetesManifests(r)
      .map((m) => m.manifest)
      .filter((m) => m.apiVersion === "monitoring.coreos.com/v1")
      .map((m) => `${m.kind}/${m.metadata.name}`);
    expect(names.sort()).toEqual(["PodMonitor/mysql-agent", "PrometheusRule/mysql"]);
  });
});

describe("monitoring config", () => {
  const errors = (raw: Record<string, unknown>) => validateConfig(raw).errors.map((e) => e.message);
  it("defaults: metrics off, no monitoring objects, namespace monitoring, pinned exporter image", () => {
    expect(validateConfig({}).settings).toMatchObject({
      metrics: false,
      monitoring: "none",
      monitoringNamespace: "monitoring",
      monitoringLabels: {},
      metricsImage: "prom/mysqld-exporter:v0.15.1",
    });
  });
  it("refuses what cannot work, naming the key", () => {
    expect(errors({ monitoring: "prometheus-operator", autoFailover: "false" })).toEqual([
      'mysql-ha:monitoring: "prometheus-operator" is not allowed; expected none when autoFailover is false (the failover agent exports the topology metrics the alerts read)',
    ]);
    expect(errors({ monitoring: "prometheus" })[0]).toMatch(
      /^mysql-ha:monitoring: "prometheus" is not allowed; expected one of none, prometheus-operator/,
    );
    expect(errors({ metricsImage: "prom/mysqld-exporter:latest" })[0]).toMatch(
      /^mysql-ha:metricsImage: .*pinned tag or digest/,
    );
    expect(errors({ monitoringNamespace: "Monitoring" })[0]).toMatch(
      /^mysql-ha:monitoringNamespace: "Monitoring" is not allowed/,
    );
    expect(errors({ monitoringLabels: '{"release": "a b"}' })[0]).toMatch(
      /^mysql-ha:monitoringLabels\.release: "a b" is not allowed/,
    );
  });
  it("the backup age threshold: two periods of backupSchedule by default; a schedule it cannot compute is an error naming backupSchedule, unless backupMaxAgeHours is set", () => {
    const monitored = { monitoring: "prometheus-operator" };
    expect(validateConfig({ ...monitored, backupSchedule: "0 2 * * 0" }).settings).toMatchObject({
      backupSchedule: "0 2 * * 0",
      backupMaxAgeHours: undefined,
    });
    expect(errors({ ...monitored, backupSchedule: "0 3 L * *" })).toEqual([
      'mysql-ha:backupSchedule: "0 3 L * *" is not allowed; expected a schedule whose period can be computed (cron schedule "0 3 L * *": day-of-month field "L": "L" is not a number; L, W, # and other extensions are not supported), or set backupMaxAgeHours',
    ]);
    expect(errors({ ...monitored, backupSchedule: "0 3 L * *", backupMaxAgeHours: "40" })).toEqual([]);
    expect(validateConfig({ ...monitored, backupMaxAgeHours: "40" }).settings?.backupMaxAgeHours).toBe(40);
    // Without the alert (no monitoring objects, or no binlog archive) the schedule is not computed.
    expect(errors({ backupSchedule: "0 3 L * *" })).toEqual([]);
    expect(errors({ ...monitored, binlogArchive: "false", backupSchedule: "0 3 L * *" })).toEqual([]);
  });
});
