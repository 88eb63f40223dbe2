/**
 * The failover agent (like MOCO's controller loop): every `intervalMs` it inspects the members through the engine
 * (gather), decides (decide.ts, pure) and, only while it leads, acts through the engine's own operations: `failover`
 * of a primary that is gone, `fence` of a former primary that came back writable, then points the primary's
 * Kubernetes objects at the new primary, and keeps the members' role labels right every round (a recreated pod comes
 * without its label). The engine's topology lock still guards every operation, so an agent and a
 * `pulumi up` never move the primary at the same time. It reports what it sees as events (one JSON object per line
 * where the CLI prints them); states that last (refused, cooldown, suspect) are reported once per change, not
 * every interval.
 */
import { failover, fence, inspect, KeptConnections, ReplicationError, resolveSettings } from "../replication";
import type { EngineSettings, MemberAddress, Topology } from "../replication";
import { describeRoleLabels, labelRoles, pointAtPrimary, PrimaryObjects } from "../connectors/primary-objects";
import { memberPodName } from "../kubernetes/names";
import { countFailures, decide, Decision, FailureCount } from "./decide";
import { agentMetrics, FailoverResult, FAILOVER_RESULTS, Metric } from "./metrics";

export const AGENT_DEFAULTS = { intervalMs: 1000, failureThreshold: 3, cooldownSeconds: 300 };

/** One event: `event` names it; the other fields depend on it. Never carries a credential. */
export interface AgentEvent {
  time: string;
  event: string;
  [field: string]: unknown;
}

/** Whether this process may act now. */
export interface Leadership {
  leading(): boolean;
}

export interface AgentOptions {
  members: MemberAddress[];
  /** Engine settings (credentials, semi-sync, timeouts); `connectTimeoutMs` is also the per-member check timeout. */
  settings: EngineSettings;
  intervalMs?: number;
  failureThreshold?: number;
  cooldownSeconds?: number;
  /** Who may act; default: this process alone (the topology lock the only guard). */
  leadership?: Leadership;
  /** Point these at the new primary right after a failover; keep the role labels right every healthy round. */
  objects?: PrimaryObjects;
  emit: (event: AgentEvent) => void;
}

export class Agent {
  private readonly intervalMs: number;
  private readonly threshold: number;
  private readonly cooldownMs: number;
  /** A check that has not finished by then counts as a failed check (a member that accepts but never answers). */
  private readonly checkTimeoutMs: number;
  private count: FailureCount = { primary: null, failures: 0 };
  private cooldownUntil = 0;
  /** A failover of this agent whose objects are not pointed yet (a failed patch is retried every interval). */
  private pendingMove?: { from: number; to: number };
  /** The primary this leader's topology ConfigMap is known to name (undefined after a change of leadership). */
  private pointedAt?: number;
  /** Per kind of report (state, point, error): the last one made, so each is reported once per change. */
  private readonly reported = new Map<string, string>();
  private timer?: NodeJS.Timeout;
  private current?: Promise<void>;
  /** When the running round started (0: none running). */
  private roundStartedAt = 0;
  /** A round running longer than this is stuck: the engine's own deadline has passed well before. */
  private readonly stuckMs: number;
  private stopping = false;
  /** For /metrics: the last inspection, how long it took, and this process's failovers. */
  private lastTopology?: Topology;
  private inspectSeconds?: number;
  private readonly failovers = Object.fromEntries(FAILOVER_RESULTS.map((r) => [r, 0])) as Record<
    FailoverResult,
    number
  >;
  private lastFailoverSeconds?: number;
  /** The checks' connections, kept from one check to the next (a handshake per member and second less). */
  private readonly connections = new KeptConnections();

  constructor(private readonly options: AgentOptions) {
    this.intervalMs = options.intervalMs ?? AGENT_DEFAULTS.intervalMs;
    this.threshold = options.failureThreshold ?? AGENT_DEFAULTS.failureThreshold;
    this.cooldownMs = (options.cooldownSeconds ?? AGENT_DEFAULTS.cooldownSeconds) * 1000;
    const resolved = resolveSettings(options.settings);
    this.checkTimeoutMs = 2 * resolved.connectTimeoutMs + 1000;
    this.stuckMs = resolved.deadlineMs + 2 * this.checkTimeoutMs;
  }

