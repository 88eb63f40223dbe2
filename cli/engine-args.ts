/**
 * What the engine commands (setup, status, switchover, failover, agent) share: the members (--members, or --stack in
 * cluster mode), connection and timing options, engine settings built from them, and how an engine outcome becomes
 * an exit code.
 */
import * as fs from "node:fs";
import { Command, UsageError, parseCommandArgs } from "./command";
import {
  CLUSTER_OPTIONS,
  CLUSTER_OPTIONS_HELP,
  ClusterError,
  ClusterSecrets,
  ClusterTarget,
  clusterTarget,
  openClusterMembers,
  primaryObjectsOf,
  readClusterSecrets,
} from "./cluster";
import { adminCredentials, replicationCredentials } from "./credentials";
import { TLS_PATHS } from "../components/kubernetes/tls";
import type { EngineSettings, Flavor, MemberAddress, OperationResult, TlsSettings } from "../components/replication";

export const ENGINE_OPTIONS = {
  members: { type: "string" },
  flavor: { type: "string" },
  "password-file": { type: "string" },
  "replication-password-file": { type: "string" },
  async: { type: "boolean" },
  "semi-sync-timeout-ms": { type: "string" },
  "catch-up-timeout-ms": { type: "string" },
  "timeout-ms": { type: "string" },
  "connect-timeout-ms": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-member-ca": { type: "string" },
  "tls-server-names": { type: "string" },
  ...CLUSTER_OPTIONS,
} as const;

export const ENGINE_OPTIONS_HELP = `  --members H:P,...              the members in ordinal order (index = position, from 0); or --stack
${CLUSTER_OPTIONS_HELP}
                                 (with --stack the flags below default to the stack's config; the passwords
                                 come from its Secret, so --password-file and the environment are not used)
  --flavor NAME                  the database flavor, as config flavor (default mariadb)
  --password-file FILE           admin password (else MYSQL_HA_PASSWORD; user MYSQL_HA_USER, default root)
  --replication-password-file F  replication password (else MYSQL_HA_REPLICATION_PASSWORD;
                                 user MYSQL_HA_REPLICATION_USER, default replication)
  --async                        asynchronous replication (default: semi-synchronous)
  --semi-sync-timeout-ms N       primary waits this long for a replica's acknowledgement (default 10000)
  --catch-up-timeout-ms N        how long a member may take to apply what it must (default 10000)
  --timeout-ms N                 overall deadline of the operation (default 60000)
  --connect-timeout-ms N         per connection (default 3000)
  --tls-ca FILE                  TLS with verification, no plain-text fallback: the CA (PEM) that signed the
                                 members' certificates (else MYSQL_HA_TLS_CA); replicas use TLS too
  --tls-member-ca PATH           that CA's file on the members, for replication (default ${TLS_PATHS.ca})
  --tls-server-names N,...       the name each member's certificate must carry, in --members order
                                 (default: the --members host; e.g. pod DNS names through port-forwards)
  -h, --help                     this text`;

export const EXIT_CODES_HELP = `Exit status: 0 done or nothing to do; 1 error or aborted (the message says what state it left);
2 usage error; 3 refused by a safety rule (nothing was changed).`;

/** Parses "h:p,h:p" strictly; every error names the bad entry. A member listed twice would be two "members". */
export function parseMembers(value: string | undefined): MemberAddress[] {
  if (!value)
    throw new UsageError("--members is required: host:port of every member in ordinal order, comma-separated");
  const seen = new Map<string, number>();
  return value.split(",").map((entry, i) => {
    const m = /^\s*([^\s:]+|\[[0-9a-fA-F:]+\]):(\d{1,5})\s*$/.exec(entry);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535)
      throw new UsageError(`--members entry ${i} '${entry}' is not host:port (port 1-65535)`);
    const member = { host: m[1].replace(/^\[|\]$/g, ""), port };
    const key = `${member.host.toLowerCase()}:${port}`;
    if (seen.has(key))
      throw new UsageError(
        `--members entry ${i} '${entry.trim()}' repeats entry ${seen.get(key)}: each member once, in ordinal order`,
      );
    seen.set(key, i);
    return member;
  });
}

function ms(value: string | undefined, flag: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) <= 0)
    throw new UsageError(`${flag} '${value}' is not a positive number of milliseconds`);
  return Number(value);
}

/** Parses a member index option against the member count. */
export function memberIndex(value: string | undefined, flag: string, count: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n >= count)
    throw new UsageError(`${flag} '${value}' is not a member index: allowed 0..${count - 1}`);
  return n;
}

export type EngineArgs = NonNullable<ReturnType<typeof parseEngineArgs>>;

/**
 * Parses the command's argv (engine options plus `extra`); undefined after --help. Either `members` (--members) or
 * `target` (--stack); `count` is the number of members either way.
 */
