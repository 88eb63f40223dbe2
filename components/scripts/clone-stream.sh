#!/usr/bin/env bash
# One donor connection (started by clone-serve.sh): checks the client's token, streams a physical backup to stdout,
# then appends a marker file that says the stream is complete and where the backup stands in the binlog (GTID).
# A stream without the marker is incomplete: the receiver must refuse it.
# The request's third line is the form: "raw" (a clone: the xbstream itself; also what a client sending two lines
# gets) or "zstd:<level>" (a backup: compressed here, at the source, so the hop to the backup Job carries the
# compressed bytes; then a trailer with the marker and the stream's raw size, see stream_trailer).
set -euo pipefail
SCRIPT_NAME=clone-stream
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env CLONE_TOKEN DATADIR MYSQL_HOST MYSQL_PORT
peer=${SOCAT_PEERADDR:-unknown}:${SOCAT_PEERPORT:-?}
IFS= read -r -t 10 token || die "no token from $peer within 10 s"
[ "$token" == "$CLONE_TOKEN" ] || die "wrong token from $peer: refusing to stream"
IFS= read -r -t 10 nonce || die "no stream nonce from $peer within 10 s"
[[ $nonce =~ ^[0-9a-f]{32}$ ]] || die "bad stream nonce from $peer: refusing to stream"
IFS= read -r -t 10 form || form=raw
[[ $form =~ ^(raw|zstd:([1-9]|1[0-9]))$ ]] || die "bad stream form '$form' from $peer (raw or zstd:<1-19>): refusing to stream"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
defaults=$(mysql_defaults "$work")
log "streaming a backup of $DATADIR to $peer ($form)"
started=$SECONDS

# The backup, then its marker (in $work/marker too, for the trailer).
backup_with_marker() {
  if ! mariadb-backup --defaults-extra-file="$defaults" --backup --stream=xbstream --target-dir="$work/target" \
    --datadir="$DATADIR" --host="$MYSQL_HOST" --port="$MYSQL_PORT" --parallel=2 2>"$work/backup.log"; then
    tail -n 20 "$work/backup.log" >&2
    die "mariadb-backup failed: the stream to $peer is incomplete (no completion marker)"
  fi
  local line gtid='' file='' pos=''
  # "MySQL binlog position: filename 'F', position 'P', GTID of the last change 'G'": each value, or empty.
  line=$(grep "MySQL binlog position" "$work/backup.log" | tail -n 1 || true)
  [[ $line =~ GTID\ of\ the\ last\ change\ \'([^\']*)\' ]] && gtid=${BASH_REMATCH[1]}
  [[ $line =~ filename\ \'([^\']*)\' ]] && file=${BASH_REMATCH[1]}
  [[ $line =~ position\ \'([0-9]*)\' ]] && pos=${BASH_REMATCH[1]}
  mkdir "$work/marker"
  TZ=UTC printf 'mysql-ha-nonce=%s\nmysql-ha-gtid=%s\nmysql-ha-binlog-file=%s\nmysql-ha-binlog-pos=%s\nmysql-ha-finished=%('"$TIME_FORMAT"')T\n' \
    "$nonce" "$gtid" "$file" "$pos" -1 >"$work/marker/$STREAM_MARKER"
  (cd "$work/marker" && mbstream -c "$STREAM_MARKER")
}

if [ "$form" == raw ]; then
  backup_with_marker
else
  # Two workers, not -T0: zstd counts the node's cores, not this container's CPU limit (1), and each worker takes
  # memory of its own, which on a large node would exceed the container's 512Mi.
  backup_with_marker | zstd -vv -T2 "-${form#zstd:}" 2>"$work/zstd.log" ||
    die "the compressed stream to $peer failed (zstd: $(tail -n 1 "$work/zstd.log")): no trailer sent, so it is incomplete"
  # zstd's closing report: "(<read> B => <written> B, ...)" (zstd 1.5) or "(<read> => <written> bytes, ...)" (1.4).
  [[ $(tail -n 3 "$work/zstd.log") =~ \(\ *([0-9]+)(\ B)?\ =\>\ *([0-9]+)\ (B|bytes), ]] ||
    die "zstd reported no byte counts ($(tail -n 1 "$work/zstd.log")): no trailer sent, so the stream to $peer is incomplete"
  stream_trailer "$work/marker/$STREAM_MARKER" "${BASH_REMATCH[1]}"
fi
log "stream to $peer complete in $((SECONDS - started)) s at GTID '$(marker_field gtid <"$work/marker/$STREAM_MARKER")' ($form)"
