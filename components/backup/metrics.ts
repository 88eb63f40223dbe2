/**
 * The backups' and the binlog archive's metrics, as the binlog archiver's container serves them on
 * ARCHIVE_METRICS_PORT (components/scripts/archive-metrics.sh writes these names and help texts; the archive tests
 * scrape the real script and compare). The alerts and the dashboard take the names from here.
 */

/** Name of the archiver container's metrics port (ARCHIVE_METRICS_PORT, kubernetes/names.ts). */
export const ARCHIVE_METRICS_PORT_NAME = "archive-metrics";

export const BACKUP_METRICS = {
  lastComplete: {
    name: "mysql_ha_backup_last_complete_timestamp_seconds",
    type: "gauge",
    help: "Unix time the newest complete base backup (one with its manifest) was started.",
  },
  recoveryPoint: {
    name: "mysql_ha_binlog_archive_recovery_point_timestamp_seconds",
    type: "gauge",
    help: "Unix time up to which every write this member acknowledged is in the binlog archive.",
  },
} as const;
