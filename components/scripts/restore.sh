#!/usr/bin/env bash
# Restore: fills an EMPTY datadir from a base backup (verified against its manifest: size and sha256), then replays
# the archived binlogs from the backup's GTID position up to UNTIL_TIME or UNTIL_GTID (point in time) or, without
# either, to the end of the archive. The result is a stopped datadir whose binlog state continues the original
# history, ready to be member 0 (with CONF_OUT and nothing to replay: once its first start took the position the
# restore leaves for it, see position_at_first_start).
# Env: BACKUP_URL, DATADIR, [BACKUP=base/<ts>: default the newest complete one], [UNTIL_TIME='YYYY-MM-DD HH:MM:SS'
#      UTC], [UNTIL_GTID=d-s-n[,...]], [REPLAY_BINLOGS=1], [ARCHIVE_SOURCE=<server id>], [SERVER_ID=1],
#      [BINLOG_BASENAME=mysql-bin], MYSQL_USER, MYSQL_PASSWORD (an account in the backup, for the replay),
#      [BACKUP_SIGNING_KEY: refuse a manifest without a valid signature], [CONF_OUT], [S3_ENDPOINT], AWS_*
# Nothing read from the bucket is trusted: the manifest is checked (signature, then every field's pattern) before
# anything else from the bucket is read (the object's download starts beside those checks, into a pipe nothing reads
# before they passed), and binlogs are replayed on a server that can touch no files outside the datadir.
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
[ -z "${BACKUP:-}" ] || [[ ${BACKUP%/} =~ ^base/[0-9]{8}T[0-9]{6}Z$ ]] || die "BACKUP '$BACKUP' is not base/<YYYYMMDDTHHMMSSZ>"
[[ ${BINLOG_BASENAME:-mysql-bin} =~ ^[A-Za-z0-9_-]+$ ]] || die "BINLOG_BASENAME '$BINLOG_BASENAME' is not a plain name"
[ -n "${BACKUP_SIGNING_KEY:-}" ] ||
  log "WARNING: BACKUP_SIGNING_KEY is not set: manifest signatures are not checked, so whoever can write to the bucket chooses what is restored"
mkdir -p "$DATADIR"
datadir_empty "$DATADIR" || die "DATADIR $DATADIR is not empty: refusing to overwrite data"
work=$(mktemp -d)
cleanup() {
  local rc=$?
  download_drop
  ahead_stop
  private_server_stop
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
# download_ahead: starts the download's rclone ahead (see ahead_name), into a pipe, early_fd, that nothing reads before
# the manifest is verified; download_early KEY names its object: the bytes wait in the pipe (a pipe's worth) while
# the manifest's own fetch and checks go on. Its exit code comes through the FIFO $work/early.rc.
download_ahead() {
  download_drop
  rm -f "$work/early.rc" "$work/early.want"
  mkfifo "$work/early.rc" "$work/early.want"
  # Only rclone writes into the pipe, so its exit is the reader's end of file; the shell around it then waits for
  # that reader to take the exit code, or stops rclone when dropped (rclone itself in the background, not the s3
  # function, so that $! is its process).
  exec {early_fd}< <(
    exec 3>&1 >/dev/null
    rclone "${RCLONE_FLAGS[@]}" cat --files-from-raw "$work/early.want" --no-traverse "$(s3path "")" >&3 3>&- &
    r=$!
    exec 3>&-
    trap 'kill $r; wait $r; exit' TERM
    wait $r && echo 0 >"$work/early.rc" || echo $? >"$work/early.rc"
  )
  early_pid=$! early_key=
}
# download_early KEY: the download of KEY (an object missing in S3 comes as no bytes), into early_fd.
download_early() {
  [ -n "$early_pid" ] && [ -z "$early_key" ] || download_ahead
  ahead_name "$work/early.want" "$1"
  early_key=$1
}
# download_drop: ends a download that is not to be read: its rclone stopped, its pipe closed.
early_pid= early_key=
download_drop() {
  [ -n "$early_pid" ] || return 0
  kill "$early_pid" 2>/dev/null || true
  exec {early_fd}<&-
  early_pid= early_key=
}
# Both rclones the first backup tried needs (its manifest's and its object's) start now, during the listing that
# finds it.
download_ahead
manifest_fetch_ahead "$work"

# 1. Which backup: the named one, or the newest that has a manifest (with BACKUP_SIGNING_KEY, one whose signature
#    verifies: a manifest written into the bucket by someone without the key does not stand in the way).
if [ -n "${BACKUP:-}" ]; then
  backup=${BACKUP%/}
  download_early "$backup/$BASE_OBJECT"
  manifest_fetch "$backup" "$work" || die "$(s3url "$backup") is not a complete backup (no manifest.json of at most $MANIFEST_MAX_BYTES bytes, or S3 unreachable)"
  if [ -n "${BACKUP_SIGNING_KEY:-}" ]; then
    case $(manifest_signature "$backup" "$work") in
      verified) ;;
      unsigned) die "manifest $(s3url "$backup/manifest.json") is not signed (no manifest.json.sig) and BACKUP_SIGNING_KEY is set: refusing it" ;;
      *) die "manifest $(s3url "$backup/manifest.json") does not match its signature under BACKUP_SIGNING_KEY (changed after signing, or signed with another key): refusing it" ;;
    esac
  fi
