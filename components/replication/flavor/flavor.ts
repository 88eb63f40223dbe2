/**
 * Everything engine-specific, behind one interface (as MOCO's dbop.Operator): the MariaDB flavor now, MySQL 8.4
 * later. Every statement the engine runs and every GTID calculation it makes is a method here; operations, inspect
 * and the rolling upgrade speak only this interface.
 */
import { Sql } from "../connection";
import { Account, AccountRole, Credentials, MemberStatus } from "../types";

/** What a flavor reads from one member (inspect adds index, address, role, errant GTIDs and the source index). */
export type RawStatus = Omit<MemberStatus, "index" | "address" | "reachable" | "error" | "role" | "errantGtids">;

/** An account as the init script creates it: its password comes from the environment. */
export interface AccountSpec {
  role: AccountRole;
  user: string;
  passwordEnv: string;
}

export interface Flavor {
  readonly name: string;
  readStatus(sql: Sql): Promise<RawStatus>;
  /** Everything the member wrote to its binlog: what a replica must have applied to hold all of it. */
  binlogPosition(sql: Sql): Promise<string>;
  /** Everything the member executed, replicated or its own. */
  executedPosition(sql: Sql): Promise<string>;
  /** Whether position `have` includes everything in position `need`. Pure. */
  covers(have: string | undefined, need: string | undefined): boolean;
  /**
   * GTIDs `member` holds that `primary` has not, and, with or without a primary, its own writes that replication does
   * not account for (sorted, each once). Pure.
   */
  errantGtids(member: MemberStatus, primary: MemberStatus | undefined): string[];
  /** Creates or updates the least-privilege replication account (binlogged, so every member gets it). */
  ensureReplicationUser(sql: Sql, user: Credentials): Promise<void>;
  /**
   * Creates or updates an account so it has its password and exactly its role's privileges (binlogged, so every
   * member gets it); true when something had to change.
   */
  ensureAccount(sql: Sql, account: Account): Promise<boolean>;
  /**
   * A bash script for the image's /docker-entrypoint-initdb.d that creates the same accounts on the first start of
   * an empty datadir (the entrypoint runs it once root is secured), each password from the named environment variable.
   */
  accountsInitScript(accounts: AccountSpec[]): string;
  /**
   * Points the member at a source with GTID auto-positioning, sets its semi-sync role and starts replicating; with
   * `caPath` (the CA file on the member) over TLS, verifying the source's certificate and name, else in plain text.
   */
  startReplicating(
    sql: Sql,
    source: { host: string; port: number },
    user: Credentials,
    semiSync: boolean,
    caPath: string | undefined,
  ): Promise<void>;
  /** Stops replication and forgets the source. */
  stopReplicating(sql: Sql): Promise<void>;
  /** Starts replicating again from the source it is set up with (both threads). */
  resumeReplicating(sql: Sql): Promise<void>;
  stopIoThread(sql: Sql): Promise<void>;
  startSqlThread(sql: Sql): Promise<void>;
  /** Waits until the member has applied `gtid`; false on timeout. */
  waitForGtid(sql: Sql, gtid: string, timeoutMs: number): Promise<boolean>;
  /** Stops replicating and takes the primary side of semi-sync; stays read-only until `setReadOnly(false)`. */
  becomeSource(sql: Sql, semiSync: boolean, semiSyncTimeoutMs: number): Promise<void>;
  /** Turns the primary side of semi-sync on or off (a switchover candidate takes it while still replicating). */
  setSemiSyncSource(sql: Sql, enabled: boolean, semiSyncTimeoutMs: number): Promise<void>;
  setReadOnly(sql: Sql, on: boolean): Promise<void>;
  /** A switchover's new primary: the primary side of semi-sync as `setSemiSyncSource`, then writable, in one go. */
  openForWrites(sql: Sql, semiSync: boolean, semiSyncTimeoutMs: number): Promise<void>;
  /**
   * Before writes stop, with them still on: how long `blockWrites` on this session may wait for running statements,
   * and whatever part of the block can be taken without stopping commits (`unblockWrites` releases it). False when
   * statements that part waits for (DDL) did not end within `timeoutMs`: nothing is held then.
   */
  prepareBlockWrites(sql: Sql, timeoutMs: number): Promise<boolean>;
  /** Blocks all commits, including from accounts that bypass read_only, for as long as this session holds it. */
  blockWrites(sql: Sql): Promise<void>;
  /** Releases `blockWrites` and `prepareBlockWrites` (nothing held: nothing to do). */
  unblockWrites(sql: Sql): Promise<void>;
  /** Ids of client sessions (not replication, not system, not `exclude`). */
  clientSessions(sql: Sql, exclude: number[]): Promise<number[]>;
  killSession(sql: Sql, id: number): Promise<void>;
  sessionId(sql: Sql): Promise<number>;
  /** Counts everything this member executed as replicated, so it can become a replica of a member that has it all. */
  adoptOwnHistory(sql: Sql): Promise<void>;
  /** Forgets the member's local binlog history (only for members without user data that never replicated). */
  resetLocalHistory(sql: Sql): Promise<void>;
  /** The position the member's oldest binlog starts after: a joiner that has not reached it needs a seed. */
  binlogStart(sql: Sql): Promise<string>;
  /** Makes the server load its certificate, key and CA files again (new connections use them; no restart). */
  reloadTls(sql: Sql): Promise<void>;
  /** Validity of the certificate this connection got at its handshake (ISO times); undefined without TLS. */
  servedCertificate(sql: Sql): Promise<{ notBefore: string; notAfter: string } | undefined>;
  /** A global server variable's value (`name` from the caller's table of options, checked as a name here too). */
  globalVariable(sql: Sql, name: string): Promise<unknown>;
  /** Sets a global server variable live. */
  setGlobalVariable(sql: Sql, name: string, value: string | number): Promise<void>;
  /** Tries to take the named session lock without waiting: this session's id on success, the holder's on failure. */
  tryLock(sql: Sql, name: string): Promise<{ ok: true; session: number } | { ok: false; holder: number | null }>;
  /** Releases a lock this session holds (the server frees it at disconnect too, but only once it has seen the quit). */
  unlock(sql: Sql, name: string): Promise<void>;
}
