/**
 * The Grafana dashboard: every panel's expression parses with the real Prometheus parser (`promtool check rules` on a
 * rule file with each expression as a recording rule), and selects only metrics the agent or the archivers export,
 * and only this stack's series.
 */
import * as yaml from "js-yaml";
import { AGENT_METRICS } from "../../components/agent/metrics";
import { BACKUP_METRICS } from "../../components/backup/metrics";
import {
  buildDashboard,
  buildDashboardConfigMap,
  DashboardArgs,
  dashboardPanels,
} from "../../components/monitoring/dashboard";
import { inTempDir, promtool } from "./promtool";

const ARGS: DashboardArgs = {
  name: "mysql",
  settings: { namespace: "db", backupEnabled: true, binlogArchive: true, monitoringLabels: {} },
};
const EXPORTED = new Set<string>(
  [...Object.values(AGENT_METRICS), ...Object.values(BACKUP_METRICS)].map((m) => m.name),
);

const expressions = (args: DashboardArgs) => buildDashboard(args).panels.flatMap((p) => p.targets.map((t) => t.expr));

/** Every expression as a recording rule, through `promtool check rules`. */
function checkExpressions(exprs: string[]) {
  const rules = exprs.map((expr, i) => ({ record: `mysql_ha_dashboard:panel_${i}`, expr }));
  return inTempDir({ "rules.yaml": yaml.dump({ groups: [{ name: "dashboard", rules }] }) }, (dir) =>
    promtool(["check", "rules", `${dir}/rules.yaml`]),
  );
}

/** The metric names an expression selects (each selector is `name{...}`). */
const selected = (expr: string) => [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{/g)].map((m) => m[1]);

describe("Grafana dashboard", () => {
  it("every panel expression parses (promtool check rules); a broken one does not (the check can fail)", async () => {
    const exprs = expressions(ARGS);
    const ok = await checkExpressions(exprs);
    expect([ok.code, ok.stderr]).toEqual([0, ""]);
    expect(ok.stdout).toMatch(new RegExp(`SUCCESS: ${exprs.length} rules found`));
    const bad = await checkExpressions([...exprs, "max by (member (mysql_ha_member_up"]);
    expect(bad.code).not.toBe(0);
  });

  it("references only exported metrics, each selected for this stack only; every exported metric is on it", () => {
    const exprs = expressions(ARGS);
    const names = exprs.flatMap(selected);
    expect(exprs.every((e) => selected(e).length > 0)).toBe(true);
    expect(names.filter((n) => !EXPORTED.has(n))).toEqual([]);
    expect([...EXPORTED].filter((n) => !names.includes(n))).toEqual([]);
    for (const expr of exprs) {
      for (const selector of expr.match(/\{[^}]*\}/g)!)
        expect(selector).toMatch(/^\{namespace="db",app_kubernetes_io_instance="mysql"[,}]/);
    }
    // The check itself: a name nothing exports is caught.
    expect(selected('max(mysql_ha_backup_age_seconds{namespace="db"})').filter((n) => !EXPORTED.has(n))).toEqual([
      "mysql_ha_backup_age_seconds",
    ]);
  });

  it("the backup and archive panels only with backups and the binlog archive; panels tile a two-column grid; JSON in the ConfigMap", () => {
    const titles = (settings: Partial<DashboardArgs["settings"]>) =>
      dashboardPanels({ ...ARGS, settings: { ...ARGS.settings, ...settings } }).map((p) => p.title);
    expect(titles({})).toEqual(expect.arrayContaining(["Backup age", "Binlog archive delay"]));
    for (const off of [{ backupEnabled: false }, { binlogArchive: false }]) {
      expect(titles(off).filter((t) => /Backup|archive/.test(t))).toEqual([]);
    }
    const dashboard = buildDashboard(ARGS);
    const cells = dashboard.panels.map((p) => `${p.gridPos.x},${p.gridPos.y}`);
    expect(new Set(cells).size).toBe(cells.length);
    expect(dashboard.uid.length).toBeLessThanOrEqual(40);
    const configMap = buildDashboardConfigMap(ARGS);
    expect(configMap.metadata).toMatchObject({
      name: "mysql-dashboard",
      namespace: "db",
      labels: { grafana_dashboard: "1" },
    });
    expect(JSON.parse(Object.values(configMap.data as Record<string, string>)[0])).toEqual(dashboard);
  });
});
