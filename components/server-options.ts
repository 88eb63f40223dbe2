/**
 * Which server options can change on a running server (SET GLOBAL) and which need a restart, and the hash of the
 * restart-only part that the pod template carries: a change to a live option never restarts a pod, a change to any
 * other option changes the template and so rolls the members one at a time.
 *
 * Pure; no Pulumi, no database.
 */
import { createHash } from "node:crypto";

export type ServerOptionValue = string | number | boolean;
export type ServerOptions = Record<string, ServerOptionValue>;

/**
 * Options MariaDB 10.11 accepts with SET GLOBAL and that are safe to change under replication without a restart.
 * Anything not listed is treated as needing a restart (the safe default). Deliberately absent although dynamic:
 * options the replication engine manages (read_only, server_id, gtid_*, rpl_semi_sync_*), and options whose live
 * change disturbs replication (binlog_format, slave_parallel_*: they need the replica threads stopped).
 * test/server-options.test.ts checks every entry against a real server's information_schema.
 */
export const LIVE_OPTIONS: ReadonlySet<string> = new Set([
  "binlog_cache_size",
  "binlog_expire_logs_seconds",
  "character_set_server",
  "collation_server",
  "connect_timeout",
  "event_scheduler",
  "expire_logs_days",
  "general_log",
  "innodb_adaptive_hash_index",
  "innodb_buffer_pool_size",
  "innodb_flush_log_at_timeout",
  "innodb_flush_log_at_trx_commit",
  "innodb_io_capacity",
  "innodb_io_capacity_max",
  "innodb_lock_wait_timeout",
  "innodb_max_dirty_pages_pct",
  "innodb_stats_on_metadata",
  "interactive_timeout",
  "join_buffer_size",
  "key_buffer_size",
  "lock_wait_timeout",
  "log_slow_verbosity",
  "log_warnings",
  "long_query_time",
  "max_allowed_packet",
  "max_binlog_size",
  "max_connect_errors",
  "max_connections",
  "max_heap_table_size",
  "net_read_timeout",
  "net_write_timeout",
  "slow_query_log",
  "sort_buffer_size",
  "sql_mode",
  "sync_binlog",
  "table_definition_cache",
  "table_open_cache",
  "thread_cache_size",
  "tmp_table_size",
  "wait_timeout",
]);

/** `max-connections` and `max_connections` are the same option; the server reports underscores. */
export function normalizeOptionName(name: string): string {
  return name.trim().toLowerCase().replace(/-/g, "_");
}

/** Prefixes mariadbd's option parser understands in front of an option name (loose, skip, disable, enable, maximum, autoset). */
const OPTION_PREFIXES = ["loose", "skip", "disable", "enable", "maximum", "autoset"] as const;

/**
 * Every option a name may set in mariadbd, normalised: the name itself, then what is left after each leading prefix
 * (`loose_skip_log_bin` -> loose_skip_log_bin, skip_log_bin, log_bin). When a name is no option, mariadbd strips a
 * prefix and looks again, as often as needed and in any order, so a check must look at all of them.
 */
export function optionTargets(name: string): string[] {
  const targets = [normalizeOptionName(name)];
  for (;;) {
    const last = targets[targets.length - 1];
    const prefix = OPTION_PREFIXES.find((p) => last.startsWith(`${p}_`));
    if (!prefix) return targets;
    targets.push(last.slice(prefix.length + 1));
  }
}

export function isLiveOption(name: string): boolean {
  return LIVE_OPTIONS.has(normalizeOptionName(name));
}

/** Splits options into those applied live with SET GLOBAL and those that need a restart. */
export function splitOptions(options: ServerOptions): { live: ServerOptions; restart: ServerOptions } {
  const live: ServerOptions = {};
  const restart: ServerOptions = {};
  for (const [name, value] of Object.entries(options)) (isLiveOption(name) ? live : restart)[name] = value;
  return { live, restart };
}

/**
 * Hash of everything that needs a restart to take effect: the image and the restart-only options, independent of
 * key order and of `-`/`_` spelling. Goes into the pod template as an annotation, so only such a change makes the
 * StatefulSet's update revision move (and the rollout restart members).
 */
export function restartConfigHash(options: ServerOptions, image = ""): string {
  const { restart } = splitOptions(options);
  const canonical = Object.entries(restart)
    .map(([k, v]) => [normalizeOptionName(k), String(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return createHash("sha256")
    .update(JSON.stringify({ image, options: canonical }))
    .digest("hex")
    .slice(0, 16);
}

const SIZE_SUFFIX: Record<string, number> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/**
 * The value SET GLOBAL takes for an option-file value: option files accept `64M` and `true`, SET GLOBAL wants
 * 67108864 and ON.
 */
export function sqlValue(value: ServerOptionValue): string | number {
  if (typeof value === "boolean") return value ? "ON" : "OFF";
  if (typeof value === "number") return value;
  const size = /^(\d+)([kmgt])$/i.exec(value.trim());
  if (size) return Number(size[1]) * SIZE_SUFFIX[size[2].toLowerCase()];
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value);
  return value;
}

/** Whether the server's reported value (SELECT @@GLOBAL.x) already equals the configured one. */
export function sameValue(reported: unknown, configured: ServerOptionValue): boolean {
  const want = sqlValue(configured);
  if (reported === null || reported === undefined) return false;
  const have = String(reported);
  if (typeof want === "number")
    return (have.toUpperCase() === "ON" ? 1 : have.toUpperCase() === "OFF" ? 0 : Number(have)) === want;
  if (want === "ON" || want === "OFF") return have.toUpperCase() === want || have === (want === "ON" ? "1" : "0");
  return have.toLowerCase() === want.toLowerCase();
}
