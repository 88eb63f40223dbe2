/**
 * Per-server metrics: a mysqld_exporter sidecar on every member (config `metrics`), connecting to its own server over
 * loopback as the least-privilege account mysql_ha_metrics, with TLS on verifying the member's certificate against
 * the stack's CA.
 *
 * The connection is configured by one option file only (`--config.my-cnf`), the one form mysqld_exporter 0.14 and
 * 0.15+ read alike ([client] user, password, host, port, ssl-ca): 0.14 has no --mysqld.* flags and 0.15 dropped
 * DATA_SOURCE_NAME, and 0.14 takes the password from nowhere but the file or DATA_SOURCE_NAME. So the file, password
 * included, is a Secret of its own (`<name>-exporter`) mounted read-only into the sidecar alone: never in argv, env
 * or a manifest, and secret in state.
 */
import type * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "../config";
import { commonLabels, EXPORTER_PORT, MYSQL_PORT, ObjectNames } from "../kubernetes/names";
import { ACCOUNTS } from "../kubernetes/secret";
import { CONTAINER_SECURITY_CONTEXT, StatefulSetExtras } from "../kubernetes/statefulset";
import { TLS_KEYS, TLS_PATHS, tlsSecretName } from "../kubernetes/tls";

type Container = k8s.types.input.core.v1.Container;

/** Name of the exporter's port (EXPORTER_PORT) on the container. */
export const EXPORTER_PORT_NAME = "metrics";

/** Where the sidecar finds its option file (the Secret's one key). */
export const EXPORTER_CONFIG = {
  dir: "/etc/mysqld-exporter",
  key: "my.cnf",
  file: "/etc/mysqld-exporter/my.cnf",
} as const;

const VOLUMES = { config: "exporter-config", tlsCa: "exporter-tls-ca" } as const;

export interface ExporterArgs {
  name: string;
  names: ObjectNames;
  settings: Pick<Settings, "namespace" | "metrics" | "metricsImage" | "tls">;
}

/** Name of the Secret holding the exporter's option file. */
export function exporterSecretName(names: ObjectNames): string {
  return `${names.statefulSet}-exporter`;
}

/**
 * The option file: the metrics account on the pod's loopback (the account exists for 127.0.0.1 only) and, with TLS,
 * the CA to verify the server with. Both versions verify the certificate for the address they connect to, 127.0.0.1.
 * The password is alphanumeric (generated so), so it needs no quoting in the file.
 */
export function exporterMyCnf(password: string, settings: Pick<Settings, "tls">): string {
  return [
    "[client]",
    `user=${ACCOUNTS.metrics.user}`,
    `password=${password}`,
    "host=127.0.0.1",
    `port=${MYSQL_PORT}`,
    ...(settings.tls !== "off" ? [`ssl-ca=${TLS_PATHS.ca}`] : []),
    "",
  ].join("\n");
}

/** The Secret `<name>-exporter` with the option file, made from the metrics account's generated password. */
export function buildExporterSecret(args: ExporterArgs & { password: pulumi.Input<string> }): k8s.core.v1.SecretArgs {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: exporterSecretName(args.names),
      namespace: args.settings.namespace,
      labels: commonLabels(args.name),
    },
    type: "Opaque",
    stringData: {
      [EXPORTER_CONFIG.key]: pulumi.secret(pulumi.output(args.password).apply((p) => exporterMyCnf(p, args.settings))),
    },
  };
}

export function buildExporterSidecar(args: ExporterArgs): Container {
  const tls = args.settings.tls !== "off";
  return {
    name: "mysqld-exporter",
    image: args.settings.metricsImage,
    args: [
      `--config.my-cnf=${EXPORTER_CONFIG.file}`,
      `--web.listen-address=:${EXPORTER_PORT}`,
      // Binlog sizes (SHOW BINARY LOGS: the account's BINLOG MONITOR); replica status is collected by default.
      "--collect.binlog_size",
    ],
    ports: [{ name: EXPORTER_PORT_NAME, containerPort: EXPORTER_PORT, protocol: "TCP" }],
    volumeMounts: [
      { name: VOLUMES.config, mountPath: EXPORTER_CONFIG.dir, readOnly: true },
      ...(tls ? [{ name: VOLUMES.tlsCa, mountPath: TLS_PATHS.dir, readOnly: true }] : []),
    ],
    // The landing page, not /metrics: a probe must not query the database. Liveness only, as every sidecar: the
    // member's readiness stays the database's.
    livenessProbe: {
      httpGet: { path: "/", port: EXPORTER_PORT_NAME },
      periodSeconds: 20,
      timeoutSeconds: 5,
      failureThreshold: 3,
    },
    resources: {
      requests: { cpu: "10m", memory: "32Mi", "ephemeral-storage": "8Mi" },
      limits: { cpu: "200m", memory: "128Mi" },
    },
    securityContext: CONTAINER_SECURITY_CONTEXT,
  };
}

/** What `metrics` adds to the member pods: the sidecar, its option file and (TLS) only the CA of the TLS Secret. */
export function buildMetricsPodExtras(args: ExporterArgs): StatefulSetExtras {
  if (!args.settings.metrics) return {};
  return {
    containers: [buildExporterSidecar(args)],
    volumes: [
      // Readable by the pod's group (fsGroup) only: the file holds the account's password.
      { name: VOLUMES.config, secret: { secretName: exporterSecretName(args.names), defaultMode: 0o440 } },
      ...(args.settings.tls !== "off"
        ? [
            {
              name: VOLUMES.tlsCa,
              secret: { secretName: tlsSecretName(args.names), items: [{ key: TLS_KEYS.ca, path: TLS_KEYS.ca }] },
            },
          ]
        : []),
    ],
  };
}
