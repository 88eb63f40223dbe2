/**
 * Gathers the state of every member (like MOCO's status.go): reachability, GTID positions, replication threads,
 * semi-sync, and from that the topology: the primary, split brain, errant GTIDs, problems in words. Reads only.
 */
import { bounded, connect, Sql } from "../connection";
import { SqlError } from "../errors";
import { Flavor, RawStatus } from "../flavor/flavor";
import { addressOf, replicationAddress, replicationTlsDue, resolveSettings } from "../settings";
import { EngineSettings, MemberAddress, MemberStatus, Problem, ResolvedSettings, Topology } from "../types";

/**
 * Connections kept from one inspection to the next, for a caller that inspects again and again (the agent, every
 * second): a new connection's handshake is most of a member's read, on both ends. An inspection takes them and gives
 * back those whose member it read; one that fails is dropped and its member read again over a new connection, since
 * a connection broken while idle (the member restarted, a switchover killed its session) says nothing about the
 * member now, except when the read timed out (the member hangs: a new handshake would time out too). Reads over a
 * kept connection are bounded by the connect timeout, as a new connection's handshake is.
 */
export class KeptConnections {
  private kept = new Map<number, Sql>();
  private generation = 0;

  /**
   * Closes them: when the caller stops, or when an inspection did not finish (those it still uses are closed when it
   * ends, not kept).
   */
  async drop(): Promise<void> {
    const idle = [...this.kept.values()];
    this.kept = new Map();
    this.generation++;
    await Promise.all(idle.map((sql) => sql.close()));
  }

  /** For one inspection: the connections it may use, and how to give back those still good. */
  lend(): { connections: Map<number, Sql>; giveBack: (good: Map<number, Sql>) => Promise<void> } {
    const connections = this.kept;
    const generation = this.generation;
    this.kept = new Map();
    return {
      connections,
      giveBack: async (good) => {
        if (generation === this.generation && this.kept.size === 0) this.kept = good;
        else await Promise.all([...good.values()].map((sql) => sql.close()));
      },
    };
  }
}

/**
 * Reads through `connections` where given (an operation's own, left open), and opens and closes the others; with
 * KeptConnections, reads through those and keeps what it opened there.
 */
export async function inspect(
  members: MemberAddress[],
  settings: EngineSettings,
  connections: ReadonlyMap<number, Sql> | KeptConnections = new Map(),
): Promise<Topology> {
  const resolved = resolveSettings(settings);
  const flavor = resolved.flavor;
  const lent = connections instanceof KeptConnections ? connections.lend() : undefined;
  const given: ReadonlyMap<number, Sql> = lent ? new Map() : (connections as ReadonlyMap<number, Sql>);
  // Lent connections not yet read through: the first read of each is allowed to find it broken.
  const reused = lent ? new Set(lent.connections.keys()) : undefined;
  // Each member's connection stays open for the re-read below (one handshake less on the writable member).
  const open = new Map<number, Sql>(lent ? lent.connections : given);
  const statuses: MemberStatus[] = [];
  try {
    statuses.push(
      ...(await Promise.all(members.map((_, i) => inspectMember(members, i, resolved, flavor, open, reused)))),
    );
    // Under writes, a replica read after the primary can hold transactions the primary's snapshot lacks; read the
    // writable member again, last, so a replica "ahead of the primary" really is divergent (errant), not just fresher.
    // Only then: a fresher primary has more transactions, never fewer, so it cannot make a member errant that was not
    // ahead of its first read (which spares a serial round trip on every healthy inspect).
    const writable = statuses.filter((s) => s.reachable && s.readOnly === false);
    const ahead = (s: MemberStatus) => s.reachable && flavor.errantGtids(s, writable[0]).length > 0;
    if (writable.length === 1 && statuses.some((s) => s.index !== writable[0].index && ahead(s))) {
      const again = await inspectMember(members, writable[0].index, resolved, flavor, open, reused);
      if (again.reachable) statuses[again.index] = again;
    }
  } finally {
    // Kept: what is left open (a connection that failed was cut at once), except one in plain text where TLS is
    // wanted (reached so while TLS was being turned on): the next inspection tries TLS again.
    if (lent) {
      const plain = [...open].filter(([, sql]) => resolved.tls && !sql.tls);
      for (const [i] of plain) open.delete(i);
      await Promise.all(plain.map(([, sql]) => sql.close()));
      await lent.giveBack(open);
    } else await Promise.all([...open].map(([i, sql]) => !given.has(i) && sql.close()));
  }
  const topology = analyze(members, statuses, flavor);
  if (resolved.tls) {
    for (const m of topology.members) {
      if (
        m.replica &&
        !m.replica.tls &&
        replicationTlsDue(resolved.tls, m, topology.members[m.replica.sourceIndex ?? -1])
      ) {
        topology.problems.push({
          kind: "replication-without-tls",
          message: `member ${m.index} (${m.address}) replicates without TLS verifying its source's certificate`,
        });
      }
    }
    topology.healthy = topology.problems.length === 0;
  }
  return topology;
}

