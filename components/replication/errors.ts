/**
 * Errors the engine raises on purpose. A refusal changed nothing; an aborted operation says what state it left.
 * Messages never contain passwords (see `redact`).
 */
import type { RefusalKind } from "./types";

export class ReplicationError extends Error {
  constructor(
    message: string,
    /** Set when nothing was changed because a safety rule forbids the operation: which rule. */
    readonly refusal?: RefusalKind,
  ) {
    super(message);
    this.name = "ReplicationError";
  }
}

export function refuse(kind: RefusalKind, message: string): ReplicationError {
  return new ReplicationError(message, kind);
}

/** A statement a member failed: the message names the member; `code` and `errno` are the server's (via mysql2). */
export class SqlError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
    readonly errno: number | undefined,
  ) {
    super(message);
    this.name = "SqlError";
  }
}

/** Removes every given secret from a message (server errors can echo statements that carried one). */
export function redact(message: string, secrets: string[]): string {
  let out = message;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}
