#!/usr/bin/env bash
# Joiner side of seeding: fills an EMPTY datadir with a physical copy of a donor (clone-serve.sh on DONOR_PORT),
# prepares it, and leaves the donor's binlog position in DATADIR/xtrabackup_binlog_info. The caller starts mariadbd
# and sets gtid_slave_pos to the GTID printed on the last line (GTID=<pos>) before attaching the member.
# Idempotent: a failed attempt leaves DATADIR empty again.
# Env: DONOR_HOST, DONOR_PORT, CLONE_TOKEN, DATADIR
set -euo pipefail
SCRIPT_NAME=clone
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env DONOR_HOST DONOR_PORT CLONE_TOKEN DATADIR
mkdir -p "$DATADIR"
datadir_empty "$DATADIR" || die "DATADIR $DATADIR is not empty: refusing to overwrite a member's data"
staging="$DATADIR/.mysql-ha-clone"
# On any failure leave DATADIR empty, so the next attempt starts clean.
trap 'rc=$?; rm -rf "$staging"; [ $rc -eq 0 ] || { find "$DATADIR" -mindepth 1 -maxdepth 1 ! -name lost+found -exec rm -rf {} +; log "clone failed; $DATADIR left empty"; }' EXIT
mkdir "$staging"
log "cloning from $DONOR_HOST:$DONOR_PORT into $DATADIR"
started=$SECONDS
receive_stream "$DONOR_HOST" "$DONOR_PORT" | mbstream -x -C "$staging" --parallel=2
[ -f "$staging/$STREAM_MARKER" ] ||
  die "the stream from $DONOR_HOST:$DONOR_PORT is incomplete (no completion marker): wrong CLONE_TOKEN or the backup failed on the donor (see its log)"
gtid=$(marker_field "$staging/$STREAM_MARKER" gtid)
rm "$staging/$STREAM_MARKER"
log "received $(du -sh "$staging" | cut -f1) in $((SECONDS - started)) s; preparing"
mariadb-backup --prepare --target-dir="$staging" 2>"$staging/prepare.log" ||
  { tail -n 20 "$staging/prepare.log" >&2; die "mariadb-backup --prepare failed"; }
rm "$staging/prepare.log"
find "$staging" -mindepth 1 -maxdepth 1 -exec mv -t "$DATADIR" {} +
log "clone complete in $((SECONDS - started)) s at GTID '$gtid'"
echo "GTID=$gtid"
