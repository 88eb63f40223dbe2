#!/usr/bin/env bash
# Retention: keeps the RETENTION_COUNT newest complete base backups plus every complete one younger than
# RETENTION_DAYS; deletes older complete backups, incomplete ones (no manifest) older than the newest complete one,
# and archived binlogs no kept backup needs. Never deletes the newest complete backup; deletes nothing when there is
# no complete backup at all.
# Env: BACKUP_URL, [RETENTION_COUNT=7], [RETENTION_DAYS=30], [DRY_RUN=0], [PRUNE_NOW=<time>: judge ages as of then],
#      [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=prune
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
s3_init
count=${RETENTION_COUNT:-7}
days=${RETENTION_DAYS:-30}
[[ $count =~ ^[1-9][0-9]*$ ]] || die "RETENTION_COUNT '$count' must be an integer >= 1"
[[ $days =~ ^[1-9][0-9]*$ ]] || die "RETENTION_DAYS '$days' must be an integer >= 1"
cutoff=$(date -u -d "${PRUNE_NOW:-now} -$days days" +%Y%m%dT%H%M%SZ) || die "PRUNE_NOW '${PRUNE_NOW:-}' is not a time"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mapfile -t stamps < <(s3 lsf --dirs-only "$(s3path base/)" | tr -d / | grep -E '^[0-9]{8}T[0-9]{6}Z$' | sort -r) ||
  die "cannot list $(s3url base/)"
complete=()
for stamp in "${stamps[@]}"; do
  s3 lsf --files-only "$(s3path "base/$stamp/")" | grep -qx manifest.json && complete+=("$stamp")
done
[ ${#complete[@]} -gt 0 ] || { log "no complete backup under $(s3url base/): deleting nothing"; exit 0; }
newest=${complete[0]}
keep=()
drop=()
for stamp in "${stamps[@]}"; do
  if printf '%s\n' "${complete[@]}" | grep -qx "$stamp"; then
    rank=$(printf '%s\n' "${complete[@]}" | grep -nx "$stamp" | cut -d: -f1)
    if [ "$rank" -le "$count" ] || [[ $stamp > $cutoff ]]; then keep+=("$stamp"); else drop+=("$stamp"); fi
  elif [[ $stamp < $newest ]]; then
    drop+=("$stamp") # an incomplete backup older than a complete one: a failed attempt
  else
    keep+=("$stamp") # possibly still running
  fi
done
remove() {
  if [ "${DRY_RUN:-0}" == 1 ]; then log "would delete $(s3url "$1")"; return; fi
  s3 purge "$(s3path "$1")" || die "cannot delete $(s3url "$1")"
  log "deleted $(s3url "$1")"
}
for stamp in "${drop[@]}"; do remove "base/$stamp"; done

# Binlogs: each member's archive is needed from the file holding the oldest kept backup's position on.
oldest=$(printf '%s\n' "${keep[@]}" | sort | head -n 1)
s3 copyto "$(s3path "base/$oldest/manifest.json")" "$work/manifest.json" 2>/dev/null || true
started=$(manifest_field "$work/manifest.json" started 2>/dev/null || true)
if [ -n "$started" ]; then
  # Files last written before the oldest kept backup started cannot hold events it needs.
  for source in $(s3 lsf --dirs-only "$(s3path binlog/)" 2>/dev/null | tr -d /); do
    mapfile -t files < <(s3 lsf --files-only --format tp "$(s3path "binlog/$source/")" | sort -t';' -k2)
    # Keep the newest file written before the backup began: the backup's position may be inside it.
    old=()
    for entry in "${files[@]}"; do
      mod=${entry%%;*}; name=${entry#*;}
      [[ ${mod/ /T} < $started ]] && old+=("$name")
    done
    [ ${#old[@]} -le 1 ] && continue
    for name in "${old[@]:0:${#old[@]}-1}"; do
      if [ "${DRY_RUN:-0}" == 1 ]; then log "would delete $(s3url "binlog/$source/$name")"; continue; fi
      s3 deletefile "$(s3path "binlog/$source/$name")" || die "cannot delete $(s3url "binlog/$source/$name")"
      log "deleted $(s3url "binlog/$source/$name")"
    done
  done
fi
log "kept ${#keep[@]} backup(s) (newest complete: base/$newest), deleted ${#drop[@]}"
