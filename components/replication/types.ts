/**
 * Public types of the replication engine. Plain data: the CLI, the dynamic providers and the tests all speak them.
 * No Pulumi, no database handles.
 */
import type { Flavor } from "./flavor/flavor";

/**
 * One member of the topology. Its position in the members array is its index (= StatefulSet ordinal).
 * `host`/`port` is where the engine connects (e.g. a port-forward); `replicationHost`/`replicationPort` is where the
 * other members reach it (e.g. the pod's DNS name) and defaults to `host`/`port`.
 */
export interface MemberAddress {
  host: string;
  port: number;
  replicationHost?: string;
  replicationPort?: number;
}

export interface Credentials {
  user: string;
  password: string;
}

/**
 * The accounts the engine keeps besides the replication account, each with the least privilege its job needs
 * (the flavor's grants): the failover agent, the donor's physical copies, the binlog archiver, the probes, metrics.
 */
export const ACCOUNT_ROLES = ["operator", "backup", "archiver", "probe", "metrics"] as const;
export type AccountRole = (typeof ACCOUNT_ROLES)[number];

export interface Account extends Credentials {
  role: AccountRole;
}

/**
 * TLS for the engine's own connections and for replication. Never a fallback to plain text: a member whose
 * certificate does not verify is unreachable, with the reason.
 */
export interface TlsSettings {
  /** PEM of the CA that signed the members' certificates (public); the engine verifies every member against it. */
  ca: string;
  /** The same CA as a file on every member: replicas verify their source's certificate with it (MASTER_SSL_CA). */
  caPath: string;
  /**
   * The name member `index`'s certificate must carry, checked even when the engine connects through a loopback
   * tunnel. Default: its replicationHost (its DNS name in the cluster), else its host.
   */
  serverName?: (index: number) => string;
  /**
   * TLS is being turned on for members that ran without it: a member that does not offer TLS yet is reached in
   * plain text (its `tls` reported false), and a replica replicates over TLS once both it and its source serve it
   * (see replicationTlsDue). Only for that transition (the providers set it until every member serves TLS); a member
   * that offers TLS is verified as always.
   */
  enabling?: boolean;
}

/** Engine settings. Optional fields get their defaults in `resolveSettings` (settings.ts), nowhere else. */
export interface EngineSettings {
  /** Administrative account the engine connects with (needs SUPER-level rights: replication admin, read_only, kill). */
  admin: Credentials;
  /** Account replicas use to stream binlogs; created on setup with REPLICATION SLAVE only. */
  replication: Credentials;
  /** Accounts setup creates or updates on the primary (binlogged, so every member gets them). Default: none. */
  accounts?: Account[];
  /** Semi-synchronous replication on the primary and the replicas. */
  semiSync: boolean;
  /** How long the primary waits for a replica's acknowledgement before falling back to async. */
  semiSyncTimeoutMs: number;
  /** TCP + handshake timeout per connection. Default 3000. */
  connectTimeoutMs?: number;
  /** How long a member may take to apply what it must apply (switchover candidate, failover relay log). Default 10000. */
  catchUpTimeoutMs?: number;
  /** Overall deadline of one operation, lock included. Default 60000. */
  deadlineMs?: number;
  /** Progress lines (one per step). Default: none. */
  log?: (line: string) => void;
  /**
   * Seeds member `joinerIndex` with a copy of `donorIndex`'s data (clone), called before attaching a member that
   * cannot replicate from the primary's binlogs alone. After it returns, the joiner must be running with the donor's
   * data and its gtid_slave_pos set to the copy's position.
   */
  seed?: (joinerIndex: number, donorIndex: number) => Promise<void>;
  /** TLS with verification for the engine's connections and replication. Default: plain text. */
  tls?: TlsSettings;
  /** The database flavor (settings.flavor of the stack): every statement and GTID calculation of the engine. */
  flavor: Flavor;
}

export type ResolvedSettings = Required<Omit<EngineSettings, "seed" | "tls">> & Pick<EngineSettings, "seed" | "tls">;

/** One GTID position entry. MariaDB: domain-server-sequence. */
export interface Gtid {
  domain: number;
  server: number;
  seq: number;
}

/** What is wrong with a topology, as a code: callers decide on the kind, people read the message. */
export type ProblemKind =
  | "unreachable"
  | "binlog-off"
  | "errant-gtids"
  | "primary-replicates"
  | "not-replicating"
  | "wrong-source"
  | "io-thread"
  | "sql-thread"
  | "split-brain"
  | "source-read-only"
  | "source-unreachable"
  | "not-set-up"
  | "no-agreed-source"
  | "replication-without-tls";

export interface Problem {
  kind: ProblemKind;
  message: string;
}

