/**
 * Connections to members, opened per operation and always closed. Errors name the member, never a password.
 */
import * as net from "node:net";
import * as mysql from "mysql2";
import { redact, SqlError } from "./errors";
import { addressOf, replicationAddress } from "./settings";
import { MemberAddress, ResolvedSettings, TlsSettings } from "./types";

export interface Sql {
  readonly index: number;
  readonly address: string;
  // Rows as the server sends them unless the caller names their columns' types.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  query<T = Record<string, any>>(sql: string, params?: unknown[], timeoutMs?: number): Promise<T[]>;
  close(): Promise<void>;
  /** Drops the connection without waiting (its session locks are released by the server). */
  destroy(): void;
  /** Encrypted, the member's certificate verified against settings.tls (chain and name). */
  readonly tls: boolean;
}

export async function connect(members: MemberAddress[], index: number, settings: ResolvedSettings): Promise<Sql> {
  const member = members[index];
  const address = addressOf(member);
  const secrets = [settings.admin.password, settings.replication.password, ...settings.accounts.map((a) => a.password)];
  const serverName = settings.tls ? (settings.tls.serverName?.(index) ?? replicationAddress(member).host) : undefined;
  let conn: mysql.Connection;
  try {
    // mysql2's callback API: its promise wrapper captures a stack trace for every call, a third of a short query's
    // CPU here, and the errors below name the member and statement anyway.
    conn = await open({
      host: member.host,
      port: member.port,
      ...(settings.tls ? tlsOptions(member, serverName!, settings.tls) : {}),
      user: settings.admin.user,
      password: settings.admin.password,
      connectTimeout: settings.connectTimeoutMs,
      supportBigNumbers: true,
      bigNumberStrings: false,
      // The engine prepares no statements, and mysql2 allocates each connection's statement cache at its full size
      // (16000 entries by default): on a 9-member inspect that garbage took a quarter of the CPU.
      maxPreparedStatements: 1,
    });
  } catch (err) {
    // Turning TLS on (tls.enabling): a member that does not offer TLS yet is reached in plain text, and says so (tls false).
    if (settings.tls?.enabling && (err as { code?: string })?.code === "HANDSHAKE_NO_SSL_SUPPORT")
      return connect(members, index, { ...settings, tls: undefined });
    throw new Error(`member ${index} (${address}): ${redact(describeError(err, serverName), secrets)}`);
  }
  return {
    index,
    address,
    tls: !!settings.tls,
    async query<T>(sql: string, params: unknown[] = [], timeoutMs?: number): Promise<T[]> {
      try {
        return await new Promise<T[]>((resolve, reject) =>
          conn.query({ sql, values: params, ...(timeoutMs ? { timeout: timeoutMs } : {}) }, (err, rows) =>
            err ? reject(err) : resolve(rows as T[]),
          ),
        );
      } catch (err) {
        const { code, errno } = err as { code?: string; errno?: number };
        const what = code === "PROTOCOL_SEQUENCE_TIMEOUT" ? `no answer within ${timeoutMs} ms` : describeError(err);
        throw new SqlError(`member ${index} (${address}): ${redact(what, secrets)}`, code, errno);
      }
    },
    async close() {
      await new Promise<void>((resolve) =>
        conn.end((err) => {
          if (err) conn.destroy();
          resolve();
        }),
      );
    },
    destroy() {
      conn.destroy();
    },
  };
}

/** `sql` with each statement bounded by `timeoutMs` unless it names its own bound. */
export function bounded(sql: Sql, timeoutMs: number): Sql {
  return {
    index: sql.index,
    address: sql.address,
    tls: sql.tls,
    query: (statement, params, ms) => sql.query(statement, params, ms ?? timeoutMs),
    close: () => sql.close(),
    destroy: () => sql.destroy(),
  };
}

/** A connected mysql2 connection, or the error of its handshake. */
function open(options: mysql.ConnectionOptions): Promise<mysql.Connection> {
  return new Promise((resolve, reject) => {
    const conn = mysql.createConnection(options);
    // A broken connection emits 'error' without a pending query; without a listener that would crash the process.
    conn.on("error", () => {});
    conn.connect((err) => {
      if (!err) return resolve(conn);
      conn.destroy();
      reject(err);
    });
  });
}

/**
 * mysql2 takes the name it verifies (and sends as SNI) from `host` and has no option of its own for it: so `host` is
 * the name the certificate must carry and the TCP stream goes to where the member really is (e.g. a port-forward on
 * loopback). `verifyIdentity` checks that name, `rejectUnauthorized` the chain up to the CA; a server without TLS
 * fails the handshake (mysql2 never falls back to plain text once `ssl` is set).
 */
function tlsOptions(member: MemberAddress, serverName: string, tls: TlsSettings): mysql.ConnectionOptions {
  // mysql2 leaves an IP address out of the check (Node then checks "localhost"): only DNS names are verified.
  if (net.isIP(serverName)) {
    throw new Error(
      `TLS: the member is named by the IP address ${serverName}, and the engine verifies members by DNS name: give its DNS name (replicationHost, tls.serverName, --tls-server-names)`,
    );
  }
  return {
    host: serverName,
    stream: () => net.connect({ host: member.host, port: member.port, noDelay: true }),
    ssl: { ca: tls.ca, rejectUnauthorized: true, verifyIdentity: true },
  };
}

function describeError(err: unknown, serverName?: string): string {
  const e = err as { code?: string; message?: string };
  const msg = e?.message || e?.code || String(err);
  if (e?.code === "ETIMEDOUT" && !/timed? ?out/i.test(msg)) return `connect timed out (${msg})`;
  // mysql2's codes for every failure of the TLS handshake (its chain or name check included) and for a server without TLS.
  if (e?.code === "HANDSHAKE_SSL_ERROR")
    return `TLS: the member's certificate did not verify as '${serverName}' against the configured CA: ${msg}`;
  if (e?.code === "HANDSHAKE_NO_SSL_SUPPORT")
    return `TLS: the member does not offer TLS (${msg}); the engine never falls back to plain text`;
  return msg;
}
