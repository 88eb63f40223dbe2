/**
 * End to end with a real Prometheus (Debian `prometheus`): it scrapes the failover agent's /metrics (the agent a
 * child process, as in the cluster) and a real mysqld_exporter (Debian `prometheus-mysqld-exporter`, as the
 * `mysql_ha_metrics` account) per member of a real local semi-sync topology, with the target labels the PodMonitors
 * give (namespace, app_kubernetes_io_instance, pod), and evaluates the rule groups of the program's PrometheusRule.
 * Through its HTTP API: every rule is loaded and healthy, every alert and dashboard expression evaluates, the key ones
 * return the topology; after kill -9 of the primary and the agent's failover the failover counter rises and
 * MysqlHaFailover (no `for`) fires, and nothing else does.
 *
 * Not covered here: the binlog archivers' metrics (no archiver runs), so the backup and archive alerts and panels are
 * evaluated without series (their absent() alerts pend, with `for` of 15 m and 48 h).
 */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as yaml from "js-yaml";
import { ACCOUNTS } from "../../components/kubernetes/secret";
import { dashboardPanels } from "../../components/monitoring/dashboard";
import { buildPrometheusRule, MonitoringArgs } from "../../components/monitoring/prometheus-operator";
import { INSTANCE_TARGET_LABEL, RuleGroup } from "../../components/monitoring/rules";
import { freePort, sleep } from "../../local/mariadbd";
import { ChaosTopology, stopChaosTopology } from "../chaos/support";
import { AgentChild, agentArgs, spawnAgent, startAgentMembers } from "../agent/support";

const NS = "db";
const NAME = "mysql";
const STACK = { namespace: NS, [INSTANCE_TARGET_LABEL]: NAME };
const SEL = `{namespace="${NS}",${INSTANCE_TARGET_LABEL}="${NAME}"}`;
/** Every option that adds rules or panels is on, so every alert and every panel is evaluated. */
const ARGS: MonitoringArgs = {
  name: NAME,
  settings: {
    namespace: NS,
    readMaxLagSeconds: 10,
    semiSync: true,
    backupEnabled: true,
    binlogArchive: true,
    backupSchedule: "0 3 * * *",
    monitoringLabels: {},
  },
};
const GROUPS = buildPrometheusRule(ARGS).spec.groups as RuleGroup[];
const ALERTS = GROUPS.flatMap((g) => g.rules);
const PANELS = dashboardPanels(ARGS);
const METRICS_ACCOUNT = { role: "metrics" as const, user: ACCOUNTS.metrics.user, password: "metricsE2ePw42" };
/** Alerts on the archivers' series, which nobody exports here: absent() makes them pend. */
const ARCHIVE_ABSENT = ["MysqlHaBackupMissing", "MysqlHaBinlogArchiveDown"];

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}
interface ActiveAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

/** Polls `fn` every 250 ms until `done` holds or `ms` passed; returns the last value either way (the test asserts on it). */
async function until<T>(ms: number, fn: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined as T);
    if ((v !== undefined && done(v)) || Date.now() > end) return v;
    await sleep(250);
  }
}

