/**
 * The alert rules with the real Prometheus rule engine: `promtool check rules` on the rule file the PrometheusRule
 * carries, and `promtool test rules` for every alert, once where it fires and once where it must stay quiet (for
 * each, series as two agent pods, or the member pods' archivers, export them, plus another stack's series that must
 * never count).
 */
import * as yaml from "js-yaml";
import {
  AlertRule,
  ARCHIVE_MAX_DELAY_SECONDS,
  buildAlertRules,
  INSTANCE_TARGET_LABEL,
  RuleGroup,
  RulesArgs,
} from "../../components/monitoring/rules";
import { inTempDir, promtool } from "./promtool";

const NS = "db";
const NAME = "mysql";
// Backups every hour: the backup age threshold is two of its periods, 2 h.
const SETTINGS: RulesArgs["settings"] = {
  namespace: NS,
  readMaxLagSeconds: 10,
  semiSync: true,
  backupEnabled: true,
  binlogArchive: true,
  backupSchedule: "0 * * * *",
};
const GROUPS = buildAlertRules({ name: NAME, settings: SETTINGS });
const RULES = GROUPS[0].rules;
const STACK = { namespace: NS, [INSTANCE_TARGET_LABEL]: NAME };

/** A series of this stack (or `instance`'s) as the agent pod `pod` exports it. */
function series(metric: string, labels: Record<string, string>, values: string, instance = NAME) {
  const all = { namespace: NS, [INSTANCE_TARGET_LABEL]: instance, ...labels };
  return {
    series: `${metric}{${Object.entries(all)
      .map(([k, v]) => `${k}="${v}"`)
      .join(",")}}`,
    values,
  };
}

/** The alert as promtool must report it: the stack's labels, severity, annotations expanded. */
function expected(alert: string, labels: Record<string, string> = {}) {
  const rule = RULES.find((r) => r.alert === alert)!;
  const expand = (text: string) => text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, label) => labels[label] ?? "");
  return {
    exp_labels: { ...STACK, ...labels, severity: rule.labels.severity },
    exp_annotations: Object.fromEntries(Object.entries(rule.annotations).map(([k, v]) => [k, expand(v)])),
  };
}

interface Case {
  alert: string;
  /** Between input samples; 1m unless said. */
  interval?: string;
  input: Array<{ series: string; values: string }>;
  /** eval time -> the alerts expected then ([] = quiet). */
  at: Array<[string, Array<ReturnType<typeof expected>>]>;
}

const A = { pod: "mysql-agent-a" };
const B = { pod: "mysql-agent-b" };