  emit(event: string, fields: Record<string, unknown> = {}): void {
    this.options.emit({ time: new Date().toISOString(), event, ...fields });
  }

  /** Runs the first check now and then one every interval (never two at once). */
  start(): void {
    this.emit("started", {
      members: this.options.members.map((m) => `${m.host}:${m.port}`),
      intervalMs: this.intervalMs,
      failureThreshold: this.threshold,
      cooldownSeconds: this.cooldownMs / 1000,
      kubernetesObjects: !!this.options.objects,
    });
    const round = async () => {
      this.roundStartedAt = Date.now();
      this.current = this.tick();
      await this.current;
      this.roundStartedAt = 0;
      if (!this.stopping) this.timer = setTimeout(round, this.intervalMs);
    };
    void round();
  }

  /** Lets the running check or operation finish, then stops; no check starts afterwards. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.timer);
    await this.current;
    await this.connections.drop();
  }

  /** For a liveness probe: running, and no round stuck beyond every deadline it has. */
  health(): { ok: boolean; leading: boolean; primary: number | null } {
    const stuck = this.roundStartedAt > 0 && Date.now() - this.roundStartedAt > this.stuckMs;
    return { ok: !this.stopping && !stuck, leading: this.leading(), primary: this.count.primary };
  }

  /** The topology metrics (components/agent/metrics.ts) as of the last round. */
  metrics(): Metric[] {
    return agentMetrics({
      members: this.options.members.length,
      topology: this.lastTopology,
      inspectSeconds: this.inspectSeconds,
      failovers: { ...this.failovers },
      lastFailoverSeconds: this.lastFailoverSeconds,
      leading: this.leading(),
    });
  }

  private leading(): boolean {
    return this.options.leadership ? this.options.leadership.leading() : true;
  }

  /** One gather -> decide -> act round; never throws. */
  async tick(): Promise<void> {
    try {
      const topology = await this.check();
      this.count = countFailures(this.count, topology.topology);
      const { primary, failures } = this.count;
      if (failures > 0 && failures <= this.threshold && primary !== null) {
        const error = topology.topology ? topology.topology.members[primary].error : topology.error;
        this.emit("primary-unreachable", { primary, failures, threshold: this.threshold, error });
      }
      if (!topology.topology) return;
      // A new leader (another agent, or this one later) points the objects afresh.
      if (!this.leading()) [this.pointedAt, this.pendingMove] = [undefined, undefined];
      if (this.pendingMove) await this.point(this.pendingMove.to);
      const decision = decide({
        topology: topology.topology,
        failures,
        failureThreshold: this.threshold,
        cooldownRemainingMs: Math.max(0, this.cooldownUntil - Date.now()),
        leading: this.leading(),
      });
      await this.act(decision);
      if (decision.kind === "healthy") await this.point(decision.primary);
    } catch (err) {
      this.reportOnce("error", (err as Error).message, "error", { error: (err as Error).message });
    }
  }