export function parseEngineArgs<E extends Record<string, { type: "string" | "boolean" }>>(
  command: Command,
  argv: string[],
  extra: E,
) {
  const parsed = parseCommandArgs(command, argv, { ...ENGINE_OPTIONS, ...extra });
  if (!parsed) return undefined;
  return engineArgsOf(parsed as Record<string, string | boolean | undefined>);
}

/** The members or the cluster-mode target of parsed options. */
function engineArgsOf(values: Record<string, string | boolean | undefined>): {
  values: typeof values;
  members?: MemberAddress[];
  target?: ClusterTarget;
  count: number;
} {
  const target = engineClusterTarget(values);
  if (target) return { values, target, count: target.settings.replicas };
  const members = parseMembers(values.members as string | undefined);
  return { values, members, count: members.length };
}

/** The cluster-mode target of an engine command (undefined without --stack), refusing what the stack gives itself. */
export function engineClusterTarget(values: Record<string, unknown>): ClusterTarget | undefined {
  const target = clusterTarget(values);
  for (const flag of ["password-file", "replication-password-file", "tls-server-names"]) {
    if (target && values[flag] !== undefined) {
      throw new UsageError(
        `--${flag} does not go with --stack: ${flag === "tls-server-names" ? "the members' certificates carry their DNS names" : "the passwords come from the stack's Secret"}`,
      );
    }
  }
  return target;
}

/** Larger than any CA bundle: a file this big is the wrong file. */
const MAX_CA_FILE_BYTES = 1 << 20;

/** TLS settings from --tls-ca (or MYSQL_HA_TLS_CA), undefined without either; every error names the flag and file. */
export function tlsSettings(
  values: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): TlsSettings | undefined {
  const file = (values["tls-ca"] as string | undefined) ?? (env.MYSQL_HA_TLS_CA || undefined);
  const flag = values["tls-ca"] !== undefined ? "--tls-ca" : "MYSQL_HA_TLS_CA";
  if (file === undefined) {
    for (const f of ["tls-member-ca", "tls-server-names"])
      if (values[f] !== undefined) throw new UsageError(`--${f} needs --tls-ca FILE (or MYSQL_HA_TLS_CA)`);
    return undefined;
  }
  let ca: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile() || stat.size > MAX_CA_FILE_BYTES)
      throw new UsageError(`${flag} ${file}: not a CA file (a regular file of at most ${MAX_CA_FILE_BYTES} bytes)`);
    ca = fs.readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!/-----BEGIN CERTIFICATE-----/.test(ca))
    throw new UsageError(`${flag} ${file}: no PEM certificate in it (-----BEGIN CERTIFICATE-----)`);
  const names = (values["tls-server-names"] as string | undefined)?.split(",").map((n) => n.trim());
  const members = typeof values.members === "string" ? values.members.split(",").length : undefined;
  if (
    names &&
    ((members !== undefined && names.length !== members) || names.some((n) => !/^[A-Za-z0-9.:-]+$/.test(n)))
  ) {
    throw new UsageError(
      `--tls-server-names '${values["tls-server-names"]}': one host name per member, in --members order, comma-separated`,
    );
  }
  return {
    ca,
    caPath: (values["tls-member-ca"] as string | undefined) ?? TLS_PATHS.ca,
    ...(names ? { serverName: (i: number) => names[i] } : {}),
  };
}

/** The flavor --flavor names; mariadb, the config's default, when it is not given. */
function flavorOption(value: string | undefined): Flavor {
  // Loaded here, not at the top: the engine (mysql2) stays out of the CLI's start.
  const { FLAVORS } = require("../components/replication") as typeof import("../components/replication");
  const name = value ?? "mariadb";
  if (!Object.hasOwn(FLAVORS, name))
    throw new UsageError(`--flavor '${name}' is not a flavor: one of ${Object.keys(FLAVORS).join(", ")}`);
  return FLAVORS[name];
}

/**
 * Engine settings from parsed options; progress lines go to stdout. Replication credentials only when needed. In
 * cluster mode the stack's config gives what the flags do not (flavor, semi-sync, the operation's deadline, as the
 * stack's agent runs with them) and `cluster` the credentials and the CA read from its Secrets.
 */
