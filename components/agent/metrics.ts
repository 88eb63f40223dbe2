/**
 * The failover agent's topology metrics (`/metrics` of `mysql-ha agent`, Prometheus text format 0.0.4): pure, from
 * what the loop already has (the engine's last inspection, its own counters). Every agent pod exports the topology it
 * sees, leader or not, so rules aggregate over the agents (README, Observability).
 */
import type { Topology } from "../replication";

/** What the loop knows after its last round. */
export interface AgentMetricsState {
  /** Number of members the agent watches (their ordinals label the member series). */
  members: number;
  /** The last inspection's result; undefined when it gave no answer in time (or none ran yet). */
  topology?: Topology;
  /** Wall time of the last inspection, seconds; undefined before the first. */
  inspectSeconds?: number;
  /** Failovers this process attempted, by outcome. */
  failovers: Record<FailoverResult, number>;
  /** Unix time (seconds) of this process's last successful failover. */
  lastFailoverSeconds?: number;
  leading: boolean;
}

/** `result` label values: promoted a replica, refused by a safety rule (nothing changed), failed otherwise. */
export const FAILOVER_RESULTS = ["success", "refused", "error"] as const;
export type FailoverResult = (typeof FAILOVER_RESULTS)[number];

export interface Sample {
  labels?: Record<string, string>;
  value: number;
}

export interface Metric {
  name: string;
  help: string;
  type: "gauge" | "counter";
  samples: Sample[];
}

/** Every metric's name, type and help, in output order. */
export const AGENT_METRICS = {
  memberUp: {
    name: "mysql_ha_member_up",
    type: "gauge",
    help: "Whether the agent's last inspection reached the member (1) or not (0).",
  },
  memberIsPrimary: {
    name: "mysql_ha_member_is_primary",
    type: "gauge",
    help: "Whether the member is the single writable member, the primary (1) or not (0).",
  },
  replicaLag: {
    name: "mysql_ha_replica_lag_seconds",
    type: "gauge",
    help: "Replication lag of the replica in seconds (Seconds_Behind_Master); no sample while its SQL thread is not running.",
  },
  errant: {
    name: "mysql_ha_member_errant_transactions",
    type: "gauge",
    help: "Errant GTIDs of the member: last GTID per domain and server of transactions the primary does not have (0: none).",
  },
  semiSyncOn: {
    name: "mysql_ha_semi_sync_primary_on",
    type: "gauge",
    help: "Whether the primary currently waits for a replica's acknowledgement (1), or runs asynchronously (0: semi-sync off or fallen back after its timeout).",
  },
  semiSyncReplicas: {
    name: "mysql_ha_semi_sync_replicas_connected",
    type: "gauge",
    help: "Semi-sync replicas connected to the primary (Rpl_semi_sync_master_clients).",
  },
  failovers: {
    name: "mysql_ha_failovers_total",
    type: "counter",
    help: "Automatic failovers this agent process attempted, by result (success, refused, error).",
  },
  lastFailover: {
    name: "mysql_ha_last_failover_timestamp_seconds",
    type: "gauge",
    help: "Unix time of this agent process's last successful failover.",
  },
  isLeader: {
    name: "mysql_ha_agent_is_leader",
    type: "gauge",
    help: "Whether this agent holds the Lease and may act (1) or stands by (0).",
  },
  inspectDuration: {
    name: "mysql_ha_inspect_duration_seconds",
    type: "gauge",
    help: "Wall time of the agent's last inspection of the members, in seconds.",
  },
} as const satisfies Record<string, Omit<Metric, "samples">>;

const bool = (b: boolean | undefined) => (b ? 1 : 0);

/** The agent's metrics from its state. */
export function agentMetrics(state: AgentMetricsState): Metric[] {
  const t = state.topology;
  const member = (index: number) => ({ member: String(index) });
  const metric = (spec: Omit<Metric, "samples">, samples: Sample[]): Metric => ({ ...spec, samples });
  const ordinals = Array.from({ length: state.members }, (_, i) => i);
  const reached = t ? t.members.filter((m) => m.reachable) : [];
  const primary = t && t.primary !== null ? t.members[t.primary] : undefined;
  return [
    // Without an answer the agent knows of no member that is up or primary: it says 0 rather than nothing, so an
    // alert on "no primary" fires while the agent still runs.
    metric(
      AGENT_METRICS.memberUp,
      ordinals.map((i) => ({ labels: member(i), value: bool(t?.members[i]?.reachable) })),
    ),
    metric(
      AGENT_METRICS.memberIsPrimary,
      ordinals.map((i) => ({ labels: member(i), value: bool(t?.primary === i) })),
    ),
    metric(
      AGENT_METRICS.replicaLag,
      reached.flatMap((m) =>
        m.replica && m.replica.lagSeconds !== null ? [{ labels: member(m.index), value: m.replica.lagSeconds }] : [],
      ),
    ),
    metric(
      AGENT_METRICS.errant,
      reached.map((m) => ({ labels: member(m.index), value: m.errantGtids.length })),
    ),
    // Semi-sync is the primary's state: no sample while there is none.
    metric(
      AGENT_METRICS.semiSyncOn,
      primary?.semiSync ? [{ value: bool(primary.semiSync.primaryEnabled && primary.semiSync.primaryActive) }] : [],
    ),
    metric(AGENT_METRICS.semiSyncReplicas, primary?.semiSync ? [{ value: primary.semiSync.primaryClients }] : []),
    // Every result from the start, so rate() and increase() see the first failover (a series appearing at 1 does not count).
    metric(
      AGENT_METRICS.failovers,
      FAILOVER_RESULTS.map((result) => ({ labels: { result }, value: state.failovers[result] })),
    ),
    metric(
      AGENT_METRICS.lastFailover,
      state.lastFailoverSeconds === undefined ? [] : [{ value: state.lastFailoverSeconds }],
    ),
    metric(AGENT_METRICS.isLeader, [{ value: bool(state.leading) }]),
    metric(AGENT_METRICS.inspectDuration, state.inspectSeconds === undefined ? [] : [{ value: state.inspectSeconds }]),
  ];
}

/** Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** Prometheus text exposition format 0.0.4: HELP and TYPE for every metric, then its samples. */
export function renderMetrics(metrics: Metric[]): string {
  const escapeHelp = (s: string) => s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
  const escapeValue = (s: string) => escapeHelp(s).replace(/"/g, '\\"');
  const number = (v: number) =>
    Number.isNaN(v) ? "NaN" : v === Infinity ? "+Inf" : v === -Infinity ? "-Inf" : String(v);
  const lines: string[] = [];
  for (const m of metrics) {
    lines.push(`# HELP ${m.name} ${escapeHelp(m.help)}`, `# TYPE ${m.name} ${m.type}`);
    for (const s of m.samples) {
      const labels = Object.entries(s.labels ?? {})
        .map(([k, v]) => `${k}="${escapeValue(v)}"`)
        .join(",");
      lines.push(`${m.name}${labels ? `{${labels}}` : ""} ${number(s.value)}`);
    }
  }
  return lines.join("\n") + "\n";
}
