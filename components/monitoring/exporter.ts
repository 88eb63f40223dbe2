/**
 * Per-server metrics: a mysqld_exporter sidecar on every member (config `metrics`), connecting to its own server over
 * loopback as the least-privilege account mysql_ha_metrics, its password by secretKeyRef (never in argv or a file).
 */
import type * as k8s from "@pulumi/kubernetes";
import type { Settings } from "../config";
import { EXPORTER_PORT, MYSQL_PORT, ObjectNames } from "../kubernetes/names";
import { ACCOUNTS } from "../kubernetes/secret";
import { CONTAINER_SECURITY_CONTEXT, StatefulSetExtras } from "../kubernetes/statefulset";

type Container = k8s.types.input.core.v1.Container;

/** Name of the exporter's port (EXPORTER_PORT) on the container. */
export const EXPORTER_PORT_NAME = "metrics";

export interface ExporterArgs {
  names: ObjectNames;
  settings: Pick<Settings, "metrics" | "metricsImage">;
}

export function buildExporterSidecar(args: ExporterArgs): Container {
  return {
    name: "mysqld-exporter",
    image: args.settings.metricsImage,
    args: [
      `--mysqld.address=127.0.0.1:${MYSQL_PORT}`,
      `--mysqld.username=${ACCOUNTS.metrics.user}`,
      `--web.listen-address=:${EXPORTER_PORT}`,
      // Binlog sizes (SHOW BINARY LOGS: the account's BINLOG MONITOR); replica status is collected by default.
      "--collect.binlog_size",
    ],
    // mysqld_exporter 0.15+ reads the password of --mysqld.username from this variable.
    env: [{ name: "MYSQLD_EXPORTER_PASSWORD", valueFrom: { secretKeyRef: { name: args.names.secret, key: ACCOUNTS.metrics.secretKey } } }],
    ports: [{ name: EXPORTER_PORT_NAME, containerPort: EXPORTER_PORT, protocol: "TCP" }],
    // The landing page, not /metrics: a probe must not query the database. Liveness only, as every sidecar: the
    // member's readiness stays the database's.
    livenessProbe: { httpGet: { path: "/", port: EXPORTER_PORT_NAME }, periodSeconds: 20, timeoutSeconds: 5, failureThreshold: 3 },
    resources: { requests: { cpu: "10m", memory: "32Mi", "ephemeral-storage": "8Mi" }, limits: { cpu: "200m", memory: "128Mi" } },
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
}

/** What `metrics` adds to the member pods. */
export function buildMetricsPodExtras(args: ExporterArgs): StatefulSetExtras {
  return args.settings.metrics ? { containers: [buildExporterSidecar(args)] } : {};
}
