import { EngineSettings, MemberAddress, MemberStatus, ResolvedSettings, TlsSettings } from "./types";

/** The one place engine defaults live. */
export const DEFAULTS = {
  connectTimeoutMs: 3000,
  catchUpTimeoutMs: 10000,
  deadlineMs: 60000,
};

export function resolveSettings(settings: EngineSettings): ResolvedSettings {
  return {
    connectTimeoutMs: DEFAULTS.connectTimeoutMs,
    catchUpTimeoutMs: DEFAULTS.catchUpTimeoutMs,
    deadlineMs: DEFAULTS.deadlineMs,
    log: () => {},
    accounts: [],
    ...dropUndefined(settings),
  } as ResolvedSettings;
}

function dropUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function addressOf(m: MemberAddress): string {
  return `${m.host}:${m.port}`;
}

/** Where the other members reach this one. */
export function replicationAddress(m: MemberAddress): { host: string; port: number } {
  return { host: m.replicationHost ?? m.host, port: m.replicationPort ?? m.port };
}

/**
 * Whether `replica` must replicate from `source` over verified TLS: always with TLS on, except while TLS is being
 * turned on (tls.enabling), then once both serve it (as the engine saw them).
 */
export function replicationTlsDue(
  tls: Pick<TlsSettings, "enabling"> | undefined,
  replica: Pick<MemberStatus, "tls">,
  source: Pick<MemberStatus, "tls"> | undefined,
): boolean {
  return !!tls && (!tls.enabling || (!!replica.tls && !!source?.tls));
}
