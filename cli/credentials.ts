/**
 * Database credentials for the CLI: from the environment or a file, never from argv (visible in `ps` and shell
 * history), never printed.
 */
import * as fs from "node:fs";
import { UsageError } from "./command";
import type { Credentials } from "../components/replication";

function fromFile(file: string, flag: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  const password = text.replace(/\r?\n$/, "");
  if (!password) throw new UsageError(`${flag} ${file}: the file is empty`);
  return password;
}

/** Administrative account: user MYSQL_HA_USER (default root), password from --password-file or MYSQL_HA_PASSWORD. */
export function adminCredentials(passwordFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Credentials {
  const user = env.MYSQL_HA_USER || "root";
  if (passwordFile) return { user, password: fromFile(passwordFile, "--password-file") };
  const password = env.MYSQL_HA_PASSWORD;
  if (!password) throw new UsageError("the admin password is needed: set MYSQL_HA_PASSWORD or pass --password-file FILE (never on the command line)");
  return { user, password };
}

/**
 * Replication account (replicas use it to connect to the primary): user MYSQL_HA_REPLICATION_USER (default
 * "replication", as the Kubernetes Secret names it), password from --replication-password-file or
 * MYSQL_HA_REPLICATION_PASSWORD. Needed by commands that point replicas at a primary.
 */
export function replicationCredentials(passwordFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Credentials {
  const user = env.MYSQL_HA_REPLICATION_USER || "replication";
  if (passwordFile) return { user, password: fromFile(passwordFile, "--replication-password-file") };
  const password = env.MYSQL_HA_REPLICATION_PASSWORD;
  if (!password) {
    throw new UsageError("the replication password is needed: set MYSQL_HA_REPLICATION_PASSWORD or pass --replication-password-file FILE");
  }
  return { user, password };
}
