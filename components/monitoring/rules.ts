/**
 * The alerts on the agent's topology metrics (components/agent/metrics.ts) and, with the binlog archive, on the
 * archivers' backup and archive metrics (components/backup/metrics.ts), as Prometheus rule groups: pure, so the
 * PrometheusRule carries them and `promtool test rules` tests exactly them. Series are picked by the labels the
 * PodMonitors give every target (namespace, and app.kubernetes.io/instance as app_kubernetes_io_instance), so two
 * stacks never see each other's. Both agent pods export the same topology: every expression aggregates with max.
 * Each alert's runbook is the README section its anchor names.
 */
import { AGENT_METRICS } from "../agent/metrics";
import { BACKUP_METRICS } from "../backup/metrics";
import type { Settings } from "../config";
import { longestGapSeconds } from "../cron";

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: "critical" | "warning" };
  annotations: { summary: string; description: string; runbook: string };
}

export interface RuleGroup {
  name: string;
  rules: AlertRule[];
}

export interface RulesArgs {
  name: string;
  settings: Pick<
    Settings,
    | "namespace"
    | "readMaxLagSeconds"
    | "semiSync"
    | "backupEnabled"
    | "binlogArchive"
    | "backupSchedule"
    | "backupMaxAgeHours"
  >;
}

/**
 * Age past which the newest complete backup is too old, in seconds: backupMaxAgeHours when set, else two of the
 * schedule's periods (the longest time between two of its runs), so one missed run alone does not page.
 */
export function backupMaxAgeSeconds(settings: Pick<Settings, "backupSchedule" | "backupMaxAgeHours">): number {
  return settings.backupMaxAgeHours !== undefined
    ? settings.backupMaxAgeHours * 3600
    : 2 * longestGapSeconds(settings.backupSchedule);
}

/** Seconds as a Prometheus duration in its largest whole unit (48h, 30m, 90s). */
function duration(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  return seconds % 60 === 0 ? `${seconds / 60}m` : `${seconds}s`;
}

/** A member's binlog archive is behind when its recovery point is older than this (it is seconds when healthy). */
export const ARCHIVE_MAX_DELAY_SECONDS = 300;

/** Target label the PodMonitors copy from the pods' app.kubernetes.io/instance (Prometheus' label name rules). */
export const INSTANCE_TARGET_LABEL = "app_kubernetes_io_instance";

/** Where an alert's runbook is: its heading in the README (GitHub's anchor: the lower-cased name). */
export const runbook = (alert: string) => `README.md#${alert.toLowerCase()}`;

