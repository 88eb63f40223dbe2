/**
 * One decider among several agents: a coordination.k8s.io/v1 Lease, as client-go's leader election uses it. The
 * holder renews it every `renewIntervalMs`; every write carries the resourceVersion it read, so of two writers one
 * gets 409 Conflict and has lost. Another agent takes the Lease only after it saw the record unchanged for a whole
 * lease duration (its own clock, never the holder's renewTime: clocks differ). The holder counts itself leader only
 * until (start of its last successful renewal) + lease duration - safety margin, so a holder that cannot renew stops
 * acting before anyone else may start.
 */
import type * as k8s from "@kubernetes/client-node";
import {
  apiMessage,
  apiStatusCode,
  ClusterAccess,
  kubeConfigFor,
  loadKubernetesClient,
} from "../connectors/kube-config";

export const LEASE_DEFAULTS = { leaseDurationSeconds: 15, renewIntervalMs: 5000, safetyMarginMs: 5000 };

export interface LeaseOptions extends ClusterAccess {
  namespace: string;
  name: string;
  /** holderIdentity written into the Lease (unique per process). */
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the holder renews and a waiting agent retries. */
  renewIntervalMs?: number;
  /** The holder stops acting this long before its lease could expire. Must be below the lease duration. */
  safetyMarginMs?: number;
  /** Leadership changed (holder: who holds the Lease as last read, if known). */
  onChange?: (leading: boolean, holder: string | undefined) => void;
  /** A Lease request failed (the message names the Lease; never a credential). */
  onError?: (message: string) => void;
}

/** A Lease request answered 409 Conflict: another writer changed it since we read it. */
export class LeaseConflict extends Error {}

interface Observed {
  holder: string;
  renewTime: string;
  resourceVersion: string;
  /** Local clock when this record was first seen. */
  seenAt: number;
}

export class LeaseElector {
  private readonly api: k8s.CoordinationV1Api;
  private readonly client: typeof k8s;
  private readonly opts: Required<Omit<LeaseOptions, keyof ClusterAccess | "onChange" | "onError">> &
    Pick<LeaseOptions, "onChange" | "onError">;
  /** Local time until which this process may act as leader. */
  private validUntil = 0;
  private observed?: Observed;
  private lastLeading = false;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private stopped = false;

  constructor(options: LeaseOptions) {
    this.client = loadKubernetesClient();
    this.api = kubeConfigFor(this.client, options).makeApiClient(this.client.CoordinationV1Api);
    this.opts = { ...LEASE_DEFAULTS, ...dropUndefined(options) } as LeaseElector["opts"];
    if (this.opts.safetyMarginMs >= this.opts.leaseDurationSeconds * 1000) {
      throw new Error(
        `lease safety margin ${this.opts.safetyMarginMs} ms must be below the lease duration ${this.opts.leaseDurationSeconds} s`,
      );
    }
  }

  get identity(): string {
    return this.opts.identity;
  }

  /** True while this process holds the Lease with time to spare. */
  leading(): boolean {
    return Date.now() < this.validUntil;
  }

  /** Tries at once, then every renew interval, until stop(). */
  start(): void {
    const round = async () => {
      this.running = this.tryAcquireOrRenew().then(
        () => undefined,
        (err) => this.fail(err),
      );
      await this.running;
      this.notify();
      if (!this.stopped) this.timer = setTimeout(round, this.opts.renewIntervalMs);
    };
    void round();
  }

