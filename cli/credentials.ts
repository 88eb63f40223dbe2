/**
 * Database credentials for the CLI: from the environment or a file, never from argv (visible in `ps` and shell
 * history), never printed.
 */
import * as fs from "node:fs";
import { UsageError } from "./command";
import type { Credentials } from "../components/replication";

/** Larger than any password: a file this big is the wrong file (and is not read into memory whole). */
export const MAX_PASSWORD_FILE_BYTES = 4096;

function fromFile(file: string, flag: string, warn: (line: string) => void): string {
  let text: string;
  try {
    const stat = fs.statSync(file);
    if (!stat.isFile()) throw new UsageError(`${flag} ${file}: not a regular file`);
    if (stat.size > MAX_PASSWORD_FILE_BYTES)
      throw new UsageError(
        `${flag} ${file}: ${stat.size} bytes is not a password file (at most ${MAX_PASSWORD_FILE_BYTES})`,
      );
    if (stat.mode & 0o077)
      warn(
        `warning: ${flag} ${file} can be read or written by others (mode ${(stat.mode & 0o777).toString(8)}): chmod 600 ${file}`,
      );
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (!password) throw new UsageError(`${flag} ${file}: the file is empty`);
  return password;
}

/** Administrative account: user MYSQL_HA_USER (default root), password from --password-file or MYSQL_HA_PASSWORD. */
export function adminCredentials(
  passwordFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn = stderrLine,
): Credentials {
  const user = env.MYSQL_HA_USER || "root";
  if (passwordFile) return { user, password: fromFile(passwordFile, "--password-file", warn) };
  const password = env.MYSQL_HA_PASSWORD;
  if (!password)
    throw new UsageError(
      "the admin password is needed: set MYSQL_HA_PASSWORD or pass --password-file FILE (never on the command line)",
    );
  return { user, password };
}

/**
 * Replication account (replicas use it to connect to the primary): user MYSQL_HA_REPLICATION_USER (default
 * "replication", as the Kubernetes Secret names it), password from --replication-password-file or
 * MYSQL_HA_REPLICATION_PASSWORD. Needed by commands that point replicas at a primary.
 */
export function replicationCredentials(
  passwordFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn = stderrLine,
): Credentials {
  const user = env.MYSQL_HA_REPLICATION_USER || "replication";
  if (passwordFile) return { user, password: fromFile(passwordFile, "--replication-password-file", warn) };
  const password = env.MYSQL_HA_REPLICATION_PASSWORD;
  if (!password) {
    throw new UsageError(
      "the replication password is needed: set MYSQL_HA_REPLICATION_PASSWORD or pass --replication-password-file FILE",
    );
  }
  return { user, password };
}

/**
 * The stack's backup signing key (HMAC of the manifests: the Secret's backup-signing-key), from --signing-key-file or
 * MYSQL_HA_BACKUP_SIGNING_KEY, read like a password file. Undefined when neither is given: the scripts then sign and
 * check nothing, and say so.
 */
export function backupSigningKey(
  keyFile: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  warn = stderrLine,
): string | undefined {
  if (keyFile) return fromFile(keyFile, "--signing-key-file", warn);
  return env.MYSQL_HA_BACKUP_SIGNING_KEY || undefined;
}

function stderrLine(line: string): void {
  process.stderr.write(line + "\n");
}
