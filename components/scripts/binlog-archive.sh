#!/usr/bin/env bash
# Continuous binlog archive (sidecar): streams this member's binlogs with mariadb-binlog --read-from-remote-server
# --raw --stop-never into SPOOL_DIR (events land there as they commit) and uploads every file that grew, every
# ARCHIVE_INTERVAL seconds, to $BACKUP_URL/binlog/<server_id>/<file>. The recovery point trails the member by about
# one interval. On start it resumes from the newest archived file (never re-uploading a shorter copy); if the member
# no longer has that file, the missing range is a gap: it is reported loudly and recorded as binlog/<id>/GAP-<time>.
# Env: BACKUP_URL, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, SPOOL_DIR, [ARCHIVE_INTERVAL=1],
#      [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=binlog-archive
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env MYSQL_HOST MYSQL_PORT SPOOL_DIR
s3_init
interval=${ARCHIVE_INTERVAL:-1}
work=$(mktemp -d)
streamer=
trap '[ -z "$streamer" ] || kill "$streamer" 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'log "stopping"; exit 0' TERM INT
defaults=$(mysql_defaults "$work")
sql() { mariadb --defaults-extra-file="$defaults" --host="$MYSQL_HOST" --port="$MYSQL_PORT" -N -B -e "$1"; }
server_id=$(sql 'SELECT @@server_id') || die "cannot connect to $MYSQL_HOST:$MYSQL_PORT"
mapfile -t on_server < <(sql 'SHOW BINARY LOGS' | cut -f1)
[ ${#on_server[@]} -gt 0 ] || die "$MYSQL_HOST:$MYSQL_PORT has no binary logs (log_bin is off?)"
base=${on_server[0]%.*}
dest="binlog/$server_id"
mkdir -p "$SPOOL_DIR"

# What is archived already: name -> size. Only a longer local copy is ever uploaded over it.
declare -A archived=()
while IFS=';' read -r size name; do
  [[ $name =~ ^$base\.[0-9]+$ ]] && archived[$name]=$size
done < <(s3 lsf --files-only --format sp "$(s3path "$dest/")" 2>/dev/null || true)
last=$(printf '%s\n' "${!archived[@]}" | grep . | sort | tail -n 1 || true)
start=${on_server[0]}
if [ -n "$last" ]; then
  if printf '%s\n' "${on_server[@]}" | grep -qx "$last"; then
    start=$last
  elif [[ $last > ${on_server[0]} ]]; then
    die "archive of server $server_id has $last, newer than this server's binlogs (${on_server[0]} .. ${on_server[-1]}): was the member re-created with the same server_id? Move $(s3url "$dest/") aside first"
  else
    msg="GAP in the binlog archive of server $server_id: archived up to $last, the server's oldest binlog is ${on_server[0]}; the files between are lost and point-in-time recovery across them is impossible until the next base backup"
    log "ERROR: $msg"
    printf '%s\n' "$msg" | s3 rcat "$(s3path "$dest/GAP-$(date -u +%Y%m%dT%H%M%SZ)")" || die "cannot record the gap in S3"
  fi
fi
log "archiving binlogs of server $server_id ($MYSQL_HOST:$MYSQL_PORT) from $start to $(s3url "$dest/") every ${interval}s"
mariadb-binlog --defaults-extra-file="$defaults" --read-from-remote-server --host="$MYSQL_HOST" --port="$MYSQL_PORT" \
  --raw --stop-never --stop-never-slave-server-id="$((4000000000 + server_id % 200000000))" \
  --result-file="$SPOOL_DIR/" "$start" 2>"$work/stream.err" &
streamer=$!

upload_grown() {
  local f name size names
  # One listing: the newest file of THIS listing is the one mariadb-binlog may still be writing.
  mapfile -t names < <(find "$SPOOL_DIR" -maxdepth 1 -name "$base.[0-9]*" -printf '%f\n' | sort)
  for name in "${names[@]}"; do
    f="$SPOOL_DIR/$name"
    size=$(stat -c %s "$f")
    if [ "$size" -gt "${archived[$name]:--1}" ]; then
      if s3 copyto --no-check-dest --s3-no-head "$f" "$(s3path "$dest/$name")"; then
        archived[$name]=$size
        log "archived $name ($size bytes)"
      else
        log "WARNING: upload of $name failed (S3 unreachable?); retrying in ${interval}s"
        return 0
      fi
    fi
    # A rotated file that is fully archived is no longer needed locally.
    [ "$name" == "${names[-1]}" ] || [ "${archived[$name]:-}" != "$size" ] || rm -f "$f"
  done
}

while kill -0 "$streamer" 2>/dev/null; do
  upload_grown
  touch "$SPOOL_DIR/.alive" # liveness: the loop turns (see the sidecar's probe)
  sleep "$interval" & wait $! || true
done
rc=0
wait "$streamer" || rc=$?
streamer=
upload_grown
cat "$work/stream.err" >&2
die "the binlog stream from $MYSQL_HOST:$MYSQL_PORT stopped (exit $rc); restarting this archiver resumes without a gap"