  /** The engine's inspect, bounded: a member that accepts connections but never answers must not stall the loop. */
  private async check(): Promise<{ topology?: Topology; error?: string }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the members' inspection did not finish within ${this.checkTimeoutMs} ms`)),
        this.checkTimeoutMs,
      );
    });
    const started = Date.now();
    const inspection = inspect(this.options.members, this.options.settings, this.connections);
    inspection.catch(() => undefined);
    try {
      this.lastTopology = await Promise.race([inspection, timeout]);
      return { topology: this.lastTopology };
    } catch (err) {
      this.lastTopology = undefined;
      // The unfinished inspection closes its connections when it ends; the next check opens new ones.
      await this.connections.drop();
      return { error: (err as Error).message };
    } finally {
      clearTimeout(timer);
      this.inspectSeconds = (Date.now() - started) / 1000;
    }
  }

  private async act(d: Decision): Promise<void> {
    switch (d.kind) {
      case "healthy":
        return this.reportOnce("state", `healthy:${d.primary}`, "healthy", { primary: d.primary });
      case "primary-suspect":
        // Below the threshold each failed check was reported as primary-unreachable already.
        if (d.failures >= this.threshold)
          this.reportOnce("state", `suspect:${d.reason}`, "primary-suspect", { primary: d.primary, reason: d.reason });
        return;
      case "refused":
        return this.reportOnce("state", `refused:${d.reason}`, "refused", { reason: d.reason });
      case "cooldown":
        return this.reportOnce("state", `cooldown:${this.cooldownUntil}`, "cooldown", {
          primary: d.primary,
          remainingMs: d.remainingMs,
        });
      case "primary-failed":
        if (!d.act)
          return this.reportOnce("state", `failed:${d.primary}`, "primary-failed", {
            primary: d.primary,
            leading: false,
          });
        return this.failover(d.primary);
      case "old-primary-back":
        if (!d.act)
          return this.reportOnce("state", `back:${d.member}`, "old-primary-back", {
            member: d.member,
            primary: d.primary,
            leading: false,
          });
        return this.fence(d.member);
    }
  }

  private async failover(from: number): Promise<void> {
    // The lease may have lapsed while this round inspected.
    if (!this.leading()) return;
    const started = Date.now();
    try {
      const r = await failover(this.options.members, undefined, this.options.settings);
      this.failovers.success++;
      this.lastFailoverSeconds = Date.now() / 1000;
      this.cooldownUntil = Date.now() + this.cooldownMs;
      this.count = { primary: r.primary, failures: 0 };
      this.reported.delete("state");
      this.emit("failover", {
        from,
        to: r.primary,
        ms: Date.now() - started,
        possiblyLost: r.possiblyLost,
        warnings: r.warnings,
      });
      this.pendingMove = { from, to: r.primary };
      await this.point(r.primary);
    } catch (err) {
      this.failovers[err instanceof ReplicationError && err.refusal ? "refused" : "error"]++;
      this.operationFailed("failover", err);
    }
  }

  private async fence(member: number): Promise<void> {
    if (!this.leading()) return;
    try {
      const r = await fence(this.options.members, member, this.options.settings);
      this.reported.delete("state");
      if (!r.noop) this.emit("fenced", { member, primary: r.primary, possiblyLost: r.possiblyLost });
    } catch (err) {
      this.operationFailed("fence", err);
    }
  }

  /** A refusal changed nothing; any other error says what state the operation left. Both reported once per reason. */
  private operationFailed(operation: string, err: unknown): void {
    const message = (err as Error).message;
    if (err instanceof ReplicationError && err.refusal)
      this.reportOnce("state", `refused:${message}`, "refused", { operation, reason: message });
    else this.reportOnce("error", message, "error", { operation, error: message });
  }

  /**
   * Points the Kubernetes objects at `ordinal`. The topology ConfigMap once per leadership and primary: right after
   * this agent's failover (recording it, so the next `pulumi preview` says who moved the primary and why), and at the
   * primary a healthy round sees, which repairs a pointer a predecessor left stale (it died between its failover and
   * pointing). The role labels every time (one list of the pods; a patch only for a wrong label): a pod the
   * StatefulSet controller recreated comes without its label.
   */
  private async point(ordinal: number): Promise<void> {
    const objects = this.options.objects;
    if (!objects || !this.leading()) return;
    const mine = this.pendingMove?.to === ordinal ? this.pendingMove : undefined;
    try {
      const labelled =
        this.pointedAt === ordinal
          ? await labelRoles(objects, ordinal)
          : (
              await pointAtPrimary(
                objects,
                ordinal,
                mine ? { move: { from: mine.from, by: "the agent", operation: "failover" } } : {},
              )
            ).labelled;
      this.pointedAt = ordinal;
      this.reported.delete("point");
      if (labelled.length) this.emit("labelled", { primary: ordinal, labels: describeRoleLabels(labelled) });
      if (mine) {
        this.pendingMove = undefined;
        this.emit("pointed", {
          primary: ordinal,
          configMap: objects.topologyConfigMap,
          pod: memberPodName(objects.statefulSet, ordinal),
        });
      }
    } catch (err) {
      this.reportOnce("point", (err as Error).message, "error", { operation: "point", error: (err as Error).message });
    }
  }

  private reportOnce(kind: string, key: string, event: string, fields: Record<string, unknown>): void {
    if (this.reported.get(kind) === key) return;
    this.reported.set(kind, key);
    this.emit(event, fields);
  }
}
