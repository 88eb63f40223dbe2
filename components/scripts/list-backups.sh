#!/usr/bin/env bash
# Lists base backups under BACKUP_URL, one per line on stdout, newest first:
#   <timestamp>;<complete|incomplete>;<bytes stored>;<gtid>;<finished>
# A backup is complete only when its manifest.json exists. Env: BACKUP_URL, [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=list-backups
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
s3_init
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
s3 lsf -R --files-only --format sp "$(s3path base/)" >"$work/objects" || die "cannot list $(s3url base/)"
for stamp in $(cut -d';' -f2 "$work/objects" | cut -d/ -f1 | sort -ru); do
  bytes=$(awk -F';' -v s="$stamp/" 'index($2, s) == 1 { t += $1 } END { print t + 0 }' "$work/objects")
  if grep -qx "[0-9]*;$stamp/manifest.json" "$work/objects" &&
    s3 copyto "$(s3path "base/$stamp/manifest.json")" "$work/manifest.json"; then
    echo "$stamp;complete;$bytes;$(manifest_field "$work/manifest.json" gtid);$(manifest_field "$work/manifest.json" finished)"
  else
    echo "$stamp;incomplete;$bytes;;"
  fi
done
