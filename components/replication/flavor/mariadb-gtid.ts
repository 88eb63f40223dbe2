/**
 * MariaDB GTID positions ("0-1-42,1-5-7"): parsing and the comparisons the mariadb flavor answers for the engine. Pure.
 * A position holds the last GTID per domain; a binlog state the last GTID per (domain, server).
 */
import { Gtid } from "../types";

export function parseGtids(text: string | null | undefined): Gtid[] {
  if (!text) return [];
  return text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(\d+)-(\d+)-(\d+)$/.exec(s);
      if (!m) throw new Error(`not a MariaDB GTID: '${s}'`);
      return { domain: Number(m[1]), server: Number(m[2]), seq: Number(m[3]) };
    });
}

export function formatGtid(g: Gtid): string {
  return `${g.domain}-${g.server}-${g.seq}`;
}

/** Sequence number per domain of a position. */
export function seqByDomain(pos: string | undefined): Map<number, number> {
  const m = new Map<number, number>();
  for (const g of parseGtids(pos)) m.set(g.domain, Math.max(m.get(g.domain) ?? 0, g.seq));
  return m;
}

/** -1, 0, 1 when a is behind, equal, ahead of b in every domain; null when each has something the other has not. */
export function comparePositions(a: string | undefined, b: string | undefined): -1 | 0 | 1 | null {
  const sa = seqByDomain(a);
  const sb = seqByDomain(b);
  let ahead = false;
  let behind = false;
  for (const d of new Set([...sa.keys(), ...sb.keys()])) {
    const x = sa.get(d) ?? 0;
    const y = sb.get(d) ?? 0;
    if (x > y) ahead = true;
    if (x < y) behind = true;
  }
  if (ahead && behind) return null;
  return ahead ? 1 : behind ? -1 : 0;
}

/** Whether position `have` includes everything in position `need` (per domain). */
export function covers(have: string | undefined, need: string | undefined): boolean {
  const c = comparePositions(have, need);
  return c === 0 || c === 1;
}

/**
 * GTIDs a replica has that its primary has not. A replica GTID (d, s, n) is covered when the primary's binlog state
 * has (d, s) at n or later, or the primary's replication position (a primary seeded from a copy) names (d, s) at n or
 * later. Anything else was written on the replica, or on a primary the current one never saw.
 */
export function errantAgainst(
  replica: { binlogState?: string; slavePos?: string },
  primary: { binlogState?: string; slavePos?: string },
): string[] {
  const known = new Map<string, number>();
  for (const g of [...parseGtids(primary.binlogState), ...parseGtids(primary.slavePos)]) {
    const k = `${g.domain}-${g.server}`;
    known.set(k, Math.max(known.get(k) ?? 0, g.seq));
  }
  const out: Gtid[] = [];
  const seen = new Set<string>();
  for (const g of [...parseGtids(replica.binlogState), ...parseGtids(replica.slavePos)]) {
    const k = `${g.domain}-${g.server}`;
    if ((known.get(k) ?? 0) >= g.seq || seen.has(formatGtid(g))) continue;
    seen.add(formatGtid(g));
    out.push(g);
  }
  return out.map(formatGtid);
}

/**
 * A member's own local writes that replication does not account for: binlog state entries with its own server id
 * beyond its replication position in that domain. Used when there is no primary to compare with (failover, setup).
 * A former primary demoted by a switchover has its replication position set to its binlog position, so its history
 * counts as replicated.
 */
export function localErrant(serverId: number, binlogState: string | undefined, slavePos: string | undefined): string[] {
  const applied = seqByDomain(slavePos);
  return parseGtids(binlogState)
    .filter((g) => g.server === serverId && g.seq > (applied.get(g.domain) ?? 0))
    .map(formatGtid);
}
