/**
 * An in-memory flavor for the engine's decision logic (analyze, plan, the agent's decide, the rollout's caught-up
 * check): GTID positions are sets of transaction names ("a1,a2,b7"), as MySQL's GTID sets are sets, so the tests
 * show the decisions follow the flavor's arithmetic, not MariaDB's notation. There is no server behind it: any
 * statement throws.
 */
import type { Flavor, MemberStatus } from "../../components/replication";

const set = (position: string | undefined) =>
  new Set(
    (position ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  );

function noServer(): never {
  throw new Error("the fake flavor has no server: only its GTID arithmetic answers");
}

export const fakeFlavor: Flavor = {
  name: "fake",
  covers: (have, need) => [...set(need)].every((t) => set(have).has(t)),
  // What the member executed that the primary has not; without a primary nothing counts as errant here.
  errantGtids: (member: MemberStatus, primary: MemberStatus | undefined) =>
    primary ? [...set(member.gtidCurrent)].filter((t) => !set(primary.gtidCurrent).has(t)).sort() : [],
  readStatus: noServer,
  binlogPosition: noServer,
  executedPosition: noServer,
  ensureReplicationUser: noServer,
  ensureAccount: noServer,
  accountsInitScript: noServer,
  startReplicating: noServer,
  stopReplicating: noServer,
  resumeReplicating: noServer,
  stopIoThread: noServer,
  startSqlThread: noServer,
  waitForGtid: noServer,
  becomeSource: noServer,
  setSemiSyncSource: noServer,
  openForWrites: noServer,
  setReadOnly: noServer,
  prepareBlockWrites: noServer,
  blockWrites: noServer,
  unblockWrites: noServer,
  clientSessions: noServer,
  killSession: noServer,
  sessionId: noServer,
  adoptOwnHistory: noServer,
  resetLocalHistory: noServer,
  binlogStart: noServer,
  reloadTls: noServer,
  servedCertificate: noServer,
  globalVariable: noServer,
  setGlobalVariable: noServer,
  tryLock: noServer,
  unlock: noServer,
};
