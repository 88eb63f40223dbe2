#!/usr/bin/env bash
# Continuous binlog archive (sidecar): streams this member's binlogs with mariadb-binlog --read-from-remote-server
# --raw --stop-never into SPOOL_DIR (events land there as they commit) and uploads every file that grew, every
# ARCHIVE_INTERVAL seconds, to $BACKUP_URL/binlog/<server_id>/<history>/<file>. The recovery point trails the member
# by about one interval.
# A history is one binlog sequence of the server, named by the UTC time the archiver first saw it. On start the
# archiver resumes the newest history from its newest file (never re-uploading a shorter copy) when the server still
# has that very file. A re-created volume or RESET MASTER (the numbering restarted below the archived file, or the
# server's file of that name is another file) starts a new history instead: histories never mix, old ones are left
# as they are. Files the server purged while the archiver was down are a gap in the history: reported loudly and
# recorded as <history>/GAP-<time>.
# It waits for the server to accept connections (a new pod's sidecar starts before mariadbd does). The spool is
# bounded: above SPOOL_MAX_BYTES (S3 down for long) the stream pauses until the uploads catch up, then resumes from
# the server's binlogs.
# The recovery point: after each round of uploads, when S3 holds this member's binlog up to the position the server
# reported as the round began, that time goes into $SPOOL_DIR/.recovery-point; with METRICS_PORT, archive-metrics.sh
# serves it (and the newest complete base backup) as Prometheus metrics.
# Env: BACKUP_URL, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, SPOOL_DIR, [SPOOL_MAX_BYTES=3 GiB],
#      [ARCHIVE_INTERVAL=1], [CONNECT_RETRY_MAX=30 (seconds between attempts at most)], [METRICS_PORT], [S3_ENDPOINT],
#      AWS_*
set -euo pipefail
SCRIPT_NAME=binlog-archive
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env MYSQL_HOST MYSQL_PORT SPOOL_DIR
s3_init
interval=${ARCHIVE_INTERVAL:-1}
spool_max=${SPOOL_MAX_BYTES:-3221225472}
work=$(mktemp -d)
streamer=
metrics=
trap 'kill $streamer $metrics 2>/dev/null || true; rm -rf "$work"' EXIT
trap 'log "stopping"; exit 0' TERM INT
mkdir -p "$SPOOL_DIR"
# The metrics from the start: while the server is not up yet they still say how old the recovery point is.
if [ -n "${METRICS_PORT:-}" ]; then
  "$BASH" "$(dirname "$0")/archive-metrics.sh" &
  metrics=$!
fi
# liveness: the loop turns (see the sidecar's probe); the metrics server lives with it.
alive() {
  [ -z "$metrics" ] || kill -0 "$metrics" 2>/dev/null || die "the metrics server (archive-metrics.sh) stopped"
  touch "$SPOOL_DIR/.alive"
}
pause() { sleep "$1" & wait $! || true; }
defaults=$(mysql_defaults "$work")
sql() { mariadb --defaults-extra-file="$defaults" --host="$MYSQL_HOST" --port="$MYSQL_PORT" -N -B -e "$1"; }
remote=(--defaults-extra-file="$defaults" --read-from-remote-server --host="$MYSQL_HOST" --port="$MYSQL_PORT")

delay=1
until server_id=$(sql 'SELECT @@server_id' 2>"$work/connect.err"); do
  log "waiting for $MYSQL_HOST:$MYSQL_PORT to accept connections ($(tail -n 1 "$work/connect.err")); next attempt in ${delay}s"
  alive
  pause "$delay"
  delay=$((delay * 2 > ${CONNECT_RETRY_MAX:-30} ? ${CONNECT_RETRY_MAX:-30} : delay * 2))
