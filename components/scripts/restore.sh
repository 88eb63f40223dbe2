#!/usr/bin/env bash
# Restore: fills an EMPTY datadir from a base backup (verified against its manifest: size and sha256), then replays
# the archived binlogs from the backup's GTID position up to UNTIL_TIME or UNTIL_GTID (point in time) or, without
# either, to the end of the archive. The result is a stopped datadir whose binlog state continues the original
# history, ready to be member 0.
# Env: BACKUP_URL, DATADIR, [BACKUP=base/<ts>: default the newest complete one], [UNTIL_TIME='YYYY-MM-DD HH:MM:SS'
#      UTC], [UNTIL_GTID=d-s-n[,...]], [REPLAY_BINLOGS=1], [ARCHIVE_SOURCE=<server id>], [SERVER_ID=1],
#      [BINLOG_BASENAME=mysql-bin], MYSQL_USER, MYSQL_PASSWORD (an account in the backup, for the replay),
#      [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=restore
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env DATADIR
s3_init
[ -z "${UNTIL_TIME:-}" ] || [ -z "${UNTIL_GTID:-}" ] || die "set UNTIL_TIME or UNTIL_GTID, not both"
[ -z "${UNTIL_TIME:-}" ] || [[ $UNTIL_TIME =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}$ ]] ||
  die "UNTIL_TIME '$UNTIL_TIME' is not 'YYYY-MM-DD HH:MM:SS' (UTC)"