describe("Prometheus end to end: agent and mysqld_exporter scraped, rules and dashboard evaluated", () => {
  let t: ChaosTopology | undefined;
  let agent: AgentChild | undefined;
  const children: ChildProcess[] = [];
  let dir: string | undefined;
  let promPort = 0;
  let promLog = "";

  /** GET /api/v1/<what>; throws with Prometheus' error on a failed request. */
  async function api<T>(what: string, params: Record<string, string> = {}): Promise<T> {
    const res = await fetch(`http://127.0.0.1:${promPort}/api/v1/${what}?${new URLSearchParams(params)}`);
    const body = (await res.json()) as { status: string; data: T; errorType?: string; error?: string };
    if (body.status !== "success")
      throw new Error(`${what} ${JSON.stringify(params)}: ${body.errorType}: ${body.error}`);
    return body.data;
  }
  const query = async (expr: string) =>
    (await api<{ resultType: string; result: Sample[] }>("query", { query: expr })).result;
  const byLabel = (samples: Sample[], label: string) =>
    Object.fromEntries(samples.map((s) => [s.metric[label], Number(s.value[1])]));
  const alerts = async () => (await api<{ alerts: ActiveAlert[] }>("alerts")).alerts;
  const names = (list: ActiveAlert[], state: ActiveAlert["state"]) =>
    list
      .filter((a) => a.state === state)
      .map((a) => a.labels.alertname)
      .sort();

  function start(command: string, args: string[]): ChildProcess {
    const child = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
    child.stderr!.on("data", (d) => (promLog = (promLog + d).slice(-20000)));
    children.push(child);
    return child;
  }

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mysql-ha-prometheus-e2e-"));
    t = await startAgentMembers({ serverIdBase: 2700, settings: { accounts: [METRICS_ACCOUNT] } });
    const servers = t.servers;

    const agentPort = await freePort();
    agent = spawnAgent(["--metrics-port", String(agentPort), ...agentArgs(servers)]);
    await agent.events.wait("healthy", (e) => e.event === "healthy" && e.primary === 0, 20000);

    // One exporter per member, as the sidecar: its own server, the metrics account from an option file.
    const exporterPorts: number[] = [];
    for (const [i, server] of servers.entries()) {
      const cnf = path.join(dir, `my-${i}.cnf`);
      fs.writeFileSync(
        cnf,
        `[client]\nuser=${METRICS_ACCOUNT.user}\npassword=${METRICS_ACCOUNT.password}\nhost=${server.host}\nport=${server.port}\n`,
        { mode: 0o600 },
      );
      const port = await freePort();
      exporterPorts.push(port);
      start("prometheus-mysqld-exporter", [
        `--config.my-cnf=${cnf}`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--collect.slave_status",
      ]);
    }

    // The targets carry what the PodMonitors give every series: namespace, pod, and app.kubernetes.io/instance.
    fs.writeFileSync(path.join(dir, "rules.yaml"), yaml.dump({ groups: GROUPS }));
    fs.writeFileSync(
      path.join(dir, "prometheus.yml"),
      yaml.dump({
        global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
        rule_files: [path.join(dir, "rules.yaml")],
        scrape_configs: [
          {
            job_name: "agent",
            static_configs: [{ targets: [`127.0.0.1:${agentPort}`], labels: { ...STACK, pod: `${NAME}-agent-0` } }],
          },
          {
            job_name: "members",
            static_configs: exporterPorts.map((port, i) => ({
              targets: [`127.0.0.1:${port}`],
              labels: { ...STACK, pod: `${NAME}-${i}` },
            })),
          },
        ],
      }),
    );
    promPort = await freePort();
    start("/usr/bin/prometheus", [
      `--config.file=${path.join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${path.join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      "--log.level=warn",
    ]);
    const ready = await until(
      20000,
      async () => (await fetch(`http://127.0.0.1:${promPort}/-/ready`)).status,
      (s) => s === 200,
    );
    if (ready !== 200) throw new Error(`Prometheus not ready within 20 s: ${promLog}`);
  }, 90000);

  afterAll(async () => {
    await agent?.stop();
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const timer = setTimeout(() => c.kill("SIGKILL"), 10000);
            c.once("exit", () => (clearTimeout(timer), resolve()));
            c.kill("SIGTERM");
          }),
      ),
    );
    await stopChaosTopology(t);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  }, 60000);

  it("loads every alert healthy; every alert and dashboard expression evaluates; the topology and the exporters are seen", async () => {
    // Both sources scraped: three members up in the agent's view, three exporters connected as the metrics account.
    const up = await until(
      15000,
      () => query(`mysql_ha_member_up${SEL}`),
      (r) => r.length === 3,
    );
    expect(byLabel(up, "member")).toEqual({ 0: 1, 1: 1, 2: 1 });
    const mysqlUp = await until(
      15000,
      () => query(`mysql_up${SEL}`),
      (r) => r.length === 3 && r.every((s) => s.value[1] === "1"),
    );
    expect(byLabel(mysqlUp, "pod")).toEqual({ [`${NAME}-0`]: 1, [`${NAME}-1`]: 1, [`${NAME}-2`]: 1 });
    expect(byLabel(await query(`mysql_ha_member_is_primary${SEL}`), "member")).toEqual({ 0: 1, 1: 0, 2: 0 });
    expect(byLabel(await query(`mysql_slave_status_slave_io_running${SEL}`), "pod")).toEqual({
      [`${NAME}-1`]: 1,
      [`${NAME}-2`]: 1,
    });
    expect(byLabel(await query(`mysql_exporter_last_scrape_error${SEL}`), "pod")).toEqual({
      [`${NAME}-0`]: 0,
      [`${NAME}-1`]: 0,
      [`${NAME}-2`]: 0,
    });
    expect(Number((await query(`mysql_ha_failovers_total{namespace="${NS}",result="success"}`))[0].value[1])).toBe(0);
    // increase() needs two samples in its range: a few scrapes of the agent before the expressions are evaluated.
    const scrapes = await until(
      10000,
      () => query(`count_over_time(mysql_ha_agent_is_leader${SEL}[1m])`),
      (r) => r.length === 1 && Number(r[0].value[1]) >= 3,
    );
    expect(Number(scrapes[0].value[1])).toBeGreaterThanOrEqual(3);

    // Every rule loaded from the PrometheusRule's groups, evaluated by the rule manager without error.
    type Rules = {
      groups: Array<{
        name: string;
        rules: Array<{ name: string; query: string; health: string; lastError?: string; duration?: number }>;
      }>;
    };
    const rules = await until(
      10000,
      () => api<Rules>("rules", { type: "alert" }),
      (d) => d.groups.flatMap((g) => g.rules).every((r) => r.health === "ok"),
    );
    expect(rules.groups.map((g) => g.name)).toEqual(GROUPS.map((g) => g.name));
    const loaded = rules.groups.flatMap((g) => g.rules);
    expect(loaded.map((r) => r.name)).toEqual(ALERTS.map((a) => a.alert));
    expect(loaded.filter((r) => r.health !== "ok").map((r) => `${r.name}: ${r.health} ${r.lastError}`)).toEqual([]);
    expect(ALERTS.length).toBe(12);

    // Every alert expression as an instant query: no error. Healthy, only the archivers' absent() ones have a result.
    const alertResults: Record<string, number> = {};
    for (const a of ALERTS) alertResults[a.alert] = (await query(a.expr)).length;
    expect(
      Object.entries(alertResults)
        .filter(([, n]) => n > 0)
        .map(([alert]) => alert)
        .sort(),
    ).toEqual(ARCHIVE_ABSENT);

    // Every dashboard expression: no error; a series for each panel but the last failover (none yet) and the
    // archivers' two (no archiver scraped here).
    const empty: string[] = [];
    for (const panel of PANELS) {
      for (const target of panel.targets) if ((await query(target.expr)).length === 0) empty.push(panel.title);
    }
    expect(empty).toEqual(["Last failover", "Backup age", "Binlog archive delay"]);
    expect(byLabel(await query(PANELS.find((p) => p.title === "Primary")!.targets[0].expr), "member")).toEqual({
      0: 1,
    });
    expect(byLabel(await query(PANELS.find((p) => p.title === "Replica lag")!.targets[0].expr), "member")).toEqual({
      1: 0,
      2: 0,
    });

    // Quiet: nothing fires; only the archivers' absent() alerts pend.
    const active = await until(
      5000,
      alerts,
      (l) => names(l, "pending").join() === ARCHIVE_ABSENT.join() && names(l, "firing").length === 0,
    );
    expect([names(active, "firing"), names(active, "pending")]).toEqual([[], ARCHIVE_ABSENT]);
  }, 60000);

  it("kill -9 of the primary: after the agent's failover the failover counter rises and MysqlHaFailover fires", async () => {
    const killedAt = Date.now();
    await t!.servers[0].signal("SIGKILL");
    const failover = await agent!.events.wait("failover", (e) => e.event === "failover", 20000);
    const to = failover.to as number;
    expect([1, 2]).toContain(to);
    expect(agent!.events.of("refused")).toEqual([]);

    const counter = await until(
      15000,
      () => query(`mysql_ha_failovers_total${SEL}`),
      (r) => byLabel(r, "result").success === 1,
    );
    expect(byLabel(counter, "result")).toEqual({ success: 1, refused: 0, error: 0 });

    // No `for` on MysqlHaFailover: it fires at the first evaluation that sees the increase.
    const active = await until(15000, alerts, (l) => names(l, "firing").includes("MysqlHaFailover"));
    expect(names(active, "firing")).toEqual(["MysqlHaFailover"]);
    expect(active.find((a) => a.labels.alertname === "MysqlHaFailover")!.labels).toEqual({
      alertname: "MysqlHaFailover",
      ...STACK,
      severity: "warning",
    });
    const firedAt = Date.now();

    // The new topology as Prometheus sees it: the new primary; the old one down in the agent's view and its exporter's.
    const primary = await until(
      10000,
      () => query(`mysql_ha_member_is_primary${SEL}`),
      (r) => byLabel(r, "member")[to] === 1,
    );
    expect(byLabel(primary, "member")).toEqual(Object.fromEntries([0, 1, 2].map((m) => [m, m === to ? 1 : 0])));
    expect(byLabel(await query(`mysql_ha_member_up${SEL}`), "member")).toEqual({ 0: 0, 1: 1, 2: 1 });
    const mysqlUp = await until(
      10000,
      () => query(`mysql_up${SEL}`),
      (r) => byLabel(r, "pod")[`${NAME}-0`] === 0,
    );
    expect(byLabel(mysqlUp, "pod")).toEqual({ [`${NAME}-0`]: 0, [`${NAME}-1`]: 1, [`${NAME}-2`]: 1 });
    const last = await query(PANELS.find((p) => p.title === "Last failover")!.targets[0].expr);
    expect(last).toHaveLength(1);
    expect(Number(last[0].value[1])).toBeGreaterThan(killedAt - 1000);
    expect(Number(last[0].value[1])).toBeLessThanOrEqual(firedAt);
    // The alert expressions still evaluate after the failover (the failover one now with its result).
    const errors: string[] = [];
    for (const a of ALERTS) await query(a.expr).catch((err) => errors.push(`${a.alert}: ${(err as Error).message}`));
    expect(errors).toEqual([]);
    expect((await query(ALERTS.find((a) => a.alert === "MysqlHaFailover")!.expr)).length).toBe(1);
    process.stdout.write(
      `prometheus e2e: failover to member ${to}; MysqlHaFailover firing ${firedAt - killedAt} ms after the kill\n`,
    );
  }, 60000);
});