else
  # One listing of every backup's objects, rather than one per backup tried.
  listing=$(s3_lsf -R --files-only "$(s3path base/)") || die "cannot list $(s3url base/)"
  mapfile -t stamps < <(backup_stamps "$listing")
  backup=
  for stamp in "${stamps[@]}"; do
    names=$(backup_objects "$listing" "$stamp")
    ! grep -qx manifest.json <<<"$names" || download_early "base/$stamp/$BASE_OBJECT"
    if ! manifest_fetch "base/$stamp" "$work" "$names"; then
      log "skipping base/$stamp: no manifest of at most $MANIFEST_MAX_BYTES bytes (incomplete backup)"
    elif ! manifest_accepted "base/$stamp" "$work"; then
      log "skipping base/$stamp: its manifest is not signed under BACKUP_SIGNING_KEY"
    else
      backup="base/$stamp"
      break
    fi
  done
  [ -n "$backup" ] || die "no complete backup under $(s3url base/)"
fi
manifest_read "$backup" "$work/manifest.json"
gtid=${M[gtid]} key=${M[key]} size=${M[size]} sha=${M[sha256]}
log "restoring $(s3url "$backup") (GTID '$gtid', $size bytes) into $DATADIR"

# 2. Download, verify, extract, prepare. The object is hashed and counted as it arrives and extracted at the same
#    time, but into a staging directory (on the data volume, for the rename): nothing reaches the datadir before its
#    size and sha256 match the manifest and the stream's completion marker is there. tee -p keeps feeding the hash
#    when the extraction stops early (a corrupted object), so a corruption is reported as one. The extraction takes
#    no more than the manifest's streamBytes, so an object replaced under a signed manifest (its hash is judged only
#    at the end) cannot write more into the staging directory than the backup itself holds.
staging="$DATADIR/.mysql-ha-restore"
mkdir "$staging"
mkfifo "$work/hash"
LC_ALL=C dd bs=1M <"$work/hash" 2>"$work/got.size" | sha256sum >"$work/got.sha" &
hashing=$!
set +e
[ "$early_key" == "$backup/$key" ] || download_early "$backup/$key"
tee -p "$work/hash" <&"$early_fd" | zstd -q -d -c | pass_at_most "${M[streamBytes]}" | mbstream -x -C "$staging" 2>"$work/extract.log"
rcs=("${PIPESTATUS[@]}")
exec {early_fd}<&-
read -r download_rc <"$work/early.rc"
early_pid= early_key=
set -e
wait $hashing
[ "$download_rc" -eq 0 ] || die "cannot download $(s3url "$backup/$key")"
got_size=$(sed -n 's/^\([0-9]*\) bytes.*/\1/p' "$work/got.size") got_sha=$(cut -d' ' -f1 "$work/got.sha")
[ "$got_size" == "$size" ] ||
  die "$(s3url "$backup/$key") is $got_size bytes, its manifest says $size: the object is truncated or replaced; refusing to restore it"
[ "$got_sha" == "$sha" ] ||
  die "$(s3url "$backup/$key") is corrupted: sha256 $got_sha, manifest says $sha; refusing to restore it"
[ "${rcs[1]}" -eq 0 ] && [ "${rcs[3]}" -eq 0 ] ||
  { cat "$work/extract.log" >&2; die "$(s3url "$backup/$key") matches its manifest but does not extract (zstd exit ${rcs[1]}, mbstream exit ${rcs[3]})"; }
[ -f "$staging/$STREAM_MARKER" ] || die "$(s3url "$backup/$key") has no completion marker; refusing to restore it"
rm "$staging/$STREAM_MARKER"
log "verified and extracted; preparing"
mariadb-backup --prepare --target-dir="$staging" 2>"$work/prepare.log" ||
  { tail -n 20 "$work/prepare.log" >&2; die "mariadb-backup --prepare failed"; }