[ -z "${UNTIL_GTID:-}" ] || [[ $UNTIL_GTID =~ ^[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*$ ]] ||
  die "UNTIL_GTID '$UNTIL_GTID' is not a GTID position such as 0-100-42"
mkdir -p "$DATADIR"
datadir_empty "$DATADIR" || die "DATADIR $DATADIR is not empty: refusing to overwrite data"
work=$(mktemp -d)
server_pid=
cleanup() {
  local rc=$?
  [ -z "$server_pid" ] || { kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true; }
  rm -rf "$work"
  [ $rc -eq 0 ] || { find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found -exec rm -rf {} +; log "restore failed; $DATADIR left empty"; }
}
trap cleanup EXIT

# gtid_le A B: every domain of position A is at or before its sequence in B (A is contained in B).
gtid_le() {
  local a b d s n found
  for a in ${1//,/ }; do
    IFS=- read -r d s n <<<"$a"; found=0
    for b in ${2//,/ }; do [[ $b == "$d"-* ]] && [ "${b##*-}" -ge "$n" ] && found=1; done
    [ $found -eq 1 ] || return 1
  done
}
# 1. Which backup: the named one, or the newest that has a manifest.
if [ -n "${BACKUP:-}" ]; then
  backup=${BACKUP%/}
  s3 copyto "$(s3path "$backup/manifest.json")" "$work/manifest.json" 2>/dev/null ||
    die "$(s3url "$backup") is not a complete backup (no manifest.json, or S3 unreachable)"
else
  mapfile -t stamps < <(s3 lsf --dirs-only "$(s3path base/)" | tr -d / | sort -r) || die "cannot list $(s3url base/)"
  backup=
  for stamp in "${stamps[@]}"; do
    if s3 copyto "$(s3path "base/$stamp/manifest.json")" "$work/manifest.json" 2>/dev/null; then backup="base/$stamp"; break; fi
    log "skipping base/$stamp: no manifest (incomplete backup)"
  done
  [ -n "$backup" ] || die "no complete backup under $(s3url base/)"
fi
gtid=$(manifest_field "$work/manifest.json" gtid)
key=$(sed -n 's/.*"key": "\([^"]*\)".*/\1/p' "$work/manifest.json" | head -n 1)
size=$(sed -n 's/.*"size": \([0-9]*\).*/\1/p' "$work/manifest.json" | head -n 1)
sha=$(sed -n 's/.*"sha256": "\([0-9a-f]*\)".*/\1/p' "$work/manifest.json" | head -n 1)
[ -n "$key" ] && [ -n "$size" ] && [ -n "$sha" ] || die "manifest of $(s3url "$backup") is malformed"
log "restoring $(s3url "$backup") (GTID '$gtid', $size bytes) into $DATADIR"

# 2. Download, verify, extract, prepare. Nothing is extracted before the checksum matches.
s3 copyto "$(s3path "$backup/$key")" "$work/$key" || die "cannot download $(s3url "$backup/$key")"
got_size=$(stat -c %s "$work/$key")
[ "$got_size" == "$size" ] ||
  die "$(s3url "$backup/$key") is $got_size bytes, its manifest says $size: the object is truncated or replaced; refusing to restore it"
got_sha=$(sha256sum "$work/$key" | cut -d' ' -f1)
[ "$got_sha" == "$sha" ] ||
  die "$(s3url "$backup/$key") is corrupted: sha256 $got_sha, manifest says $sha; refusing to restore it"
zstd -q -d -c "$work/$key" | mbstream -x -C "$DATADIR"
rm "$work/$key"
[ -f "$DATADIR/$STREAM_MARKER" ] || die "$(s3url "$backup/$key") has no completion marker; refusing to restore it"
rm "$DATADIR/$STREAM_MARKER"
log "verified and extracted; preparing"
mariadb-backup --prepare --target-dir="$DATADIR" 2>"$work/prepare.log" ||
  { tail -n 20 "$work/prepare.log" >&2; die "mariadb-backup --prepare failed"; }

# 3. Binlogs of one archived member, complete and contiguous from a file that starts at or before the backup.
chain=()
source=
base=${BINLOG_BASENAME:-mysql-bin}
mapfile -t sources < <(s3 lsf --dirs-only "$(s3path binlog/)" 2>/dev/null | tr -d / | grep -E '^[0-9]+$' || true)
if [ "${REPLAY_BINLOGS:-1}" != 1 ]; then
  log "not replaying binlogs (REPLAY_BINLOGS=${REPLAY_BINLOGS})"
elif [ ${#sources[@]} -eq 0 ]; then
  [ -z "${UNTIL_TIME:-}${UNTIL_GTID:-}" ] || die "no binlog archive under $(s3url binlog/): cannot restore to a point in time"
  log "no binlog archive under $(s3url binlog/): restoring the base backup only"
else
  source=${ARCHIVE_SOURCE:-}
  if [ -z "$source" ]; then
    # The member archived most recently has the longest history (every member logs all updates).
    source=$(for s in "${sources[@]}"; do s3 lsf --format tp "$(s3path "binlog/$s/")" | sort | tail -n 1 | sed "s|^|$s;|"; done |
      sort -t';' -k2 | tail -n 1 | cut -d';' -f1)
  fi
  mapfile -t files < <(s3 lsf --files-only "$(s3path "binlog/$source/")" | grep -E "^$base\.[0-9]+$" | sort)
  [ ${#files[@]} -gt 0 ] || die "the binlog archive of server $source is empty"
  mkdir "$work/binlog"
  s3 copy --include "$base.*" "$(s3path "binlog/$source/")" "$work/binlog" || die "cannot download $(s3url "binlog/$source/")"
  log "downloaded ${#files[@]} binlog(s) of server $source: ${files[0]} .. ${files[-1]}"
  # Start from the newest file whose Gtid_list (what precedes it) is contained in the backup position.
  first=-1
  for i in "${!files[@]}"; do
    header=$(mariadb-binlog --stop-position=4096 "$work/binlog/${files[$i]}" 2>/dev/null || true)
    [[ $header == *"Gtid list ["* ]] || die "cannot read the header of $(s3url "binlog/$source/${files[$i]}"): not a binlog, or corrupted"
    list=$(sed -n 's/.*Gtid list \[\(.*\)\]$/\1/p' <<<"$header" | head -n 1)
    if [ -z "$list" ] || gtid_le "$list" "$gtid"; then first=$i; fi
  done
  [ $first -ge 0 ] ||
    die "the binlog archive of server $source starts after the backup position '$gtid' (first file ${files[0]}): events are missing; use a newer base backup"
  expect=$((10#${files[$first]##*.}))
  for f in "${files[@]:$first}"; do
    n=$((10#${f##*.}))
    [ $n -eq $expect ] || die "binlog archive gap: $(printf '%s.%06d' "$base" "$expect") .. $(printf '%s.%06d' "$base" $((n - 1))) of server $source are missing; a point in time after ${chain[-1]##*/} cannot be restored (choose an earlier --until or a newer base backup)"
    chain+=("$work/binlog/$f")
    expect=$((n + 1))
  done
fi

# 4. On a private server (no network): give the restored datadir the backup's GTID history, then replay.
defaults=$(mysql_defaults "$work")
mapfile -t user_args < <(mariadbd_user_args)
mariadbd --no-defaults --datadir="$DATADIR" --socket="$work/mysqld.sock" --skip-networking --pid-file="$work/mysqld.pid" \
  --server-id="${SERVER_ID:-1}" --log-bin="$base" --binlog-format=ROW --log-slave-updates --innodb-use-native-aio=0 \
  --log-error="$work/mysqld.err" "${user_args[@]}" &
server_pid=$!
# --protocol: the client would otherwise follow MYSQL_HOST/MYSQL_TCP_PORT from the environment.
sql() { mariadb --defaults-extra-file="$defaults" --host=localhost --protocol=socket --socket="$work/mysqld.sock" -N "$@"; }
for _ in $(seq 300); do sql -e 'SELECT 1' >/dev/null 2>&1 && break; kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
err=$(sql -e 'SELECT 1' 2>&1 >/dev/null) ||
  { tail -n 20 "$work/mysqld.err" >&2; die "cannot reach the restored server as MYSQL_USER '$MYSQL_USER' (an account in the backup): $err"; }
# The restored datadir has no binlogs: give it the backup's GTID history, so replayed events continue it.
sql -e "RESET MASTER; SET GLOBAL gtid_binlog_state='$gtid'; SET GLOBAL gtid_slave_pos='$gtid'"
args=()
[ -z "$gtid" ] || args+=(--start-position="$gtid")
[ -z "${UNTIL_TIME:-}" ] || args+=(--stop-datetime="$UNTIL_TIME")
[ -z "${UNTIL_GTID:-}" ] || args+=(--stop-position="$UNTIL_GTID")
if [ ${#chain[@]} -gt 0 ]; then
  # mariadb-binlog fails when the start GTID is the archive's last event: then there is simply nothing to replay.
  chain_end=$(mariadb-binlog "${chain[@]}" 2>/dev/null | sed -n 's/.*[[:space:]]GTID \([0-9]*-[0-9]*-[0-9]*\).*/\1/p' | tail -n 1 || true)
  if [ -n "$gtid" ] && { [ -z "$chain_end" ] || gtid_le "$chain_end" "$gtid"; }; then
    log "the binlog archive has nothing after the backup position '$gtid'"
    chain=()
  fi
fi
if [ ${#chain[@]} -gt 0 ]; then
  log "replaying ${#chain[@]} binlog(s) from GTID '${gtid}'${UNTIL_TIME:+ until $UNTIL_TIME UTC}${UNTIL_GTID:+ until GTID $UNTIL_GTID}"
  # Replayed events enter the restored server's binlog with their original GTIDs, so replicas can follow on.
  TZ=UTC mariadb-binlog "${args[@]}" "${chain[@]}" | sql || die "binlog replay failed"
fi
reached=$(sql -e 'SELECT @@gtid_binlog_pos')
if [ -n "${UNTIL_GTID:-}" ] && ! gtid_le "$UNTIL_GTID" "$reached"; then
  die "GTID $UNTIL_GTID is not in the archive (replayed up to '$reached')"
fi
sql -e 'SHUTDOWN' || true
wait "$server_pid" || true
server_pid=
log "restore complete: $(s3url "$backup")${source:+ + binlogs of server $source}, now at GTID '$reached'"
echo "GTID=$reached"
