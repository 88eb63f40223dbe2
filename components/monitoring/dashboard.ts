/**
 * A Grafana dashboard of one stack (config `monitoring: prometheus-operator`): topology and roles, lag per member,
 * semi-sync, failovers, the agents, and with the binlog archive the backup's age and the archive's delay. Pure: the
 * expressions are built from the metric names of components/agent/metrics.ts and components/backup/metrics.ts and
 * select the stack's series as the alerts do (rules.ts). Shipped in a ConfigMap labelled `grafana_dashboard`, which
 * Grafana's dashboard sidecar (kube-prometheus-stack's) loads.
 */
import type * as k8s from "@pulumi/kubernetes";
import { AGENT_METRICS } from "../agent/metrics";
import { BACKUP_METRICS } from "../backup/metrics";
import type { Settings } from "../config";
import { commonLabels } from "../kubernetes/names";
import { monitoringNames } from "./prometheus-operator";
import { INSTANCE_TARGET_LABEL } from "./rules";

export interface DashboardArgs {
  name: string;
  settings: Pick<Settings, "namespace" | "backupEnabled" | "binlogArchive" | "monitoringLabels">;
}

/** The label Grafana's dashboard sidecar looks for (its default, as kube-prometheus-stack configures it). */
export const GRAFANA_DASHBOARD_LABEL = { grafana_dashboard: "1" };

interface Target {
  expr: string;
  legendFormat: string;
}

interface PanelSpec {
  title: string;
  description: string;
  type: "timeseries" | "stat";
  unit: string;
  targets: Target[];
}

/** The dashboard's panels, in order; their expressions are all the dashboard queries. */
export function dashboardPanels(args: DashboardArgs): PanelSpec[] {
  const s = args.settings;
  const sel = (name: string, extra = "") =>
    `${name}{namespace="${s.namespace}",${INSTANCE_TARGET_LABEL}="${args.name}"${extra}}`;
  const A = AGENT_METRICS;
  const B = BACKUP_METRICS;
  const perMember = (name: string) => ({ expr: `max by (member) (${sel(name)})`, legendFormat: "member {{member}}" });
  const panels: PanelSpec[] = [
    {
      title: "Primary",
      type: "stat",
      unit: "none",
      description: "The member every agent reports as the single writable one (none: no primary).",
      targets: [{ expr: `max by (member) (${sel(A.memberIsPrimary.name)}) == 1`, legendFormat: "member {{member}}" }],
    },
    {
      title: "Members up",
      type: "timeseries",
      unit: "none",
      description: "1 while an agent's last inspection reached the member.",
      targets: [perMember(A.memberUp.name)],
    },
    {
      title: "Role: primary",
      type: "timeseries",
      unit: "none",
      description: "1 while the member is the primary: a step is a switchover or failover.",
      targets: [perMember(A.memberIsPrimary.name)],
    },
    {
      title: "Replica lag",
      type: "timeseries",
      unit: "s",
      description: "Seconds_Behind_Master per replica (the read Service drops a replica past readMaxLagSeconds).",
      targets: [perMember(A.replicaLag.name)],
    },
    {
      title: "Errant transactions",
      type: "timeseries",
      unit: "none",
      description: "Errant GTIDs per member (0: none).",
      targets: [perMember(A.errant.name)],
    },
    {
      title: "Semi-sync",
      type: "timeseries",
      unit: "none",
      description:
        "Whether the primary waits for a replica's ack (0: asynchronous), and the semi-sync replicas connected.",
      targets: [
        { expr: `max(${sel(A.semiSyncOn.name)})`, legendFormat: "primary waits for acks" },
        { expr: `max(${sel(A.semiSyncReplicas.name)})`, legendFormat: "semi-sync replicas" },
      ],
    },
    {
      title: "Failovers",
      type: "timeseries",
      unit: "none",
      description: "Automatic failovers attempted per hour, by result.",
      targets: [{ expr: `sum by (result) (increase(${sel(A.failovers.name)}[1h]))`, legendFormat: "{{result}}" }],
    },
    {
      title: "Last failover",
      type: "stat",
      unit: "dateTimeAsIso",
      description: "When an agent last promoted a replica (empty: none since the agents started).",
      targets: [{ expr: `max(${sel(A.lastFailover.name)}) * 1000`, legendFormat: "last failover" }],
    },
    {
      title: "Agents",
      type: "timeseries",
      unit: "none",
      description: "Agents holding the Lease (1 when healthy), and the longest inspection of the members.",
      targets: [
        { expr: `sum(${sel(A.isLeader.name)})`, legendFormat: "leaders" },
        { expr: `max(${sel(A.inspectDuration.name)})`, legendFormat: "inspection (s)" },
      ],
    },
  ];
  if (s.backupEnabled && s.binlogArchive) {
    panels.push(
      {
        title: "Backup age",
        type: "stat",
        unit: "s",
        description: "Time since the newest complete base backup started.",
        targets: [{ expr: `time() - max(${sel(B.lastComplete.name)})`, legendFormat: "newest complete backup" }],
      },
      {
        title: "Binlog archive delay",
        type: "timeseries",
        unit: "s",
        description:
          "Per member pod: how far its binlog archive trails (writes acknowledged since then may not be in S3).",
        targets: [{ expr: `time() - max by (pod) (${sel(B.recoveryPoint.name)})`, legendFormat: "{{pod}}" }],
      },
    );
  }
  return panels;
}

/** The dashboard's JSON model (Grafana 9 and later), with a Prometheus data source to pick. */
export function buildDashboard(args: DashboardArgs) {
  const datasource = { type: "prometheus", uid: "${datasource}" };
  const width = 12;
  const height = 8;
  return {
    title: `mysql-ha ${args.settings.namespace}/${args.name}`,
    uid: `mysql-ha-${args.settings.namespace}-${args.name}`.slice(0, 40),
    tags: ["mysql-ha"],
    timezone: "utc",
    schemaVersion: 39,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    templating: { list: [{ name: "datasource", label: "Data source", type: "datasource", query: "prometheus" }] },
    panels: dashboardPanels(args).map((p, i) => ({
      id: i + 1,
      title: p.title,
      description: p.description,
      type: p.type,
      datasource,
      gridPos: { x: (i % 2) * width, y: Math.floor(i / 2) * height, w: width, h: height },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.targets.map((t, j) => ({
        refId: String.fromCharCode(65 + j),
        datasource,
        expr: t.expr,
        legendFormat: t.legendFormat,
      })),
    })),
  };
}

/** The ConfigMap Grafana's sidecar loads (it must watch the stack's namespace). */
export function buildDashboardConfigMap(args: DashboardArgs): k8s.core.v1.ConfigMapArgs {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: monitoringNames(args.name).dashboard,
      namespace: args.settings.namespace,
      labels: { ...commonLabels(args.name), ...args.settings.monitoringLabels, ...GRAFANA_DASHBOARD_LABEL },
    },
    data: { [`mysql-ha-${args.settings.namespace}-${args.name}.json`]: JSON.stringify(buildDashboard(args), null, 2) },
  };
}
