import { EngineSettings, MemberAddress, ResolvedSettings } from "./types";

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