  /** Stops renewing and acting; releases the Lease if held, so another agent takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    const held = this.leading() || this.observed?.holder === this.opts.identity;
    this.validUntil = 0;
    this.notify();
    if (!held) return;
    try {
      await this.release();
    } catch (err) {
      this.fail(err);
    }
  }

  /**
   * One round: read the Lease; create it if missing, renew it if ours, take it if free or expired; else wait.
   * Returns whether this process leads afterwards.
   */
  async tryAcquireOrRenew(): Promise<boolean> {
    const now = Date.now();
    const { namespace, name, identity, leaseDurationSeconds } = this.opts;
    const current = await this.read();
    if (!current) {
      const at = this.microTime(now);
      const body: k8s.V1Lease = {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec: { holderIdentity: identity, leaseDurationSeconds, acquireTime: at, renewTime: at, leaseTransitions: 0 },
      };
      const created = await this.write(() => this.api.createNamespacedLease({ namespace, body }));
      return this.won(created, now);
    }
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const record: Observed = {
      holder,
      renewTime: String(spec.renewTime ?? ""),
      resourceVersion: current.metadata?.resourceVersion ?? "",
      seenAt: now,
    };
    if (!this.observed || this.observed.holder !== record.holder || this.observed.renewTime !== record.renewTime)
      this.observed = record;
    else this.observed.resourceVersion = record.resourceVersion;
    const duration = (spec.leaseDurationSeconds ?? leaseDurationSeconds) * 1000;
    if (holder && holder !== identity && now < this.observed.seenAt + duration) {
      this.validUntil = 0;
      return false;
    }
    const ours = holder === identity;
    const at = this.microTime(now);
    const body: k8s.V1Lease = {
      ...current,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds,
        renewTime: at,
        acquireTime:
          ours && spec.acquireTime ? this.microTime(new Date(spec.acquireTime as unknown as string).getTime()) : at,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
    };
    const updated = await this.write(() => this.api.replaceNamespacedLease({ namespace, name, body }));
    return this.won(updated, now);
  }

  /** Who holds the Lease as last read ("" when free). */
  get holder(): string | undefined {
    return this.observed?.holder;
  }

  private won(lease: k8s.V1Lease | undefined, startedAt: number): boolean {
    if (!lease) {
      this.validUntil = 0;
      return false;
    }
    this.observed = {
      holder: this.opts.identity,
      renewTime: String(lease.spec?.renewTime ?? ""),
      resourceVersion: lease.metadata?.resourceVersion ?? "",
      seenAt: startedAt,
    };
    // From when the request was sent: the API server may have written it any time after that.
    this.validUntil = startedAt + this.opts.leaseDurationSeconds * 1000 - this.opts.safetyMarginMs;
    return true;
  }

  private async read(): Promise<k8s.V1Lease | undefined> {
    try {
      return await this.bounded(this.api.readNamespacedLease({ name: this.opts.name, namespace: this.opts.namespace }));
    } catch (err) {
      if (apiStatusCode(err) === 404) return undefined;
      throw err;
    }
  }

  /** A create or update; undefined when it lost a race (409: AlreadyExists on create, Conflict on update). */
  private async write(call: () => Promise<k8s.V1Lease>): Promise<k8s.V1Lease | undefined> {
    try {
      return await this.bounded(call());
    } catch (err) {
      if (apiStatusCode(err) === 409) return undefined;
      throw err;
    }
  }

  /** Gives the Lease up: no holder, so a waiting agent need not wait out the duration (client-go's release). */
  private async release(): Promise<void> {
    const { namespace, name } = this.opts;
    const current = await this.read();
    if (!current || current.spec?.holderIdentity !== this.opts.identity) return;
    const at = this.microTime(Date.now());
    const body: k8s.V1Lease = {
      ...current,
      spec: { ...current.spec, holderIdentity: undefined, leaseDurationSeconds: 1, renewTime: at, acquireTime: at },
    };
    const released = await this.write(() => this.api.replaceNamespacedLease({ namespace, name, body }));
    if (!released) throw new LeaseConflict(`Lease ${namespace}/${name} changed while being released`);
  }

  /** A request that hangs must not hold up the next round: the lease times out by the clock meanwhile. */
  private bounded<T>(promise: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${this.opts.renewIntervalMs} ms`)),
        this.opts.renewIntervalMs,
      );
    });
    promise.catch(() => undefined);
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** MicroTime: the API server parses exactly 6 fractional digits; V1MicroTime serializes so. */
  private microTime(ms: number): k8s.V1MicroTime {
    return new this.client.V1MicroTime(ms);
  }

  private fail(err: unknown): void {
    const code = apiStatusCode(err);
    this.opts.onError?.(
      `Lease ${this.opts.namespace}/${this.opts.name}: ${apiMessage(err)}${code ? ` (HTTP ${code})` : ""}`,
    );
  }

  private notify(): void {
    const leading = this.leading();
    if (leading === this.lastLeading) return;
    this.lastLeading = leading;
    this.opts.onChange?.(leading, this.observed?.holder);
  }
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