export function buildAlertRules(args: RulesArgs): RuleGroup[] {
  const { name, settings: s } = args;
  const sel = (extra = "") => `{namespace="${s.namespace}",${INSTANCE_TARGET_LABEL}="${name}"${extra}}`;
  const by = `namespace, ${INSTANCE_TARGET_LABEL}`;
  const who = `${s.namespace}/${name}`;
  const rule = (
    alert: string,
    expr: string,
    forDuration: string | undefined,
    severity: AlertRule["labels"]["severity"],
    summary: string,
    description: string,
  ): AlertRule => ({
    alert,
    expr,
    ...(forDuration ? { for: forDuration } : {}),
    labels: { severity },
    annotations: { summary, description, runbook: runbook(alert) },
  });
  const backupRules = (): AlertRule[] => {
    const backup = `${BACKUP_METRICS.lastComplete.name}${sel()}`;
    const archive = `${BACKUP_METRICS.recoveryPoint.name}${sel()}`;
    const seconds = backupMaxAgeSeconds(s);
    const maxAge = duration(seconds);
    const why =
      s.backupMaxAgeHours !== undefined ? "backupMaxAgeHours" : `two periods of backupSchedule "${s.backupSchedule}"`;
    return [
      rule(
        "MysqlHaBackupTooOld",
        `time() - max by (${by}) (${backup}) > ${seconds}`,
        "5m",
        "warning",
        `${who}: the newest complete base backup is older than ${maxAge}`,
        `The newest base backup with its manifest started more than ${maxAge} (${why}) ago: scheduled backups fail or do not run, and a restore would replay ever more binlogs.`,
      ),
      rule(
        "MysqlHaBackupMissing",
        `absent(${backup})`,
        maxAge,
        "warning",
        `${who}: no complete base backup for ${maxAge}`,
        `No binlog archiver has reported a complete base backup for ${maxAge} (${why}): none was ever made, S3 cannot be listed, or the archivers are not scraped.`,
      ),
      rule(
        "MysqlHaBinlogArchiveBehind",
        `time() - max by (${by}, pod) (${archive}) > ${ARCHIVE_MAX_DELAY_SECONDS}`,
        "1m",
        "critical",
        `${who}: the binlog archive of {{ $labels.pod }} is more than ${ARCHIVE_MAX_DELAY_SECONDS} s behind`,
        `Writes {{ $labels.pod }} acknowledged more than ${ARCHIVE_MAX_DELAY_SECONDS} s ago may not be in S3 yet: its binlog archiver cannot reach its server or S3, or it stopped. A point-in-time restore would lose them.`,
      ),
      rule(
        "MysqlHaBinlogArchiveDown",
        `absent(${archive})`,
        "15m",
        "critical",
        `${who}: no binlog archiver reports a recovery point`,
        "No binlog archiver has reported a recovery point for 15 minutes: the archivers do not run (rclone missing from backupImage?), archived nothing yet, or are not scraped.",
      ),
    ];
  };
  const rules: AlertRule[] = [
    rule(
      "MysqlHaPrimaryMissing",
      `max by (${by}) (${AGENT_METRICS.memberIsPrimary.name}${sel()}) < 1`,
      "1m",
      "critical",
      `${who}: no writable primary`,
      "No agent has seen a single writable member for 1 minute: writes fail. The agent fails a dead primary over within seconds, so it could not or may not (refused, cooldown, split brain, no majority).",
    ),
    rule(
      "MysqlHaReplicaLagging",
      `max by (${by}, member) (${AGENT_METRICS.replicaLag.name}${sel()}) > ${s.readMaxLagSeconds}`,
      "2m",
      "warning",
      `${who}: member {{ $labels.member }} lags more than ${s.readMaxLagSeconds} s`,
      `Member {{ $labels.member }} has lagged more than readMaxLagSeconds (${s.readMaxLagSeconds} s) for 2 minutes: it left the read Service, and a failover to it would wait for its relay log.`,
    ),
    rule(
      "MysqlHaErrantTransactions",
      `max by (${by}, member) (${AGENT_METRICS.errant.name}${sel()}) > 0`,
      "1m",
      "critical",
      `${who}: member {{ $labels.member }} has errant transactions`,
      "Member {{ $labels.member }} holds transactions the primary does not have: it has diverged. The agent refuses to promote it and `pulumi up` will not attach it until it is re-seeded.",
    ),
    ...(s.semiSync
      ? [
          rule(
            "MysqlHaSemiSyncOff",
            `max by (${by}) (${AGENT_METRICS.semiSyncOn.name}${sel()}) < 1`,
            "1m",
            "critical",
            `${who}: the primary fell back to asynchronous replication`,
            "The primary has not waited for a replica's acknowledgement for 1 minute (no semi-sync replica connected within semiSyncTimeoutMs): a failover now may lose acknowledged writes.",
          ),
        ]
      : []),
    rule(
      "MysqlHaFailover",
      `sum by (${by}) (increase(${AGENT_METRICS.failovers.name}${sel(',result="success"')}[15m])) > 0`,
      undefined,
      "warning",
      `${who}: the agent failed over`,
      "The failover agent promoted a replica within the last 15 minutes. The old primary is fenced when it returns and is not re-attached.",
    ),
    rule(
      "MysqlHaFailoverFailed",
      `sum by (${by}) (increase(${AGENT_METRICS.failovers.name}${sel(',result=~"refused|error"')}[15m])) > 0`,
      undefined,
      "critical",
      `${who}: an automatic failover was refused or failed`,
      "The failover agent found the primary failed but could not promote a replica (a safety rule refused it, or it failed): the database may have no writable primary.",
    ),
    rule(
      "MysqlHaAgentNoLeader",
      `max by (${by}) (${AGENT_METRICS.isLeader.name}${sel()}) < 1`,
      "1m",
      "critical",
      `${who}: no failover agent holds the Lease`,
      "Agents run but none has held the Lease for 1 minute: nobody fails over between `pulumi up` runs.",
    ),
    rule(
      "MysqlHaAgentDown",
      `absent(${AGENT_METRICS.isLeader.name}${sel()})`,
      "2m",
      "critical",
      `${who}: no failover agent is scraped`,
      "No failover agent has reported metrics for 2 minutes: nobody fails over between `pulumi up` runs, and the other alerts are blind.",
    ),
    // The archivers serve these (a member pod each; every one sees the same bucket, hence max for the backup).
    ...(s.backupEnabled && s.binlogArchive ? backupRules() : []),
  ];
  return [{ name: `mysql-ha.${s.namespace}.${name}`, rules }];
}