find "$staging" -mindepth 1 -maxdepth 1 -exec mv -t "$DATADIR" {} +
rmdir "$staging"

# 3. Binlogs of one history of one archived member (binlog/<server id>/<history>/, see binlog-archive.sh), complete
#    and contiguous from a file that starts at or before the backup. Histories are tried most recently archived
#    first (every member logs all updates); ARCHIVE_SOURCE=<server id>[/<history>] narrows the choice.
chain=()
source=
histories=()
base=${BINLOG_BASENAME:-mysql-bin}
if [ "${REPLAY_BINLOGS:-1}" == 1 ]; then
  listing=$(s3_lsf -R --files-only --format tp "$(s3path binlog/)") || die "cannot list $(s3url binlog/)"
  mapfile -t histories < <(sed -n 's|^\([^;]*\);\([0-9]*/[0-9]\{8\}T[0-9]\{6\}Z\)/[^/]*$|\1;\2|p' <<<"$listing" | sort -r | cut -d';' -f2 |
    awk -v want="${ARCHIVE_SOURCE:-}" '!seen[$0]++ && (want == "" || $0 == want || index($0, want "/") == 1)')
fi

# use_history ID: fills chain from history ID, or returns 1 when that history cannot replay from the backup.
use_history() {
  local id=$1 dir="$work/binlog/$1" files first=-1 start_list= i header list expect n f g gtids
  mapfile -t files < <(s3_lsf --files-only "$(s3path "binlog/$id/")" | grep -E "^$base\.[0-9]{1,10}$" | sort)
  [ ${#files[@]} -gt 0 ] || { log "binlog history $id is empty"; return 1; }
  mkdir -p "$dir"
  # Exactly the names checked above, nothing else the prefix holds.
  printf '%s\n' "${files[@]}" >"$work/binlog-files"
  s3 copy --files-from-raw "$work/binlog-files" "$(s3path "binlog/$id/")" "$dir" || die "cannot download $(s3url "binlog/$id/")"
  log "downloaded ${#files[@]} binlog(s) of history $id: ${files[0]} .. ${files[-1]}"
  # Start from the newest file whose Gtid_list (what precedes it) is contained in the backup position.
  for i in "${!files[@]}"; do
    header=$(mariadb-binlog --stop-position=4096 "$dir/${files[$i]}" 2>/dev/null || true)
    [[ $header == *"Gtid list ["* ]] || die "cannot read the header of $(s3url "binlog/$id/${files[$i]}"): not a binlog, or corrupted"
    list=$(sed -n 's/.*Gtid list \[\(.*\)\]$/\1/p' <<<"$header" | head -n 1)
    [[ $list =~ $RE_GTID ]] || die "the Gtid list of $(s3url "binlog/$id/${files[$i]}") is not a GTID position: refusing it"
    if [ -z "$list" ] || gtid_le "$list" "$gtid"; then first=$i; start_list=$list; fi
  done
  if [ $first -lt 0 ]; then
    log "binlog history $id starts after the backup position '$gtid' (first file ${files[0]})"
    return 1
  fi
  expect=$((10#${files[$first]##*.}))
  for f in "${files[@]:$first}"; do
    n=$((10#${f##*.}))
    [ $n -eq $expect ] || die "binlog archive gap: $(printf '%s.%06d' "$base" "$expect") .. $(printf '%s.%06d' "$base" $((n - 1))) of server ${id%%/*} (history ${id#*/}) are missing; a point in time after ${chain[-1]##*/} cannot be restored (choose an earlier --until or a newer base backup)"
    chain+=("$dir/$f")
    expect=$((n + 1))
  done
  # A history that starts empty (new server, re-created volume, RESET MASTER) is the backup's only if it holds the
  # backup's own last events: after RESET MASTER sequence numbers start over, so containment alone proves nothing.
  if [ -z "$start_list" ] && [ -n "$gtid" ]; then
    gtids=$(mariadb-binlog "${chain[@]}" 2>/dev/null | sed -n 's/.*[[:space:]]GTID \([0-9]*-[0-9]*-[0-9]*\).*/\1/p' || true)
    for g in ${gtid//,/ }; do
      grep -qx "$g" <<<"$gtids" || { log "binlog history $id does not hold the backup's GTID $g: another history"; chain=(); return 1; }
    done
  fi
}

if [ "${REPLAY_BINLOGS:-1}" != 1 ]; then
  log "not replaying binlogs (REPLAY_BINLOGS=${REPLAY_BINLOGS})"
elif [ ${#histories[@]} -eq 0 ]; then
  [ -z "${UNTIL_TIME:-}${UNTIL_GTID:-}" ] || die "no binlog archive under $(s3url binlog/)${ARCHIVE_SOURCE:+ for $ARCHIVE_SOURCE}: cannot restore to a point in time"
  log "no binlog archive under $(s3url binlog/)${ARCHIVE_SOURCE:+ for $ARCHIVE_SOURCE}: restoring the base backup only"
else
  for id in "${histories[@]}"; do
    if use_history "$id"; then source=$id; break; fi
  done
  [ -n "$source" ] ||
    die "no archived binlog history (${histories[*]}) can replay from the backup position '$gtid': events are missing; use a newer base backup"
fi

if [ ${#chain[@]} -gt 0 ] && [ -n "$gtid" ]; then
  # mariadb-binlog fails when the start GTID is the archive's last event: then there is simply nothing to replay.
  chain_end=$(mariadb-binlog "${chain[@]}" 2>/dev/null | sed -n 's/.*[[:space:]]GTID \([0-9]*-[0-9]*-[0-9]*\).*/\1/p' | tail -n 1 || true)
  if [ -z "$chain_end" ] || gtid_le "$chain_end" "$gtid"; then
    log "the binlog archive has nothing after the backup position '$gtid'"
    chain=()
  fi
fi

# 4. Nothing to replay and a member to start on it (CONF_OUT, the seed container): its first start gives the datadir
#    the backup's GTID history (position_at_first_start), as for a clone; no server is started here.
if [ ${#chain[@]} -eq 0 ] && [ -n "${CONF_OUT:-}" ]; then
  [ -z "${UNTIL_GTID:-}" ] || gtid_le "$UNTIL_GTID" "$gtid" ||
    die "GTID $UNTIL_GTID is not in the archive (replayed up to '$gtid')"
  [ -z "$gtid" ] || position_at_first_start "$DATADIR" "$gtid" history
  log "restore complete: $(s3url "$backup"), at GTID '$gtid' (the member's first start takes it)"
  echo "GTID=$gtid"
  exit 0
fi

# 5. On a private server (no network): give the restored datadir the backup's GTID history, then replay.
#    The replayed events come from the bucket, so that server gets nothing it does not need: file access only to an
#    empty private directory (LOAD DATA, LOAD_FILE, SELECT INTO OUTFILE), no local files from the client
#    (private_sql), no plugin to install, no event scheduler, no replication, no symbolic links (DATA DIRECTORY).
PRIVATE_DEFAULTS=$(mysql_defaults "$work")
mkdir -m 700 "$work/no-files" "$work/no-plugins"
private_server_start "$DATADIR" "$work" --no-defaults --server-id="${SERVER_ID:-1}" --log-bin="$base" --binlog-format=ROW \
  --log-slave-updates --innodb-use-native-aio=0 --secure-file-priv="$work/no-files" --local-infile=0 \
  --plugin-dir="$work/no-plugins" --event-scheduler=DISABLED --skip-slave-start --skip-symbolic-links
err=$(private_sql -e 'SELECT 1' 2>&1 >/dev/null) ||
  { tail -n 20 "$PRIVATE_LOG" >&2; die "cannot reach the restored server as MYSQL_USER '$MYSQL_USER' (an account in the backup): $err"; }
# The restored datadir has no binlogs: give it the backup's GTID history, so replayed events continue it.
position_sql "$gtid" history | private_sql
args=()
[ -z "$gtid" ] || args+=(--start-position="$gtid")
[ -z "${UNTIL_TIME:-}" ] || args+=(--stop-datetime="$UNTIL_TIME")
[ -z "${UNTIL_GTID:-}" ] || args+=(--stop-position="$UNTIL_GTID")
if [ ${#chain[@]} -gt 0 ]; then
  log "replaying ${#chain[@]} binlog(s) from GTID '${gtid}'${UNTIL_TIME:+ until $UNTIL_TIME UTC}${UNTIL_GTID:+ until GTID $UNTIL_GTID}"
  # Replayed events enter the restored server's binlog with their original GTIDs, so replicas can follow on.
  TZ=UTC mariadb-binlog "${args[@]}" "${chain[@]}" | private_sql || die "binlog replay failed"
fi
reached=$(private_sql -e 'SELECT @@gtid_binlog_pos')
if [ -n "${UNTIL_GTID:-}" ] && ! gtid_le "$UNTIL_GTID" "$reached"; then
  die "GTID $UNTIL_GTID is not in the archive (replayed up to '$reached')"
fi
private_server_stop
log "restore complete: $(s3url "$backup")${source:+ + binlogs of history $source}, now at GTID '$reached'"
echo "GTID=$reached"