/** For every alert: fires when it should, quiet before and where it should not. */
const CASES: Case[] = [
  {
    alert: "MysqlHaPrimaryMissing",
    input: [
      series("mysql_ha_member_is_primary", { ...A, member: "0" }, "1 1 0x8"),
      series("mysql_ha_member_is_primary", { ...B, member: "0" }, "1 1 0x8"),
      series("mysql_ha_member_is_primary", { ...A, member: "1" }, "0x10"),
      // Another stack without a primary all along: not ours.
      series("mysql_ha_member_is_primary", { ...A, member: "0" }, "0x10", "other"),
    ],
    at: [
      ["2m", []],
      ["4m", [expected("MysqlHaPrimaryMissing")]],
    ],
  },
  {
    alert: "MysqlHaPrimaryMissing",
    // One agent cut off from the primary while the other sees it: not missing.
    input: [
      series("mysql_ha_member_is_primary", { ...A, member: "0" }, "1 1 0x8"),
      series("mysql_ha_member_is_primary", { ...B, member: "0" }, "1x10"),
    ],
    at: [["6m", []]],
  },
  {
    alert: "MysqlHaReplicaLagging",
    input: [
      series("mysql_ha_replica_lag_seconds", { ...A, member: "1" }, "0 5 15x8"),
      series("mysql_ha_replica_lag_seconds", { ...B, member: "1" }, "0 5 15x8"),
      // Exactly readMaxLagSeconds is within the limit.
      series("mysql_ha_replica_lag_seconds", { ...A, member: "2" }, "10x10"),
      series("mysql_ha_replica_lag_seconds", { ...A, member: "1" }, "500x10", "other"),
    ],
    at: [
      ["3m", []],
      ["5m", [expected("MysqlHaReplicaLagging", { member: "1" })]],
    ],
  },
  {
    alert: "MysqlHaErrantTransactions",
    input: [
      series("mysql_ha_member_errant_transactions", { ...A, member: "0" }, "0x10"),
      series("mysql_ha_member_errant_transactions", { ...A, member: "2" }, "0 0 1x8"),
      series("mysql_ha_member_errant_transactions", { ...B, member: "2" }, "0 0 1x8"),
    ],
    at: [
      ["2m", []],
      ["4m", [expected("MysqlHaErrantTransactions", { member: "2" })]],
    ],
  },
  {
    alert: "MysqlHaSemiSyncOff",
    input: [
      series("mysql_ha_semi_sync_primary_on", A, "1 1 0x8"),
      series("mysql_ha_semi_sync_primary_on", B, "1 1 0x8"),
      series("mysql_ha_semi_sync_primary_on", A, "0x10", "other"),
    ],
    at: [
      ["2m", []],
      ["4m", [expected("MysqlHaSemiSyncOff")]],
    ],
  },
  {
    alert: "MysqlHaFailover",
    input: [
      series("mysql_ha_failovers_total", { ...A, result: "success" }, "0 0 1x30"),
      series("mysql_ha_failovers_total", { ...B, result: "success" }, "0x32"),
      series("mysql_ha_failovers_total", { ...A, result: "refused" }, "0x32"),
    ],
    // Fires once the counter rose; quiet before, and once the rise is older than the 15-minute window.
    at: [
      ["1m", []],
      ["3m", [expected("MysqlHaFailover")]],
      ["25m", []],
    ],
  },
  {
    alert: "MysqlHaFailoverFailed",
    input: [
      series("mysql_ha_failovers_total", { ...A, result: "success" }, "0 0 1x10"),
      series("mysql_ha_failovers_total", { ...A, result: "refused" }, "0 0 0 0 1x8"),
      series("mysql_ha_failovers_total", { ...A, result: "error" }, "0x12"),
    ],
    // A successful failover alone is no failed one.
    at: [
      ["3m", []],
      ["5m", [expected("MysqlHaFailoverFailed")]],
    ],
  },
  {
    alert: "MysqlHaAgentNoLeader",
    input: [series("mysql_ha_agent_is_leader", A, "1 1 0x8"), series("mysql_ha_agent_is_leader", B, "0x10")],
    at: [
      ["2m", []],
      ["4m", [expected("MysqlHaAgentNoLeader")]],
    ],
  },
  {
    alert: "MysqlHaAgentNoLeader",
    // The Lease moved from one agent to the other: always a leader.
    input: [series("mysql_ha_agent_is_leader", A, "1 1 0x8"), series("mysql_ha_agent_is_leader", B, "0 0 1x8")],
    at: [["6m", []]],
  },
  {
    alert: "MysqlHaAgentDown",
    // No agent of this stack is scraped (only another stack's is).
    input: [series("mysql_ha_agent_is_leader", A, "1x10", "other")],
    at: [
      ["1m", []],
      ["3m", [expected("MysqlHaAgentDown")]],
    ],
  },
  {
    alert: "MysqlHaAgentDown",
    input: [series("mysql_ha_agent_is_leader", B, "0x10")],
    at: [["5m", []]],
  },
  {
    alert: "MysqlHaBackupTooOld",
    interval: "5m",
    // The archivers of two members report a backup made at time 0, and none after it (threshold 2 h: two hourly periods).
    input: [
      series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-0" }, "0x40"),
      series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-1" }, "0x40"),
      series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-0" }, "0x40", "other"),
    ],
    at: [
      ["110m", []],
      ["150m", [expected("MysqlHaBackupTooOld")]],
    ],
  },
  {
    alert: "MysqlHaBackupTooOld",
    interval: "5m",
    // A new backup at 90 minutes (one archiver has seen it, the other not yet); another stack's stay old.
    input: [
      series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-0" }, "0x17 5400x23"),
      series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-1" }, "0x40"),
      series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-0" }, "0x40", "other"),
    ],
    at: [["150m", []]],
  },
  {
    alert: "MysqlHaBackupMissing",
    interval: "5m",
    // No complete backup reported at all (only another stack's): fires after the threshold, 2 h.
    input: [series("mysql_ha_backup_last_complete_timestamp_seconds", { pod: "mysql-0" }, "0x40", "other")],
    at: [
      ["60m", []],
      ["130m", [expected("MysqlHaBackupMissing")]],
    ],
  },
  {
    alert: "MysqlHaBinlogArchiveBehind",
    // mysql-0's archive keeps up; mysql-1's recovery point stops at 300 s; another stack's stopped at once.
    input: [
      series("mysql_ha_binlog_archive_recovery_point_timestamp_seconds", { pod: "mysql-0" }, "0+60x20"),
      series("mysql_ha_binlog_archive_recovery_point_timestamp_seconds", { pod: "mysql-1" }, "0+60x5 300x15"),
      series("mysql_ha_binlog_archive_recovery_point_timestamp_seconds", { pod: "mysql-0" }, "0x20", "other"),
    ],
    at: [
      ["9m", []],
      ["14m", [expected("MysqlHaBinlogArchiveBehind", { pod: "mysql-1" })]],
    ],
  },
  {
    alert: "MysqlHaBinlogArchiveBehind",
    // Both archives keep up, one a scrape behind the other.
    input: [
      series("mysql_ha_binlog_archive_recovery_point_timestamp_seconds", { pod: "mysql-0" }, "0+60x20"),
      series("mysql_ha_binlog_archive_recovery_point_timestamp_seconds", { pod: "mysql-1" }, "0 0+60x19"),
    ],
    at: [["19m", []]],
  },
  {
    alert: "MysqlHaBinlogArchiveDown",
    // No archiver of this stack reports a recovery point (only another stack's does).
    input: [series("mysql_ha_binlog_archive_recovery_point_timestamp_seconds", { pod: "mysql-0" }, "0+60x20", "other")],
    at: [
      ["10m", []],
      ["16m", [expected("MysqlHaBinlogArchiveDown")]],
    ],
  },
];