async function inspectMember(
  members: MemberAddress[],
  index: number,
  settings: ResolvedSettings,
  flavor: Flavor,
  open: Map<number, Sql>,
  reused?: Set<number>,
): Promise<MemberStatus> {
  const address = addressOf(members[index]);
  try {
    let sql = open.get(index);
    let raw: RawStatus | undefined;
    if (sql && reused?.delete(index)) {
      raw = await flavor.readStatus(bounded(sql, settings.connectTimeoutMs)).catch((err) => {
        sql!.destroy();
        open.delete(index);
        if (err instanceof SqlError && err.code === "PROTOCOL_SEQUENCE_TIMEOUT") throw err;
        return undefined;
      });
      if (!raw) sql = undefined;
    }
    if (!sql) {
      sql = await connect(members, index, settings);
      open.set(index, sql);
    }
    raw ??= await flavor.readStatus(sql);
    // The server sees the session encrypted, and the client verified the server's certificate.
    return {
      index,
      address,
      reachable: true,
      role: "unknown",
      errantGtids: [],
      ...raw,
      tls: sql.tls && raw.tls === true,
    };
  } catch (err) {
    if (reused) {
      open.get(index)?.destroy();
      open.delete(index);
    }
    const error = (err as Error).message.replace(/^member \d+ \([^)]*\): /, "");
    return { index, address, reachable: false, error, role: "unknown", errantGtids: [] };
  }
}

/** Member whose replication address is host:port. */
export function memberAt(members: MemberAddress[], host: string, port: number): number | null {
  const i = members.findIndex((m) => {
    const r = replicationAddress(m);
    return r.host === host && r.port === port;
  });
  return i < 0 ? null : i;
}

