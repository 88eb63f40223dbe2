#!/usr/bin/env bash
# Metrics of the backups and the binlog archive (Prometheus text format 0.0.4), served over HTTP on METRICS_PORT from
# the binlog archiver's container (binlog-archive.sh starts it), where the data is:
#   mysql_ha_binlog_archive_recovery_point_timestamp_seconds  from $SPOOL_DIR/.recovery-point, which the archiver
#     writes (every write this member had acknowledged by then is in S3);
#   mysql_ha_backup_last_complete_timestamp_seconds  the name (UTC start time) of the newest base backup that has its
#     manifest.json, looked up in S3 every BACKUP_CHECK_INTERVAL seconds with the member's own S3 access and kept in
#     $SPOOL_DIR/.last-backup (the spool outlives a restart of the container).
# A metric has no sample while its value is unknown (nothing archived since the spool was created; no complete
# backup). A failed S3 listing keeps the last value seen, so the backup's age keeps growing and the alert fires.
# `archive-metrics.sh respond` answers one HTTP request on stdin/stdout (socat runs it for each connection).
# Env: METRICS_PORT, SPOOL_DIR, BACKUP_URL, [BACKUP_CHECK_INTERVAL=60], [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=archive-metrics
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env SPOOL_DIR METRICS_PORT

# gauge NAME HELP FILE: the metric, with a sample when FILE holds a number.
gauge() {
  local value
  printf '# HELP %s %s\n# TYPE %s gauge\n' "$1" "$2" "$1"
  value=$(cat "$3" 2>/dev/null || true)
  if [[ $value =~ ^[0-9]{1,12}$ ]]; then printf '%s %s\n' "$1" "$value"; fi
}

if [ "${1:-}" == respond ]; then
  # Skip the request line and headers (socat's -T cuts a client that never ends them); any path gets the metrics.
  while IFS= read -r line && [ -n "${line%$'\r'}" ]; do :; done
  body=$(
    gauge mysql_ha_backup_last_complete_timestamp_seconds "Unix time the newest complete base backup (one with its manifest) was started." "$SPOOL_DIR/.last-backup"
    gauge mysql_ha_binlog_archive_recovery_point_timestamp_seconds "Unix time up to which every write this member acknowledged is in the binlog archive." "$SPOOL_DIR/.recovery-point"
  )
  printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s\n' \
    $((${#body} + 1)) "$body"
  exit 0
fi

s3_init
interval=${BACKUP_CHECK_INTERVAL:-60}
socat -T 10 "TCP-LISTEN:$METRICS_PORT,reuseaddr,fork" EXEC:"/bin/bash $(dirname "$0")/archive-metrics.sh respond" &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
trap 'exit 0' TERM INT
log "serving the archive's metrics on port $METRICS_PORT; newest complete backup under $(s3url base/) checked every ${interval}s"
while kill -0 "$server" 2>/dev/null; do
  if listing=$(s3_lsf -R --files-only "$(s3path base/)"); then
    stamp=$(grep -E '^[0-9]{8}T[0-9]{6}Z/manifest\.json$' <<<"$listing" | sort | tail -n 1 | cut -d/ -f1 || true)
    if [ -z "$stamp" ]; then
      rm -f "$SPOOL_DIR/.last-backup"
    else
      date -u -d "${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:9:2}:${stamp:11:2}:${stamp:13:2}" +%s >"$SPOOL_DIR/.last-backup.new"
      mv -f "$SPOOL_DIR/.last-backup.new" "$SPOOL_DIR/.last-backup"
    fi
  else
    log "WARNING: cannot list $(s3url base/); the newest complete backup stays the last one seen"
  fi
  sleep "$interval" &
  wait $! || true
done
die "the metrics server on port $METRICS_PORT stopped"
