/**
 * Errors the engine raises on purpose. A refusal changed nothing; an aborted operation says what state it left.
 * Messages never contain passwords (see `redact`).
 */
export class ReplicationError extends Error {
  constructor(
    message: string,
    /** True when nothing was changed because a safety rule forbids the operation. */
    readonly refusal = false,
  ) {
    super(message);
    this.name = "ReplicationError";
  }
}

export function refuse(message: string): ReplicationError {
  return new ReplicationError(message, true);
}

/** Removes every given secret from a message (server errors can echo statements that carried one). */
export function redact(message: string, secrets: string[]): string {
  let out = message;
  for (const s of secrets) if (s) out = out.split(s).join("***");
  return out;
}