/** Pure: derives roles, primary, errant GTIDs (by the flavor's GTID arithmetic) and problems from per-member statuses. */
export function analyze(members: MemberAddress[], input: MemberStatus[], flavor: Flavor): Topology {
  const statuses = input.map((s) => ({ ...s, errantGtids: [] as string[] }));
  const problems: Problem[] = [];
  const problem = (kind: Problem["kind"], message: string) => problems.push({ kind, message });
  for (const s of statuses) {
    if (s.replica)
      s.replica = { ...s.replica, sourceIndex: memberAt(members, s.replica.sourceHost, s.replica.sourcePort) };
  }
  // A blank member (fresh server: no history, no table, no source) is writable by default but is nobody's primary.
  const blank = (s: MemberStatus) =>
    !s.replica && !s.gtidBinlogState && !s.gtidSlave && (s.userSchemas ?? []).length === 0;
  const writable = statuses.filter((s) => s.reachable && s.readOnly === false && !blank(s));
  // Fresh servers are all writable: that is "not set up yet", not split brain.
  const configured = statuses.some((s) => s.replica);
  const splitBrain = configured && writable.length > 1;
  const primary = writable.length === 1 ? writable[0].index : null;
  for (const s of statuses) {
    if (!s.reachable) continue;
    s.role = s.index === primary ? "primary" : s.replica ? "replica" : "unknown";
  }

  const sources = new Set(statuses.filter((s) => s.replica).map((s) => s.replica!.sourceIndex));
  const sourceOfReplicas = sources.size === 1 ? [...sources][0] : null;

  const p = primary === null ? undefined : statuses[primary];
  for (const s of statuses) {
    if (!s.reachable || s.index === primary) continue;
    s.errantGtids = flavor.errantGtids(s, p);
  }

  for (const s of statuses) {
    const who = `member ${s.index} (${s.address})`;
    if (!s.reachable) {
      problem("unreachable", `${who} is unreachable: ${s.error}`);
      continue;
    }
    if (s.logBin === false) problem("binlog-off", `${who} has the binary log off (log-bin is required)`);
    if (s.errantGtids.length)
      problem(
        "errant-gtids",
        `${who} has errant GTIDs ${s.errantGtids.join(",")} (transactions the primary does not have)`,
      );
    if (s.index === primary) {
      if (s.replica)
        problem(
          "primary-replicates",
          `${who} is writable but also replicates from ${s.replica.sourceHost}:${s.replica.sourcePort}`,
        );
      continue;
    }
    const r = s.replica;
    if (!r) {
      if (primary !== null) problem("not-replicating", `${who} does not replicate`);
      continue;
    }
    if (primary !== null && r.sourceIndex !== primary) {
      problem(
        "wrong-source",
        `${who} replicates from ${r.sourceHost}:${r.sourcePort}, not from the primary (member ${primary})`,
      );
    }
    if (r.ioThread !== "running")
      problem("io-thread", `${who} replication IO thread is ${r.ioThread}${r.lastIoError ? `: ${r.lastIoError}` : ""}`);
    if (r.sqlThread !== "running")
      problem(
        "sql-thread",
        `${who} replication SQL thread is ${r.sqlThread}${r.lastSqlError ? `: ${r.lastSqlError}` : ""}`,
      );
  }
  if (splitBrain)
    problem("split-brain", `split brain: members ${writable.map((s) => s.index).join(" and ")} are all writable`);
  if (primary === null && !splitBrain) {
    if (sourceOfReplicas !== null && sourceOfReplicas !== undefined) {
      const src = statuses[sourceOfReplicas];
      if (src.reachable)
        problem(
          "source-read-only",
          `no writable primary: member ${sourceOfReplicas} (the replicas' source) is read-only`,
        );
      else
        problem(
          "source-unreachable",
          `no writable primary: member ${sourceOfReplicas} (the replicas' source) is unreachable`,
        );
    } else if (!configured) {
      problem("not-set-up", "replication is not set up");
    } else {
      problem("no-agreed-source", "no writable primary, and the replicas do not agree on a source among the members");
    }
  }
  return {
    members: statuses,
    primary,
    splitBrain,
    sourceOfReplicas: sourceOfReplicas ?? null,
    problems,
    healthy: problems.length === 0,
  };
}

/** The `mysql-ha status --json` shape. */
export function topologyToJson(t: Topology) {
  return {
    primary: t.primary,
    healthy: t.healthy,
    problems: t.problems.map((p) => p.message),
    members: t.members.map((m) => ({
      index: m.index,
      address: m.address,
      reachable: m.reachable,
      role: m.role,
      readOnly: m.readOnly ?? null,
      gtid: m.gtidCurrent ?? null,
      sourceIndex: m.replica?.sourceIndex ?? null,
      lagSeconds: m.replica?.lagSeconds ?? null,
      errantGtids: m.errantGtids,
      tls: m.tls ?? null,
      replicationTls: m.replica?.tls ?? null,
    })),
  };
}
