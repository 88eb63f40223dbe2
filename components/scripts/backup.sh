#!/usr/bin/env bash
# Base backup: takes a physical backup from a member's donor port (clone-serve.sh), compresses it with zstd and
# streams it to $BACKUP_URL/base/<timestamp>/backup.xbstream.zst (multipart, nothing staged on disk). manifest.json
# (GTID position, sizes, sha256) is written LAST and only after every check passed: a backup without its manifest is
# not a backup, and restore, list and prune treat it so. With BACKUP_SIGNING_KEY, manifest.json.sig (its HMAC-SHA256)
# is written just before it, so every complete backup of a signing stack is signed.
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
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dest="base/$stamp"
object="backup.xbstream.zst"
work=$(mktemp -d)
readers=()
trap 'kill "${readers[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
log "backup $stamp: streaming from $DONOR_HOST:$DONOR_PORT to $(s3url "$dest/$object")"
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t0=$SECONDS
# All in the same pass over the stream: the raw tail (completion marker) kept as it goes by, the compressed stream's
# checksum by a side reader; zstd counts the bytes it reads and writes itself (-vv). Each side reader is one more
# copy of every byte through a pipe: counting with wc took a third of the backup's time here.
mkfifo "$work/z-sum"
sha256sum <"$work/z-sum" | cut -d' ' -f1 >"$work/sha256" & readers+=($!)
nonce=$(new_stream_nonce)
if ! receive_stream "$DONOR_HOST" "$DONOR_PORT" "$nonce" | pass_keeping_tail "$work/tail" |
  zstd -vv -T0 "-${BACKUP_ZSTD_LEVEL:-3}" 2>"$work/zstd.log" | tee "$work/z-sum" |
  s3 rcat --s3-chunk-size 16M "$(s3path "$dest/$object")"; then
  tail -n 3 "$work/zstd.log" >&2
  die "backup $stamp FAILED while streaming (pipeline status ${PIPESTATUS[*]}): no manifest written, so it does not count as a backup"
fi
wait "${readers[@]}"
readers=()
# zstd's closing report: "(<read> B => <written> B, ...)" (zstd 1.5) or "(<read> => <written> bytes, ...)" (1.4).
[[ $(tail -n 3 "$work/zstd.log") =~ \(\ *([0-9]+)(\ B)?\ =\>\ *([0-9]+)\ (B|bytes), ]] ||
  die "backup $stamp FAILED: zstd reported no byte counts (its log: $(tail -n 1 "$work/zstd.log")): no manifest written"
raw_bytes=${BASH_REMATCH[1]}
z_bytes=${BASH_REMATCH[3]}
# Complete only if the marker with this request's nonce arrived (the donor writes it last): text that merely looks
# like a marker, inside the data of a stream cut short, does not count.
marker=$(stream_marker "$work/tail" "$nonce") ||
  die "backup $stamp FAILED: the donor stream is incomplete (no completion marker; see the donor's log): no manifest written"
gtid=$(marker_field gtid <<<"$marker")
binlog_file=$(marker_field binlog-file <<<"$marker")
binlog_pos=$(marker_field binlog-pos <<<"$marker")
# A manifest restore would refuse is no backup: check the donor's values as restore will.
[[ $gtid =~ $RE_GTID && $binlog_file =~ $RE_BINLOG_FILE && $binlog_pos =~ ^([0-9]{1,20})?$ ]] ||
  die "backup $stamp FAILED: the donor's completion marker holds no valid GTID or binlog position: no manifest written"
sha=$(cat "$work/sha256")
# What S3 holds must be what we sent, before we vouch for it.
stored=$(s3 lsf --format s "$(s3path "$dest/$object")") || die "backup $stamp FAILED: cannot read back $(s3url "$dest/$object")"
[ "$stored" == "$z_bytes" ] || die "backup $stamp FAILED: S3 holds $stored bytes of $object, $z_bytes were sent; no manifest written"
cat >"$work/manifest.json" <<JSON
{
  "format": "mysql-ha-base-backup/1",
  "timestamp": "$stamp",
  "started": "$started",
  "finished": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
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
if [ -n "${BACKUP_SIGNING_KEY:-}" ]; then
  hmac_sha256 "$work/manifest.json" >"$work/manifest.json.sig"
  s3 copyto "$work/manifest.json.sig" "$(s3path "$dest/manifest.json.sig")" ||
    die "backup $stamp FAILED: cannot write the manifest's signature; no manifest written"
fi
s3 copyto "$work/manifest.json" "$(s3path "$dest/manifest.json")" ||
  die "backup $stamp FAILED: cannot write the manifest; the data without it does not count as a backup"
log "backup $stamp complete${BACKUP_SIGNING_KEY:+ and signed} in $((SECONDS - t0)) s: $raw_bytes bytes -> $z_bytes compressed, GTID '$gtid'"
echo "$dest"