export function engineSettings(
  values: Record<string, unknown>,
  needReplication: boolean,
  log: (line: string) => void,
  cluster?: { target: ClusterTarget; secrets: ClusterSecrets },
): EngineSettings {
  const stack = cluster?.target.settings;
  return {
    flavor: flavorOption((values.flavor as string | undefined) ?? stack?.flavor),
    tls: cluster ? cluster.secrets.tls : tlsSettings(values),
    admin: cluster ? cluster.secrets.admin : adminCredentials(values["password-file"] as string | undefined),
    replication: cluster
      ? cluster.secrets.replication
      : needReplication
        ? replicationCredentials(values["replication-password-file"] as string | undefined)
        : { user: "", password: "" },
    semiSync: !values.async && (stack?.semiSync ?? true),
    semiSyncTimeoutMs: ms(
      values["semi-sync-timeout-ms"] as string | undefined,
      "--semi-sync-timeout-ms",
      stack?.semiSyncTimeoutMs ?? 10000,
    )!,
    catchUpTimeoutMs: ms(values["catch-up-timeout-ms"] as string | undefined, "--catch-up-timeout-ms", undefined),
    deadlineMs: ms(
      values["timeout-ms"] as string | undefined,
      "--timeout-ms",
      stack && stack.operationTimeoutSeconds * 1000,
    ),
    connectTimeoutMs: ms(values["connect-timeout-ms"] as string | undefined, "--connect-timeout-ms", undefined),
    log,
  };
}

/** What an engine command runs with: the members, the settings, and in cluster mode the target. */
export interface EngineSession {
  members: MemberAddress[];
  settings: EngineSettings;
  target?: ClusterTarget;
}

/**
 * Runs `fn` against the members: as given (--members), or in cluster mode through the stack's port-forwards with its
 * Secrets' credentials, the tunnels closed afterwards and their failures (e.g. a port-forward refused by RBAC)
 * printed. A cluster failure (no such context, an API call refused) is one line on stderr and exit 1.
 */
export async function withEngine(
  name: string,
  args: EngineArgs,
  needReplication: boolean,
  log: (line: string) => void,
  fn: (session: EngineSession) => Promise<number>,
): Promise<number> {
  const { target, values } = args;
  if (!target) return fn({ members: args.members!, settings: engineSettings(values, needReplication, log) });
  const tls = tlsSettings(values);
  flavorOption((values.flavor as string | undefined) ?? target.settings.flavor); // a bad --flavor before any API call
  let tunnels: Awaited<ReturnType<typeof openClusterMembers>> | undefined;
  try {
    const secrets = await readClusterSecrets(target, tls);
    tunnels = await openClusterMembers(target);
    const code = await fn({
      members: tunnels.members,
      settings: engineSettings(values, needReplication, log, { target, secrets }),
      target,
    });
    for (const problem of tunnels.problems()) process.stderr.write(`mysql-ha ${name}: ${problem}\n`);
    return code;
  } catch (err) {
    if (!(err instanceof ClusterError)) throw err;
    process.stderr.write(`mysql-ha ${name}: ${err.message}\n`);
    return 1;
  } finally {
    await tunnels?.close();
  }
}

/** Runs an engine operation: prints its progress and a summary; maps refusals and errors to one line and an exit code. */
export async function runOperation(name: string, op: () => Promise<OperationResult>): Promise<number> {
  const { ReplicationError } = require("../components/replication") as typeof import("../components/replication");
  try {
    const r = await op();
    for (const w of r.warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(
      r.noop
        ? `${name}: nothing to do; primary is member ${r.primary}\n`
        : `${name}: done; primary is member ${r.primary}\n`,
    );
    return 0;
  } catch (err) {
    const message = ((err as Error).message || String(err)).split("\n")[0];
    process.stderr.write(
      `mysql-ha ${name}: ${err instanceof ReplicationError && err.refusal ? "refused: " : ""}${message}\n`,
    );
    return err instanceof ReplicationError && err.refusal ? 3 : 1;
  }
}

/**
 * Runs an operation that may move the primary (switchover, failover). In cluster mode the stack's topology ConfigMap
 * and the members' role labels then follow the primary (the write endpoint moves), with a record of the move that
 * `pulumi preview` reports ("primary moved 0 -> 2 by mysql-ha switchover"), as after the agent's failovers.
 */
export function runMove(
  name: "switchover" | "failover",
  session: EngineSession,
  op: () => Promise<OperationResult>,
): Promise<number> {
  return runOperation(name, async () => {
    const { target, members, settings } = session;
    const { inspect } = require("../components/replication") as typeof import("../components/replication");
    const from = target ? (await inspect(members, settings)).primary : null;
    const result = await op();
    if (!target || result.noop) return result;
    const { describeRoleLabels, pointAtPrimary } =
      require("../components/connectors/primary-objects") as typeof import("../components/connectors/primary-objects");
    const objects = primaryObjectsOf(target);
    try {
      const { labelled } = await pointAtPrimary(objects, result.primary, {
        move: { from, by: `mysql-ha ${name}`, operation: name },
      });
      settings.log?.(
        `ConfigMap ${objects.namespace}/${objects.topologyConfigMap} names member ${result.primary}${labelled.length ? `; role labels set: ${describeRoleLabels(labelled)}` : ""}`,
      );
    } catch (err) {
      throw new Error(
        `the ${name} is done (primary is member ${result.primary}) but the write endpoint does not follow yet: ${(err as Error).message}; run 'pulumi up' (or this command again) to point it`,
      );
    }
    return result;
  });
}
