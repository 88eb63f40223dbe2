/**
 * Member statuses for the agent's pure tests (decide, metrics): members m0..m2 at port 3306 as inspect reports them,
 * and the topology the engine's own analyze() derives from them.
 */
import { analyze, mariadb, MemberAddress, MemberStatus, ThreadState, Topology } from "../../components/replication";

export const MEMBERS: MemberAddress[] = [0, 1, 2].map((i) => ({ host: `m${i}`, port: 3306 }));

/** A reachable, read-only member that has applied 0-100-10 and replicates from nobody (yet). */
export const base = (i: number): MemberStatus => ({
  index: i,
  address: `m${i}:3306`,
  reachable: true,
  serverId: 100 + i,
  readOnly: true,
  logBin: true,
  gtidBinlogState: "0-100-10",
  gtidSlave: "0-100-10",
  gtidCurrent: "0-100-10",
  errantGtids: [],
  role: "unknown",
});

/** A writable member that replicates from nobody: a primary. */
export const writable = (i: number): MemberStatus => ({ ...base(i), readOnly: false, gtidSlave: "" });

/** A replica of `source` (its IO thread as given, failing to reconnect unless running); lag null: SQL thread stopped. */
export const replicaOf = (
  i: number,
  { source = 0, io = "running", lagSeconds = 0 }: { source?: number; io?: ThreadState; lagSeconds?: number | null },
): MemberStatus => ({
  ...base(i),
  replica: {
    sourceHost: `m${source}`,
    sourcePort: 3306,
    sourceIndex: null,
    ioThread: io,
    sqlThread: lagSeconds === null ? "stopped" : "running",
    lastIoError: io === "running" ? "" : "error reconnecting to master",
    lastSqlError: "",
    lagSeconds,
    gtidIo: "0-100-10",
    tls: false,
  },
});

/** A member that does not answer. */
export const down = (i: number): MemberStatus => ({
  index: i,
  address: `m${i}:3306`,
  reachable: false,
  error: "connect ECONNREFUSED",
  errantGtids: [],
  role: "unknown",
});

export const topo = (...statuses: MemberStatus[]): Topology => analyze(MEMBERS, statuses, mariadb);
