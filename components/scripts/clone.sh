#!/usr/bin/env bash
# Joiner side of seeding: fills an EMPTY datadir with a physical copy of a donor (clone-serve.sh on DONOR_PORT),
# prepares it, and has the member's first start position it: gtid_slave_pos becomes the copy's GTID (also printed
# last, as GTID=<pos>), so the engine attaches the member from there. With CONF_OUT (the directory of option files
# mariadbd reads) nothing else is needed between this script and mariadbd's start.
# Idempotent: a failed attempt leaves DATADIR empty again.
# With TLS_CA (TLS on) the stream comes over TLS from a donor whose certificate that CA signed for DONOR_HOST (or
# DONOR_TLS_NAME, when DONOR_HOST is an address): see receive_stream.
# Env: DONOR_HOST, DONOR_PORT, CLONE_TOKEN, DATADIR, [CONF_OUT: see position_on_start], [TLS_CA],
#      [DONOR_TLS_NAME]
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
nonce=$(new_stream_nonce)
receive_stream "$DONOR_HOST" "$DONOR_PORT" "$nonce" | mbstream -x -C "$staging" --parallel=2
marker=$(stream_marker "$staging/$STREAM_MARKER" "$nonce" 2>/dev/null) ||
  die "the stream from $DONOR_HOST:$DONOR_PORT is incomplete (no completion marker): wrong CLONE_TOKEN or the backup failed on the donor (see its log)"
gtid=$(marker_field gtid <<<"$marker")
rm "$staging/$STREAM_MARKER"
log "received $(du -sh "$staging" | cut -f1) in $((SECONDS - started)) s; preparing"
mariadb-backup --prepare --target-dir="$staging" 2>"$staging/prepare.log" ||
  { tail -n 20 "$staging/prepare.log" >&2; die "mariadb-backup --prepare failed"; }
rm "$staging/prepare.log"
find "$staging" -mindepth 1 -maxdepth 1 -exec mv -t "$DATADIR" {} +
# The copy holds the donor's data but not where it stands in the primary's history: gtid_slave_pos must be the
# copy's GTID, so the member is attached with GTID auto-positioning from exactly there instead of replaying the
# primary's history (or being refused for holding data that did not come from it). The member's own first start
# sets it (position_at_first_start: an init_file run before mariadbd accepts connections), which saves starting and
# stopping a private server here.
[[ $gtid =~ $RE_GTID ]] || die "the donor's stream names GTID position '$gtid', which is not a GTID list"
position_at_first_start "$DATADIR" "$gtid"
log "clone complete in $((SECONDS - started)) s; the member's first start positions it at GTID '$gtid' (gtid_slave_pos)"
echo "GTID=$gtid"