/** Which safety rule refused a plan or an operation (nothing was changed). */
export type RefusalKind =
  | "invalid-request"
  | "locked"
  | "unreachable"
  | "split-brain"
  | "other-source"
  | "binlog-off"
  | "no-primary"
  | "is-primary"
  | "no-agreed-source"
  | "not-the-source"
  | "primary-available"
  | "no-candidate"
  | "not-a-replica"
  | "errant-gtids"
  | "replication-stopped"
  | "behind"
  | "busy"
  | "needs-seed";

export interface Refusal {
  kind: RefusalKind;
  message: string;
}

export type ThreadState = "running" | "connecting" | "stopped";

/** Replication state of a member that has a source configured. */
export interface ReplicaStatus {
  sourceHost: string;
  sourcePort: number;
  /** Index of the member the source address belongs to, or null if it is none of the members. */
  sourceIndex: number | null;
  ioThread: ThreadState;
  sqlThread: ThreadState;
  lastIoError: string;
  lastSqlError: string;
  lagSeconds: number | null;
  /** GTIDs received into the relay log (MariaDB Gtid_IO_Pos). */
  gtidIo: string;
  /** Replicates over TLS and verifies the source's certificate (Master_SSL_Allowed and Master_SSL_Verify_Server_Cert). */
  tls: boolean;
}

export interface MemberStatus {
  index: number;
  address: string;
  reachable: boolean;
  /** Why it is unreachable (never contains a password). */
  error?: string;
  /** The engine's connection to it is encrypted and the member's certificate verified (settings.tls). */
  tls?: boolean;
  serverId?: number;
  readOnly?: boolean;
  logBin?: boolean;
  /** Everything executed (MariaDB gtid_current_pos). */
  gtidCurrent?: string;
  /** Last GTID per domain and server in the binlog (errant-transaction detection). */
  gtidBinlogState?: string;
  /** Last GTID per domain applied by replication. */
  gtidSlave?: string;
  replica?: ReplicaStatus;
  semiSync?: {
    primaryEnabled: boolean;
    primaryActive: boolean;
    primaryClients: number;
    replicaEnabled: boolean;
    replicaActive: boolean;
  };
  /**
   * Non-system schemas holding at least one table (empty schemas are not data): a member with none holds no user data.
   * Read only on a member that never replicated (empty gtid_slave_pos); empty elsewhere.
   */
  userSchemas?: string[];
  /** GTIDs this member has that the primary has not (replicas), or its own local writes (when there is no primary). */
  errantGtids: string[];
  role: "primary" | "replica" | "unknown";
}

export interface Topology {
  members: MemberStatus[];
  /** Index of the single writable member, or null (none, or split brain). */
  primary: number | null;
  /** Two or more writable members. */
  splitBrain: boolean;
  /**
   * Index the replicas point at when they all agree, even if that member is down or read-only: the member a
   * failover replaces. Null when there is no replication at all.
   */
  sourceOfReplicas: number | null;
  problems: Problem[];
  healthy: boolean;
}

export type StepKind = "setup" | "attach" | "detach" | "switchover" | "failover" | "repair" | "fence";

export interface Step {
  kind: StepKind;
  /** Involved member indexes: setup [primary], attach/detach [member], switchover [from, to], failover [from, to?], repair/fence [member]. */
  members: number[];
  /** Target member for setup/switchover/failover/repair (undefined for failover: most advanced). */
  target?: number;
  reason: string;
  /** One line in words: "switch over 0 -> 2", "attach member 3". */
  describe: string;
}

export interface Plan {
  steps: Step[];
  /** Why the desired state cannot be reached safely; a plan with refusals must not be applied. */
  refusals: Refusal[];
}

export interface DesiredTopology {
  /** Member count: members with index >= this are removed (detached). */
  members: number;
  /** Wanted primary; undefined keeps the current one (or 0 on first setup). */
  primary?: number;
  /** Promote a replica when the primary is unreachable. */
  allowFailover: boolean;
  /** A seed hook is available, so members with errant GTIDs or beyond the primary's binlogs can be re-seeded. */
  canSeed?: boolean;
  /** Replicas must replicate over verified TLS (replicationTlsDue): one that does not is attached again. */
  tls?: Pick<TlsSettings, "enabling">;
}

export interface OperationResult {
  kind: StepKind;
  /** Primary after the operation. */
  primary: number;
  /** What happened, in words (one entry per step). */
  log: string[];
  /** Switchover: time writes were stopped on the old primary until the new one accepted them (ms). */
  writeGapMs?: number;
  /** Failover: the chosen candidate. */
  chosen?: number;
  /** Failover: what may have been lost, in words (async), or why nothing was. */
  possiblyLost?: string;
  /** Members that could not be repointed and why (the operation itself succeeded). */
  warnings: string[];
  /** Nothing needed to be done. */
  noop?: boolean;
}

export interface ApplyResult {
  results: OperationResult[];
  primary: number | null;
}
