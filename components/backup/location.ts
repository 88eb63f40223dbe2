/**
 * Where backups live: `s3://bucket/prefix` with `base/<timestamp>/` (one base backup each) and `binlog/<server id>/`
 * (the continuous binlog archive) below it. Pure: shared by the CLI, the Pulumi builders and the tests.
 */

export interface BackupLocation {
  bucket: string;
  /** Key prefix without leading or trailing slash; may be empty. */
  prefix: string;
  /** `base/<timestamp>` when the URL names one base backup. */
  backup?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const STAMP = /^\d{8}T\d{6}Z$/;

/** Parses `s3://bucket[/prefix][/base/<timestamp>]`; the error names the value and the expected form. */
export function parseBackupUrl(url: string, field = "URL"): BackupLocation {
  const m = /^s3:\/\/([^/]+)(?:\/(.*))?$/.exec(url.trim());
  if (!m || !BUCKET.test(m[1]) || m[1].includes("..")) {
    throw new Error(`${field} '${url}' is not s3://bucket/prefix (bucket: 3-63 lowercase letters, digits, '.' or '-')`);
  }
  const parts = (m[2] ?? "").split("/").filter(Boolean);
  const base = parts.lastIndexOf("base");
  if (base >= 0 && base === parts.length - 2 && STAMP.test(parts[base + 1])) {
    return { bucket: m[1], prefix: parts.slice(0, base).join("/"), backup: `base/${parts[base + 1]}` };
  }
  if (base >= 0 && base >= parts.length - 2) {
    throw new Error(`${field} '${url}' names a base backup but not as base/<YYYYMMDDTHHMMSSZ>`);
  }
  return { bucket: m[1], prefix: parts.join("/") };
}

/** The archive root URL (what the scripts take as BACKUP_URL). */
export function rootUrl(location: BackupLocation): string {
  return `s3://${location.bucket}${location.prefix ? `/${location.prefix}` : ""}`;
}

/**
 * Converts a user's point in time (ISO 8601 with zone, or 'YYYY-MM-DD HH:MM:SS' taken as UTC) into the UTC form
 * restore.sh passes to mariadb-binlog --stop-datetime.
 */
export function untilTime(value: string): string {
  const plain = /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}$/.test(value.trim());
  const date = new Date(plain ? `${value.trim().replace(" ", "T")}Z` : value.trim());
  if (Number.isNaN(date.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value.trim())) {
    throw new Error(
      `--until '${value}' is not a time: use ISO 8601 (2026-01-31T12:00:00Z) or 'YYYY-MM-DD HH:MM:SS' (UTC)`,
    );
  }
  return date.toISOString().replace("T", " ").slice(0, 19);
}

/** A MariaDB GTID position (domain-server-sequence, comma separated). */
export function isGtidPosition(value: string): boolean {
  return /^\d+-\d+-\d+(,\d+-\d+-\d+)*$/.test(value);
}

export interface BackupListing {
  timestamp: string;
  /** complete, incomplete (no manifest) or invalid (a manifest restore refuses). */
  state: string;
  complete: boolean;
  bytes: number;
  gtid: string;
  finished: string;
  /** verified, forged, signed (not checked: no key), unsigned; empty when incomplete. */
  signature: string;
}

/** Parses list-backups.sh output. */
export function parseListing(stdout: string): BackupListing[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim())
    .map((line) => {
      const [timestamp, state, bytes, gtid, finished, signature] = line.split(";");
      return {
        timestamp,
        state,
        complete: state === "complete",
        bytes: Number(bytes),
        gtid: gtid ?? "",
        finished: finished ?? "",
        signature: signature ?? "",
      };
    });
}
