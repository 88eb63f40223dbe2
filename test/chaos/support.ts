/**
 * Shared pieces of the chaos suite: a semi-sync topology of real local members set up by the engine, the
 * acknowledged-write checker following the primary the engine reports, and convergence checks.
 */
import {
  destroyAll,
  LOCAL_ROOT_PASSWORD,
  LOCAL_ROOT_USER,
  LocalServer,
  REPLICATION_OPTIONS,
  ServerOptions,
  sleep,
  startServer,
  startServers,
} from "../../local/mariadbd";
import type { LabHost, NetworkLab } from "../../local/netns";
import { AckWriter, prepareWriterSchema } from "../../local/writer";
import {
  ApplyResult,
  apply,
  DesiredTopology,
  EngineSettings,
  inspect,
  mariadb,
  MemberAddress,
  Plan,
  plan,
  setup,
} from "../../components/replication";

export interface ChaosTopology {
  servers: LocalServer[];
  members: MemberAddress[];
  settings: EngineSettings;
  /** The primary as the engine last reported it; the writer follows this (like the primary Service). */
  primary: number;
  writer: AckWriter;
  /** Engine progress lines, for failure messages. */
  lines: string[];
  /** Called with every engine progress line (tests inject faults at a named step). */
  onLine?: (line: string) => void;
}

/** Engine settings for local members: their administrator, semi-sync on, the engine's own timeouts unless `extra` sets them. */
export function localSettings(log: (line: string) => void, extra: Partial<EngineSettings> = {}): EngineSettings {
  return {
    admin: { user: LOCAL_ROOT_USER, password: LOCAL_ROOT_PASSWORD },
    replication: { user: "repl", password: "chaos-repl-pw" },
    semiSync: true,
    semiSyncTimeoutMs: 5000,
    flavor: mariadb,
    log,
    ...extra,
  };
}

/** Local settings with timeouts short enough that every fault ends quickly. */
export function chaosSettings(
  lines: string[],
  onLine: (line: string) => void,
  extra: Partial<EngineSettings> = {},
): EngineSettings {
  const log = (line: string) => {
    lines.push(line);
    onLine(line);
  };
  return localSettings(log, { connectTimeoutMs: 1500, catchUpTimeoutMs: 5000, deadlineMs: 30000, ...extra });
}

/** Members as the engine sees them. */
export function addressesOf(servers: LocalServer[]): MemberAddress[] {
  return servers.map((s) => ({ host: s.host, port: s.port }));
}

/**
 * Server options of a chaos member: replication plus `read_only` at start, as init-server.sh writes for every member
 * the topology ConfigMap does not name primary, so a restarted member comes back read-only (the engine makes the
 * primary writable).
 */
export const MEMBER_OPTIONS = { ...REPLICATION_OPTIONS, "read-only": 1 };

/** Members m0, m1, ... each in its own network namespace of `network` (so that one can be partitioned). */
export async function startMembersIn(
  network: NetworkLab,
  count: number,
  options: ServerOptions,
  serverIdBase: number,
): Promise<{ hosts: LabHost[]; servers: LocalServer[] }> {
  const hosts: LabHost[] = [];
  for (let i = 0; i < count; i++) hosts.push(await network.addHost(`m${i}`));
  const servers = await Promise.all(
    hosts.map((h, i) =>
      startServer({
        serverId: serverIdBase + i,
        options,
        netns: h.netns,
        host: h.ip,
        adminHostPattern: network.hostPattern,
      }),
    ),
  );
  return { hosts, servers };
}

/** Starts `count` members (or uses `servers`), sets member 0 up as primary and prepares the writer (not started). */
export async function startChaosTopology(opts: {
  count?: number;
  serverIdBase: number;
  servers?: LocalServer[];
  settings?: Partial<EngineSettings>;
}): Promise<ChaosTopology> {
  const servers = opts.servers ?? (await startServers(opts.count ?? 3, MEMBER_OPTIONS, opts.serverIdBase));
  const lines: string[] = [];
  const topology: ChaosTopology = {
    servers,
    members: addressesOf(servers),
    settings: chaosSettings(lines, (line) => topology.onLine?.(line), opts.settings),
    primary: 0,
    writer: undefined as unknown as AckWriter,
    lines,
  };
  topology.writer = new AckWriter({ resolvePrimary: () => servers[topology.primary], writeTimeoutMs: 3000 });
  try {
    await setup(topology.members, 0, topology.settings);
    await prepareWriterSchema(servers[0]);
  } catch (err) {
    await destroyAll(servers);
    throw err;
  }
  return topology;
}

/** Test teardown: stops the writer (whatever state it is in) and destroys the members. */
export async function stopChaosTopology(t: ChaosTopology | undefined): Promise<void> {
  await t?.writer.stop().catch(() => undefined);
  if (t) await destroyAll(t.servers);
}

/** For the calling describe block: starts a topology in a test (startChaosTopology) and stops it after the test. */
export function chaosTopologyPerTest(): (opts: Parameters<typeof startChaosTopology>[0]) => Promise<ChaosTopology> {
  let t: ChaosTopology | undefined;
  afterEach(async () => {
    await stopChaosTopology(t);
    t = undefined;
  });
  return async (opts) => (t = await startChaosTopology(opts));
}

/** What a `pulumi up` does to the topology: inspect, plan, apply (refusals throw). */
export async function reconcile(
  t: ChaosTopology,
  desired: DesiredTopology,
): Promise<{ plan: Plan; applied: ApplyResult }> {
  const p = plan(await inspect(t.members, t.settings), desired);
  return { plan: p, applied: await apply(t.members, p, t.settings) };
}

/** Waits until `replica` has executed everything `primary` has (bounded); returns false on timeout. */
export async function caughtUp(replica: LocalServer, primary: LocalServer, timeoutMs = 10000): Promise<boolean> {
  const [{ pos }] = await primary.query<{ pos: string }>("SELECT @@gtid_binlog_pos AS pos");
  const [{ r }] = await replica.query<{ r: number }>("SELECT MASTER_GTID_WAIT(?, ?) AS r", [pos, timeoutMs / 1000]);
  return Number(r) === 0;
}

/** Rejects when `promise` takes longer than `ms`: every fault must end in a bounded time. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms)),
  );
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The writable members among those reachable (read as administrator, bounded per member). */
export async function writableMembers(servers: LocalServer[]): Promise<number[]> {
  const states = await Promise.all(
    servers.map((s) =>
      within(2000, "read_only probe", s.query<{ ro: number }>("SELECT @@global.read_only AS ro")).then(
        (rows) => Number(rows[0].ro) === 0,
        () => false,
      ),
    ),
  );
  return states.flatMap((w, i) => (w ? [i] : []));
}

export { sleep };
