/**
 * Restarting one member onto the desired revision, behind one small interface so the rollout executor does not know
 * whether a member is a pod (kubernetes-restarter.ts) or a local mariadbd (local/restarter.ts, the
 * tests' stand-in).
 */

export interface MemberRevision {
  ordinal: number;
  /** Runs the desired revision (restarting it would change nothing). */
  current: boolean;
  /** Its server process is up (pod Ready / local server accepting connections). */
  ready: boolean;
  /** What it runs, for messages (pod controller revision, local options hash). */
  revision?: string;
}

export interface MemberRestarter {
  /** For logs and errors, e.g. "StatefulSet db/mysql". */
  readonly description: string;
  /** The revision state of these members. */
  revisions(ordinals: number[]): Promise<MemberRevision[]>;
  /**
   * Restarts one member onto the desired revision and returns once its server is up again (replication catch-up is
   * the executor's to check). Throws a clear error naming the member and the cause when it is not up by `deadline`
   * (epoch ms) or cannot start at all.
   */
  restart(ordinal: number, deadline: number): Promise<void>;
  /**
   * Called with the primary after each switchover, before any further restart, and after each restart: whatever
   * names the primary outside the database (Kubernetes: the topology ConfigMap a starting pod reads, the pods' role
   * labels the primary Service selects) must follow, so a restarted old primary comes back read-only, clients reach
   * the new one, and a restarted pod, which comes back without its role label, gets it again.
   */
  namePrimary?(ordinal: number): Promise<void>;
}

/** A member that did not come back (or could not be restarted); the rollout stops on it. */
export class MemberRestartError extends Error {
  constructor(
    readonly ordinal: number,
    message: string,
  ) {
    super(message);
    this.name = "MemberRestartError";
  }
}