const rulesFile = (groups: RuleGroup[]) => yaml.dump({ groups });

function testFile(cases: Case[]): string {
  return yaml.dump({
    rule_files: ["rules.yaml"],
    evaluation_interval: "1m",
    tests: cases.map((c) => ({
      interval: c.interval ?? "1m",
      input_series: c.input,
      alert_rule_test: c.at.map(([evalTime, alerts]) => ({
        eval_time: evalTime,
        alertname: c.alert,
        exp_alerts: alerts,
      })),
    })),
  });
}

describe("alert rules (promtool)", () => {
  it("the rule file passes promtool check rules; a broken expression does not (the check can fail)", async () => {
    const ok = await inTempDir({ "rules.yaml": rulesFile(GROUPS) }, (dir) =>
      promtool(["check", "rules", `${dir}/rules.yaml`]),
    );
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    expect(ok.stdout).toMatch(new RegExp(`SUCCESS: ${RULES.length} rules found`));
    const broken: RuleGroup[] = [{ name: "g", rules: [{ ...RULES[0], expr: "max by (member (mysql_ha_member_up" }] }];
    const bad = await inTempDir({ "rules.yaml": rulesFile(broken) }, (dir) =>
      promtool(["check", "rules", `${dir}/rules.yaml`]),
    );
    expect(bad.code).not.toBe(0);
  });

  it("every alert has a case where it fires and one where it stays quiet", () => {
    for (const rule of RULES) {
      const cases = CASES.filter((c) => c.alert === rule.alert);
      expect([rule.alert, cases.some((c) => c.at.some(([, a]) => a.length > 0))]).toEqual([rule.alert, true]);
      expect([rule.alert, cases.some((c) => c.at.some(([, a]) => a.length === 0))]).toEqual([rule.alert, true]);
    }
  });

  it("promtool test rules: each alert fires when it should and stays quiet when it should not", async () => {
    const r = await inTempDir({ "rules.yaml": rulesFile(GROUPS), "test.yaml": testFile(CASES) }, (dir) =>
      promtool(["test", "rules", `${dir}/test.yaml`]),
    );
    expect([r.code, r.stdout + r.stderr]).toEqual([0, expect.stringContaining("SUCCESS")]);
  });

  it("promtool test rules fails when an expectation is wrong (the test can fail)", async () => {
    const wrong: Case = { ...CASES[0], at: [["2m", [expected("MysqlHaPrimaryMissing")]]] };
    const r = await inTempDir({ "rules.yaml": rulesFile(GROUPS), "test.yaml": testFile([wrong]) }, (dir) =>
      promtool(["test", "rules", `${dir}/test.yaml`]),
    );
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/MysqlHaPrimaryMissing/);
  });

  it("the backup age threshold is two periods of backupSchedule, or backupMaxAgeHours when set; the backup and archive alerts need backups and the binlog archive", () => {
    const rules = (over: Partial<RulesArgs["settings"]>) =>
      buildAlertRules({ name: NAME, settings: { ...SETTINGS, ...over } })[0].rules;
    const threshold = (over: Partial<RulesArgs["settings"]>) =>
      rules(over)
        .filter((r) => /^MysqlHaBackup/.test(r.alert))
        .map((r) => [r.alert, r.expr.match(/> (\d+)$/)?.[1], r.for]);
    expect(threshold({ backupSchedule: "0 3 * * *" })).toEqual([
      ["MysqlHaBackupTooOld", "172800", "5m"],
      ["MysqlHaBackupMissing", undefined, "48h"],
    ]);
    expect(threshold({ backupSchedule: "*/20 * * * *" })).toEqual([
      ["MysqlHaBackupTooOld", "2400", "5m"],
      ["MysqlHaBackupMissing", undefined, "40m"],
    ]);
    // Weekly on Sunday; Mondays and Wednesdays wait five days from Wednesday to Monday.
    expect(threshold({ backupSchedule: "0 2 * * 0" })[1][2]).toBe("336h");
    expect(threshold({ backupSchedule: "0 3 * * 1,3" })[1][2]).toBe("240h");
    expect(threshold({ backupSchedule: "0 3 * * 1,3", backupMaxAgeHours: 7 })).toEqual([
      ["MysqlHaBackupTooOld", "25200", "5m"],
      ["MysqlHaBackupMissing", undefined, "7h"],
    ]);
    expect(
      rules({ backupSchedule: "0 3 * * *" }).find((r) => r.alert === "MysqlHaBackupTooOld")!.annotations.description,
    ).toMatch(/two periods of backupSchedule "0 3 \* \* \*"/);
    expect(rules({}).find((r) => r.alert === "MysqlHaBinlogArchiveBehind")!.expr).toMatch(
      new RegExp(`> ${ARCHIVE_MAX_DELAY_SECONDS}$`),
    );
    for (const over of [{ backupEnabled: false }, { binlogArchive: false }]) {
      expect(
        rules(over)
          .map((r) => r.alert)
          .filter((a) => /Backup|Archive/.test(a)),
      ).toEqual([]);
    }
  });

  it("the lag threshold is readMaxLagSeconds; without semi-sync there is no semi-sync alert; every alert has severity, summary, description and a runbook", () => {
    const lag = (n: number) =>
      buildAlertRules({ name: NAME, settings: { ...SETTINGS, readMaxLagSeconds: n } })[0].rules.find(
        (r) => r.alert === "MysqlHaReplicaLagging",
      )!;
    expect(lag(42).expr).toMatch(/> 42$/);
    const alerts = (semiSync: boolean) =>
      buildAlertRules({ name: NAME, settings: { ...SETTINGS, semiSync } })[0].rules.map((r) => r.alert);
    expect(alerts(true)).toContain("MysqlHaSemiSyncOff");
    expect(alerts(false)).not.toContain("MysqlHaSemiSyncOff");
    for (const rule of RULES as AlertRule[]) {
      expect(["critical", "warning"]).toContain(rule.labels.severity);
      expect(rule.annotations.summary.length * rule.annotations.description.length).toBeGreaterThan(0);
      expect(rule.annotations.runbook).toBe(`README.md#${rule.alert.toLowerCase()}`);
    }
  });
});
