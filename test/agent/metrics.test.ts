/**
 * The agent's topology metrics, pure: values from topologies the engine's own analyze() derives from member statuses,
 * the text format, and the real `promtool check metrics` (format and Prometheus naming conventions) on the output.
 */
import { AgentMetricsState, agentMetrics, renderMetrics } from "../../components/agent/metrics";
import { MemberStatus, Topology } from "../../components/replication";
import { down, replicaOf, topo, writable } from "./statuses";
import { checkMetrics } from "../monitoring/promtool";

const SEMI_SYNC = {
  primaryEnabled: true,
  primaryActive: true,
  primaryClients: 2,
  replicaEnabled: false,
  replicaActive: false,
};
const primary = (i: number, semiSync = SEMI_SYNC): MemberStatus => ({ ...writable(i), semiSync });
const replica = (i: number, lagSeconds: number | null, extra: Partial<MemberStatus> = {}): MemberStatus => ({
  ...replicaOf(i, { lagSeconds }),
  ...extra,
});
const state = (topology: Topology | undefined, extra: Partial<AgentMetricsState> = {}): AgentMetricsState => ({
  members: 3,
  topology,
  inspectSeconds: 0.042,
  failovers: { success: 0, refused: 0, error: 0 },
  leading: true,
  ...extra,
});

/** name{labels} -> value, from the rendered text. */
function samples(text: string): Map<string, number> {
  return new Map(
    text
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => {
        const at = l.lastIndexOf(" ");
        return [l.slice(0, at), Number(l.slice(at + 1))];
      }),
  );
}

describe("agent metrics", () => {
  it("a healthy topology: every member up, member 0 primary, replica lag, semi-sync on with 2 replicas, leader", () => {
    const text = renderMetrics(agentMetrics(state(topo(primary(0), replica(1, 0), replica(2, 7)))));
    expect(Object.fromEntries(samples(text))).toEqual({
      'mysql_ha_member_up{member="0"}': 1,
      'mysql_ha_member_up{member="1"}': 1,
      'mysql_ha_member_up{member="2"}': 1,
      'mysql_ha_member_is_primary{member="0"}': 1,
      'mysql_ha_member_is_primary{member="1"}': 0,
      'mysql_ha_member_is_primary{member="2"}': 0,
      'mysql_ha_replica_lag_seconds{member="1"}': 0,
      'mysql_ha_replica_lag_seconds{member="2"}': 7,
      'mysql_ha_member_errant_transactions{member="0"}': 0,
      'mysql_ha_member_errant_transactions{member="1"}': 0,
      'mysql_ha_member_errant_transactions{member="2"}': 0,
      mysql_ha_semi_sync_primary_on: 1,
      mysql_ha_semi_sync_replicas_connected: 2,
      'mysql_ha_failovers_total{result="success"}': 0,
      'mysql_ha_failovers_total{result="refused"}': 0,
      'mysql_ha_failovers_total{result="error"}': 0,
      mysql_ha_agent_is_leader: 1,
      mysql_ha_inspect_duration_seconds: 0.042,
    });
  });

  it("semi-sync fallen back to async: primary_on 0, no replica connected", () => {
    const fallen = { ...SEMI_SYNC, primaryActive: false, primaryClients: 0 };
    const s = samples(renderMetrics(agentMetrics(state(topo(primary(0, fallen), replica(1, 0), replica(2, 0))))));
    expect([s.get("mysql_ha_semi_sync_primary_on"), s.get("mysql_ha_semi_sync_replicas_connected")]).toEqual([0, 0]);
  });

  it("the primary gone: it is down, nobody is primary, no semi-sync sample; a stopped SQL thread has no lag sample", () => {
    const s = samples(renderMetrics(agentMetrics(state(topo(down(0), replica(1, null), replica(2, 3))))));
    expect([s.get('mysql_ha_member_up{member="0"}'), s.get('mysql_ha_member_up{member="1"}')]).toEqual([0, 1]);
    expect([0, 1, 2].map((i) => s.get(`mysql_ha_member_is_primary{member="${i}"}`))).toEqual([0, 0, 0]);
    expect(s.has("mysql_ha_semi_sync_primary_on")).toBe(false);
    expect(s.has('mysql_ha_replica_lag_seconds{member="1"}')).toBe(false);
    expect(s.get('mysql_ha_replica_lag_seconds{member="2"}')).toBe(3);
    // A member that does not answer has no errant count (unknown, not zero).
    expect(s.has('mysql_ha_member_errant_transactions{member="0"}')).toBe(false);
  });

  it("errant GTIDs on a replica are counted", () => {
    const t = topo(primary(0), replica(1, 0, { gtidBinlogState: "0-100-10,0-101-3" }), replica(2, 0));
    expect(t.members[1].errantGtids).toEqual(["0-101-3"]);
    expect(samples(renderMetrics(agentMetrics(state(t)))).get('mysql_ha_member_errant_transactions{member="1"}')).toBe(
      1,
    );
  });

  it("no answer at all (inspection timed out): every member down, none primary; failovers and leadership as counted", () => {
    const s = samples(
      renderMetrics(
        agentMetrics(
          state(undefined, {
            failovers: { success: 2, refused: 1, error: 0 },
            lastFailoverSeconds: 1764590000.5,
            leading: false,
          }),
        ),
      ),
    );
    expect(
      [0, 1, 2].map((i) => [
        s.get(`mysql_ha_member_up{member="${i}"}`),
        s.get(`mysql_ha_member_is_primary{member="${i}"}`),
      ]),
    ).toEqual([
      [0, 0],
      [0, 0],
      [0, 0],
    ]);
    expect([
      s.get('mysql_ha_failovers_total{result="success"}'),
      s.get('mysql_ha_failovers_total{result="refused"}'),
    ]).toEqual([2, 1]);
    expect(s.get("mysql_ha_last_failover_timestamp_seconds")).toBe(1764590000.5);
    expect(s.get("mysql_ha_agent_is_leader")).toBe(0);
  });

  it("renders HELP and TYPE for every metric, escapes label values and help", () => {
    const text = renderMetrics([
      { name: "x_total", type: "counter", help: "a\\b\nc", samples: [{ labels: { l: 'q"\\\n' }, value: 1 }] },
    ]);
    expect(text).toBe('# HELP x_total a\\\\b\\nc\n# TYPE x_total counter\nx_total{l="q\\"\\\\\\n"} 1\n');
    const names = agentMetrics(state(undefined)).map((m) => m.name);
    const rendered = renderMetrics(agentMetrics(state(undefined)));
    for (const name of names)
      expect(rendered).toMatch(new RegExp(`^# HELP ${name} .+\n# TYPE ${name} (gauge|counter)$`, "m"));
  });

  it("passes promtool check metrics in every state; promtool fails a metric without HELP (the check can fail)", async () => {
    const states = [
      state(topo(primary(0), replica(1, 0), replica(2, 7))),
      state(topo(down(0), replica(1, null), replica(2, 3)), {
        failovers: { success: 1, refused: 0, error: 1 },
        lastFailoverSeconds: 1764590000,
      }),
      state(undefined, { inspectSeconds: undefined, leading: false }),
    ];
    for (const s of states) {
      const r = await checkMetrics(renderMetrics(agentMetrics(s)));
      expect([r.code, r.stdout + r.stderr]).toEqual([0, ""]);
    }
    const bad = await checkMetrics("mysql_ha_thing_count 1\n");
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/no help text/);
  });
});
