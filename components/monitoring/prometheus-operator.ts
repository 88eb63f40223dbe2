/**
 * The Prometheus Operator's objects (config `monitoring: prometheus-operator`): a PodMonitor of the failover agents'
 * /metrics, one of the members' mysqld_exporter (with `metrics`), one of the binlog archivers' backup and archive
 * metrics (with the binlog archive), and a PrometheusRule with the alerts of rules.ts.
 * Plain objects for k8s.apiextensions.CustomResource; validated against the CRD schemas in the tests.
 */
import { ARCHIVE_METRICS_PORT_NAME } from "../backup/metrics";
import type { Settings } from "../config";
import { agentSelectorLabels, AGENT_HEALTH_PORT_NAME } from "../kubernetes/agent";
import { commonLabels, selectorLabels } from "../kubernetes/names";
import { EXPORTER_PORT_NAME } from "./exporter";
import { buildAlertRules } from "./rules";

export const MONITORING_API_VERSION = "monitoring.coreos.com/v1";

export interface MonitoringArgs {
  name: string;
  settings: Pick<
    Settings,
    | "namespace"
    | "readMaxLagSeconds"
    | "semiSync"
    | "monitoringLabels"
    | "backupEnabled"
    | "binlogArchive"
    | "backupSchedule"
    | "backupMaxAgeHours"
  >;
}

export function monitoringNames(name: string) {
  return {
    agentPodMonitor: `${name}-agent`,
    membersPodMonitor: `${name}-members`,
    archivePodMonitor: `${name}-archive`,
    rule: name,
    dashboard: `${name}-dashboard`,
  };
}

const metadata = (args: MonitoringArgs, objectName: string) => ({
  name: objectName,
  namespace: args.settings.namespace,
  labels: { ...commonLabels(args.name), ...args.settings.monitoringLabels },
});

/** A PodMonitor of one port of the pods `selector` picks; the instance label goes onto every series (rules.ts). */
function podMonitor(
  args: MonitoringArgs,
  objectName: string,
  selector: Record<string, string>,
  port: string,
  interval: string,
) {
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: "PodMonitor",
    metadata: metadata(args, objectName),
    spec: {
      selector: { matchLabels: selector },
      podTargetLabels: ["app.kubernetes.io/instance"],
      podMetricsEndpoints: [{ port, path: "/metrics", interval }],
    },
  };
}

/** The agents' topology metrics; as often as the alerts need them (a failover takes seconds). */
export function buildAgentPodMonitor(args: MonitoringArgs) {
  return podMonitor(
    args,
    monitoringNames(args.name).agentPodMonitor,
    agentSelectorLabels(args.name),
    AGENT_HEALTH_PORT_NAME,
    "15s",
  );
}

/** The members' mysqld_exporter (config `metrics`). */
export function buildMembersPodMonitor(args: MonitoringArgs) {
  return podMonitor(
    args,
    monitoringNames(args.name).membersPodMonitor,
    selectorLabels(args.name),
    EXPORTER_PORT_NAME,
    "30s",
  );
}

/** The binlog archivers' recovery point and newest complete backup (with the binlog archive); both change slowly. */
export function buildArchivePodMonitor(args: MonitoringArgs) {
  return podMonitor(
    args,
    monitoringNames(args.name).archivePodMonitor,
    selectorLabels(args.name),
    ARCHIVE_METRICS_PORT_NAME,
    "30s",
  );
}

export function buildPrometheusRule(args: MonitoringArgs) {
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: "PrometheusRule",
    metadata: metadata(args, monitoringNames(args.name).rule),
    spec: { groups: buildAlertRules(args) },
  };
}
