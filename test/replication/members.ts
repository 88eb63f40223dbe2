/** Member fixtures for the engine's pure decisions: members as inspect reports them, at 10.0.0.<index>:3306. */
import type { MemberStatus } from "../../components/replication";

export interface MemberFixture extends Partial<MemberStatus> {
  /** The member's executed GTIDs (gtid_current_pos and gtid_binlog_state alike). */
  executed?: string;
  /** Undefined: writable, replicating from nobody; otherwise a replica of this member. */
  source?: number;
  lag?: number;
  io?: "running" | "stopped" | "connecting";
  sqlThread?: "running" | "stopped";
}

/** A reachable member: a primary (writable) or a replica of `source`, its threads running unless told. */
export function memberStatus(index: number, opts: MemberFixture = {}): MemberStatus {
  const { executed = "0-100-10", source, lag, io, sqlThread, ...rest } = opts;
  return {
    index,
    address: `10.0.0.${index}:3306`,
    reachable: true,
    serverId: 100 + index,
    readOnly: source !== undefined,
    logBin: true,
    gtidCurrent: executed,
    gtidBinlogState: executed,
    userSchemas: ["app"],
    errantGtids: [],
    role: "unknown",
    replica:
      source === undefined
        ? undefined
        : {
            sourceHost: `10.0.0.${source}`,
            sourcePort: 3306,
            sourceIndex: null,
            ioThread: io ?? "running",
            sqlThread: sqlThread ?? "running",
            lastIoError: "",
            lastSqlError: "",
            lagSeconds: lag ?? 0,
            gtidIo: executed,
            tls: false,
          },
    ...rest,
  };
}

/** A member that does not answer. */
export function unreachableMember(index: number): MemberStatus {
  return {
    index,
    address: `10.0.0.${index}:3306`,
    reachable: false,
    error: "connect ECONNREFUSED",
    errantGtids: [],
    role: "unknown",
  };
}
