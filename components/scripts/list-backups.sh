#!/usr/bin/env bash
# Lists base backups under BACKUP_URL, one per line on stdout, newest first:
#   <timestamp>;<complete|incomplete|invalid>;<bytes stored>;<gtid>;<finished>;<signature>
# A backup is complete only when its manifest.json exists; invalid when that manifest does not pass restore's checks
# (its values are then not shown). <signature>: verified or forged (BACKUP_SIGNING_KEY set), signed (not checked:
# no key), unsigned; restore with a key accepts only verified.
# Env: BACKUP_URL, [BACKUP_SIGNING_KEY], [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=list-backups
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
s3_init
[ -n "${BACKUP_SIGNING_KEY:-}" ] || log "WARNING: BACKUP_SIGNING_KEY is not set: manifest signatures are not checked"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
s3 lsf -R --files-only --format sp "$(s3path base/)" >"$work/objects" || die "cannot list $(s3url base/)"
for stamp in $(cut -d';' -f2 "$work/objects" | cut -d/ -f1 | sort -ru); do
  [[ $stamp =~ $RE_STAMP ]] || { log "skipping $(s3url "base/$stamp"): not a backup's name"; continue; }
  bytes=$(awk -F';' -v s="$stamp/" 'index($2, s) == 1 { t += $1 } END { print t + 0 }' "$work/objects")
  if ! grep -qx "[0-9]*;$stamp/manifest.json" "$work/objects" || ! manifest_fetch "base/$stamp" "$work"; then
    echo "$stamp;incomplete;$bytes;;;"
  elif fields=$(manifest_read "base/$stamp" "$work/manifest.json" && echo "${M[gtid]};${M[finished]}"); then
    echo "$stamp;complete;$bytes;$fields;$(manifest_signature "base/$stamp" "$work")"
  else
    echo "$stamp;invalid;$bytes;;;$(manifest_signature "base/$stamp" "$work")"
  fi
done
