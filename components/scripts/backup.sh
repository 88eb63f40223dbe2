#!/usr/bin/env bash
# Base backup: takes a physical backup, compressed with zstd, from a member's donor port (clone-serve.sh) and
# streams it to $BACKUP_URL/base/<timestamp>/backup.xbstream.zst (multipart, nothing staged on disk). manifest.json
# (GTID position, sizes, sha256) is written LAST and only after every check passed: a backup without its manifest is
# not a backup, and restore, list and prune treat it so. With BACKUP_SIGNING_KEY, manifest.json.sig (its HMAC-SHA256)
# goes up beside it: a signing stack's restore and prune count a backup only once its signature verifies.
# Env: BACKUP_URL, DONOR_HOST, DONOR_PORT, CLONE_TOKEN, [BACKUP_SIGNING_KEY], [S3_ENDPOINT], AWS_*,
#      [BACKUP_ZSTD_LEVEL=3]
set -euo pipefail
SCRIPT_NAME=backup
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env DONOR_HOST DONOR_PORT CLONE_TOKEN
s3_init
[ -n "${BACKUP_SIGNING_KEY:-}" ] ||
  log "WARNING: BACKUP_SIGNING_KEY is not set: the manifest is not signed, and a restore cannot tell it from a forged one"
TZ=UTC printf -v stamp "%($STAMP_FORMAT)T" -1
dest="base/$stamp"
object=$BASE_OBJECT
work=$(mktemp -d)
readers=()
trap 'kill "${readers[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
log "backup $stamp: streaming from $DONOR_HOST:$DONOR_PORT to $(s3url "$dest/$object")"
TZ=UTC printf -v started "%($TIME_FORMAT)T" -1
t0=$SECONDS
# The donor compresses (the hop carries the compressed bytes) and ends the stream with a trailer: the completion
# marker and the raw size (stream_trailer). All in the same pass over what arrives: its tail and size kept as it goes
# by, its checksum by a side reader (each side reader is one more copy of every byte through a pipe).
mkfifo "$work/z-sum"
sha256sum <"$work/z-sum" | cut -d' ' -f1 >"$work/sha256" & readers+=($!)
nonce=$(new_stream_nonce)
if ! receive_stream "$DONOR_HOST" "$DONOR_PORT" "$nonce" "zstd:${BACKUP_ZSTD_LEVEL:-3}" | pass_keeping_tail "$work/tail" |
  tee "$work/z-sum" | s3 rcat --s3-chunk-size 16M "$(s3path "$dest/$object")"; then
  die "backup $stamp FAILED while streaming: no manifest written, so it does not count as a backup"
fi
wait "${readers[@]}"
readers=()
z_bytes=$(<"$work/tail.bytes")
# Complete only if the trailer with this request's nonce arrived (the donor sends it last, after zstd finished): text
# that merely looks like a marker, inside the data of a stream cut short, does not count.
marker=$(stream_marker "$work/tail" "$nonce") ||
  die "backup $stamp FAILED: the donor stream is incomplete (no completion marker; see the donor's log): no manifest written"
raw_bytes=$(marker_field stream-bytes <<<"$marker")
[[ $raw_bytes =~ $RE_COUNT ]] ||
  die "backup $stamp FAILED: the donor sent no compressed stream with its size (its clone-stream.sh predates them: it serves backups once the scripts ConfigMap reached it): no manifest written"
gtid=$(marker_field gtid <<<"$marker")
binlog_file=$(marker_field binlog-file <<<"$marker")
binlog_pos=$(marker_field binlog-pos <<<"$marker")
# A manifest restore would refuse is no backup: check the donor's values as restore will.
[[ $gtid =~ $RE_GTID && $binlog_file =~ $RE_BINLOG_FILE && $binlog_pos =~ ^([0-9]{1,20})?$ ]] ||
  die "backup $stamp FAILED: the donor's completion marker holds no valid GTID or binlog position: no manifest written"
sha=$(<"$work/sha256")
TZ=UTC printf -v finished "%($TIME_FORMAT)T" -1
cat >"$work/manifest.json" <<JSON
{
  "format": "mysql-ha-base-backup/1",
  "timestamp": "$stamp",
  "started": "$started",
  "finished": "$finished",
  "donor": "$DONOR_HOST:$DONOR_PORT",
  "gtid": "$gtid",
  "binlogFile": "$binlog_file",
  "binlogPosition": "$binlog_pos",
  "compression": "zstd",
  "streamBytes": $raw_bytes,
  "objects": [
    { "key": "$object", "size": $z_bytes, "sha256": "$sha" }
  ]
}
JSON
# What S3 holds is what we sent: rclone rcat read the object back and compared its size and MD5 (s3_init), or the
# pipeline above failed. Signature and manifest go up together, in one rclone, to new keys (nothing is looked up
# first): restore and prune (with the key) count a backup only once its manifest's signature verifies, so neither
# order matters; if either did not go up, the manifest is taken away again.
[ -z "${BACKUP_SIGNING_KEY:-}" ] || hmac_sha256 "$work/manifest.json" >"$work/manifest.json.sig"
if ! s3 copy --no-traverse --no-check-dest --include /manifest.json --include /manifest.json.sig "$work" \
  "$(s3path "$dest")"; then
  s3 deletefile "$(s3path "$dest/manifest.json")" 2>/dev/null || true
  die "backup $stamp FAILED: cannot write the manifest${BACKUP_SIGNING_KEY:+ and its signature}; no manifest left, so the data does not count as a backup"
fi
log "backup $stamp complete${BACKUP_SIGNING_KEY:+ and signed} in $((SECONDS - t0)) s: $raw_bytes bytes -> $z_bytes compressed, GTID '$gtid'"
echo "$dest"
