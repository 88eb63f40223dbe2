/**
 * The alerts on the agent's topology metrics (components/agent/metrics.ts), as Prometheus rule groups: pure, so the
 * PrometheusRule carries them and `promtool test rules` tests exactly them. Series are picked by the labels the
 * PodMonitors give every target (namespace, and app.kubernetes.io/instance as app_kubernetes_io_instance), so two
 * stacks never see each other's. Both agent pods export the same topology: every expression aggregates with max.
 * Each alert's runbook is the README section its anchor names.
 */
import type { Settings } from "../config";

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
  settings: Pick<Settings, "namespace" | "readMaxLagSeconds" | "semiSync">;
}

/** Target label the PodMonitors copy from the pods' app.kubernetes.io/instance (Prometheus' label name rules). */
export const INSTANCE_TARGET_LABEL = "app_kubernetes_io_instance";

/** Where an alert's runbook is: its heading in the README (GitHub's anchor: the lower-cased name). */
export const runbook = (alert: string) => `README.md#${alert.toLowerCase()}`;

export function buildAlertRules(args: RulesArgs): RuleGroup[] {
  const { name, settings: s } = args;
  const sel = (extra = "") => `{namespace="${s.namespace}",${INSTANCE_TARGET_LABEL}="${name}"${extra}}`;
  const by = `namespace, ${INSTANCE_TARGET_LABEL}`;
  const who = `${s.namespace}/${name}`;
  const rule = (alert: string, expr: string, forDuration: string | undefined, severity: AlertRule["labels"]["severity"], summary: string, description: string): AlertRule => ({
    alert, expr, ...(forDuration ? { for: forDuration } : {}), labels: { severity }, annotations: { summary, description, runbook: runbook(alert) },
  });
  const rules: AlertRule[] = [
    rule("MysqlHaPrimaryMissing", `max by (${by}) (mysql_ha_member_is_primary${sel()}) < 1`, "1m", "critical",
      `${who}: no writable primary`,
      "No agent has seen a single writable member for 1 minute: writes fail. The agent fails a dead primary over within seconds, so it could not or may not (refused, cooldown, split brain, no majority)."),
    rule("MysqlHaReplicaLagging", `max by (${by}, member) (mysql_ha_replica_lag_seconds${sel()}) > ${s.readMaxLagSeconds}`, "2m", "warning",
      `${who}: member {{ $labels.member }} lags more than ${s.readMaxLagSeconds} s`,
      `Member {{ $labels.member }} has lagged more than readMaxLagSeconds (${s.readMaxLagSeconds} s) for 2 minutes: it left the read Service, and a failover to it would wait for its relay log.`),
    rule("MysqlHaErrantTransactions", `max by (${by}, member) (mysql_ha_member_errant_transactions${sel()}) > 0`, "1m", "critical",
      `${who}: member {{ $labels.member }} has errant transactions`,
      "Member {{ $labels.member }} holds transactions the primary does not have: it has diverged. The agent refuses to promote it and `pulumi up` will not attach it until it is re-seeded."),
    ...(s.semiSync
      ? [rule("MysqlHaSemiSyncOff", `max by (${by}) (mysql_ha_semi_sync_primary_on${sel()}) < 1`, "1m", "critical",
          `${who}: the primary fell back to asynchronous replication`,
          "The primary has not waited for a replica's acknowledgement for 1 minute (no semi-sync replica connected within semiSyncTimeoutMs): a failover now may lose acknowledged writes.")]
      : []),
    rule("MysqlHaFailover", `sum by (${by}) (increase(mysql_ha_failovers_total${sel(',result="success"')}[15m])) > 0`, undefined, "warning",
      `${who}: the agent failed over`,
      "The failover agent promoted a replica within the last 15 minutes. The old primary is fenced when it returns and is not re-attached."),
    rule("MysqlHaFailoverFailed", `sum by (${by}) (increase(mysql_ha_failovers_total${sel(',result=~"refused|error"')}[15m])) > 0`, undefined, "critical",
      `${who}: an automatic failover was refused or failed`,
      "The failover agent found the primary failed but could not promote a replica (a safety rule refused it, or it failed): the database may have no writable primary."),
    rule("MysqlHaAgentNoLeader", `max by (${by}) (mysql_ha_agent_is_leader${sel()}) < 1`, "1m", "critical",
      `${who}: no failover agent holds the Lease`,
      "Agents run but none has held the Lease for 1 minute: nobody fails over between `pulumi up` runs."),
    rule("MysqlHaAgentDown", `absent(mysql_ha_agent_is_leader${sel()})`, "2m", "critical",
      `${who}: no failover agent is scraped`,
      "No failover agent has reported metrics for 2 minutes: nobody fails over between `pulumi up` runs, and the other alerts are blind."),
  ];
  return [{ name: `mysql-ha.${s.namespace}.${name}`, rules }];
}
