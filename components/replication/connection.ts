/**
 * Connections to members, opened per operation and always closed. Errors name the member, never a password.
 */
import * as mysql from "mysql2/promise";
import { redact } from "./errors";
import { addressOf } from "./settings";
import { MemberAddress, ResolvedSettings } from "./types";

export interface Sql {
  readonly index: number;
  readonly address: string;
  query<T = Record<string, any>>(sql: string, params?: unknown[], timeoutMs?: number): Promise<T[]>;
  close(): Promise<void>;
  /** Drops the connection without waiting (its session locks are released by the server). */
  destroy(): void;
}

export async function connect(members: MemberAddress[], index: number, settings: ResolvedSettings): Promise<Sql> {
  const member = members[index];
  const address = addressOf(member);
  const secrets = [settings.admin.password, settings.replication.password, ...settings.accounts.map((a) => a.password)];
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({
      host: member.host,
      port: member.port,
      user: settings.admin.user,
      password: settings.admin.password,
      connectTimeout: settings.connectTimeoutMs,
      supportBigNumbers: true,
      bigNumberStrings: false,
    });
  } catch (err) {
    throw new Error(`member ${index} (${address}): ${redact(describeError(err), secrets)}`);
  }
  // A broken connection emits 'error' without a pending query; without a listener that would crash the process.
  conn.on("error", () => {});
  return {
    index,
    address,
    async query<T>(sql: string, params: unknown[] = [], timeoutMs?: number): Promise<T[]> {
      try {
        const [rows] = await conn.query({ sql, values: params, ...(timeoutMs ? { timeout: timeoutMs } : {}) });
        return rows as T[];
      } catch (err) {
        throw new Error(`member ${index} (${address}): ${redact(describeError(err), secrets)}`);
      }
    },
    async close() {
      try {
        await conn.end();
      } catch {
        conn.destroy();
      }
    },
    destroy() {
      conn.destroy();
    },
  };
}

function describeError(err: unknown): string {
  const e = err as { code?: string; message?: string };
  const msg = e?.message || e?.code || String(err);
  if (e?.code === "ETIMEDOUT" && !/timed? ?out/i.test(msg)) return `connect timed out (${msg})`;
  return msg;
}