done
declare -A server_size=()
while IFS=$'\t' read -r name size _; do server_size[$name]=$size; done < <(sql 'SHOW BINARY LOGS')
mapfile -t on_server < <(printf '%s\n' "${!server_size[@]}" | grep . | sort)
[ ${#on_server[@]} -gt 0 ] || die "$MYSQL_HOST:$MYSQL_PORT has no binary logs (log_bin is off?)"
base=${on_server[0]%.*}
root="binlog/$server_id"

# identity [OPTION...] FILE: creation time and server id of a binlog (its format description event, the first).
identity() {
  mariadb-binlog "${@:1:$#-1}" --stop-position=300 "${!#}" 2>/dev/null |
    sed -n 's/^#\([0-9]\{6\} \{1,2\}[0-9:]*\) server id \([0-9]*\) .*Start: binlog.*/\1 \2/p' | head -n 1 || true
}

# The newest history and what it holds: name -> size. Only a longer local copy is ever uploaded over a file.
histories=$(s3_lsf --dirs-only "$(s3path "$root/")") || die "cannot list $(s3url "$root/")"
history=$(tr -d / <<<"$histories" | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort | tail -n 1 || true)
declare -A archived=()
if [ -n "$history" ]; then
  listing=$(s3_lsf --files-only --format sp "$(s3path "$root/$history/")") || die "cannot list $(s3url "$root/$history/")"
  while IFS=';' read -r size name; do
    [[ $name =~ ^$base\.[0-9]+$ ]] && archived[$name]=$size
  done <<<"$listing"
fi
last=$(printf '%s\n' "${!archived[@]}" | grep . | sort | tail -n 1 || true)
start=${on_server[0]}
new_history() {
  history=$(date -u +%Y%m%dT%H%M%SZ)
  archived=()
  log "new binlog history $(s3url "$root/$history/") of server $server_id: $1"
}
if [ -z "$last" ]; then
  new_history "nothing archived yet"
elif [ -n "${server_size[$last]:-}" ]; then
  s3 cat --count 4096 "$(s3path "$root/$history/$last")" >"$work/head" || die "cannot read $(s3url "$root/$history/$last")"
  ours=$(identity "$work/head")
  theirs=$(identity "${remote[@]}" "$last")
  if [ -n "$ours" ] && [ "$ours" == "$theirs" ] && [ "${server_size[$last]}" -ge "${archived[$last]}" ]; then
    start=$last
  else
    new_history "the server's $last (created $theirs, ${server_size[$last]} bytes) is not the archived one (created $ours, ${archived[$last]} bytes): RESET MASTER?"
  fi
elif [[ $last < ${on_server[0]} ]]; then
  msg="GAP in the binlog archive of server $server_id: archived up to $last, the server's oldest binlog is ${on_server[0]}; the files between are lost and point-in-time recovery across them is impossible until the next base backup"
  log "ERROR: $msg"
  printf '%s\n' "$msg" | s3 rcat "$(s3path "$root/$history/GAP-$(date -u +%Y%m%dT%H%M%SZ)")" || die "cannot record the gap in S3"
else
  new_history "the server's binlogs (${on_server[0]} .. ${on_server[-1]}) restart below the archived $last: re-created volume or RESET MASTER"
fi
dest="$root/$history"
# The stream refetches from $start; anything else spooled before a restart is archived, or of another history.
find "$SPOOL_DIR" -maxdepth 1 -name "$base.[0-9]*" -delete

start_stream() {
  log "archiving binlogs of server $server_id ($MYSQL_HOST:$MYSQL_PORT) from $1 to $(s3url "$dest/") every ${interval}s"
  mariadb-binlog "${remote[@]}" --raw --stop-never --stop-never-slave-server-id="$((4000000000 + server_id % 200000000))" \
    --result-file="$SPOOL_DIR/" "$1" 2>"$work/stream.err" &
  streamer=$!
}

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

# record_recovery_point TIME FILE<TAB>POSITION: the server's binlog stood at FILE:POSITION at TIME; once S3 holds
# FILE that far (earlier files were uploaded whole first), every write acknowledged before TIME is archived.
record_recovery_point() {
  local file=${2%%$'\t'*} position=${2#*$'\t'}
  [[ $position =~ ^[0-9]+$ ]] && [ "${archived[$file]:-0}" -ge "$position" ] || return 0
  printf '%s\n' "$1" >"$SPOOL_DIR/.recovery-point.new"
  mv -f "$SPOOL_DIR/.recovery-point.new" "$SPOOL_DIR/.recovery-point"
}

# all_archived: every spooled file is in S3 at its full size.
all_archived() {
  local f
  for f in "$SPOOL_DIR/$base".[0-9]*; do
    [ -e "$f" ] || continue
    [ "${archived[${f##*/}]:-}" == "$(stat -c %s "$f")" ] || return 1
  done
}

start_stream "$start"
while :; do
  printf -v round '%(%s)T' -1
  position=$(sql 'SHOW MASTER STATUS' 2>/dev/null | cut -f1,2) || position=
  upload_grown
  record_recovery_point "$round" "$position"
  alive
  if [ -n "$streamer" ]; then
    kill -0 "$streamer" 2>/dev/null || break
    if [ "$(du -sb "$SPOOL_DIR" | cut -f1)" -gt "$spool_max" ]; then
      log "WARNING: the spool holds more than $spool_max bytes not yet in S3: pausing the binlog stream until uploads catch up (the server keeps its binlogs)"
      kill "$streamer" 2>/dev/null || true
      wait "$streamer" 2>/dev/null || true
      streamer=
    fi
  elif all_archived; then
    start_stream "$(printf '%s\n' "${!archived[@]}" | sort | tail -n 1)"
  fi
  pause "$interval"
done
rc=0
wait "$streamer" || rc=$?
streamer=
upload_grown
cat "$work/stream.err" >&2
die "the binlog stream from $MYSQL_HOST:$MYSQL_PORT stopped (exit $rc); restarting this archiver resumes without a gap"
