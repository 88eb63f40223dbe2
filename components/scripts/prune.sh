#!/usr/bin/env bash
# Retention: keeps the RETENTION_COUNT newest complete base backups plus every complete one younger than
# RETENTION_DAYS; deletes older complete backups, incomplete ones (no manifest) older than the newest complete one,
# and archived binlogs no kept backup needs. Never deletes the newest complete backup; deletes nothing when there is
# no complete backup at all, or when S3 cannot be listed. With BACKUP_SIGNING_KEY a backup is complete only when its
# manifest's signature verifies.
# Env: BACKUP_URL, [RETENTION_COUNT=7], [RETENTION_DAYS=30], [DRY_RUN=0], [PRUNE_NOW=<time>: judge ages as of then],
#      [BACKUP_SIGNING_KEY], [S3_ENDPOINT], AWS_*
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
# One listing of every backup's objects; a listing that fails deletes nothing (a backup it could not see is no
# failed attempt).
listing=$(s3_lsf -R --files-only "$(s3path base/)") || die "cannot list $(s3url base/): deleting nothing"
mapfile -t stamps < <(backup_stamps "$listing")
# Complete: with a manifest; with BACKUP_SIGNING_KEY, one whose signature verifies (what restore accepts). A manifest
# that does not verify (written without the key: members may write to the bucket, only this job deletes; or from
# before the stack signed) is neither counted nor deleted: prune does not act on what it cannot judge.
complete=()
unjudged=()
for stamp in "${stamps[@]}"; do
  names=$(backup_objects "$listing" "$stamp")
  grep -qx manifest.json <<<"$names" || continue
  # Without the key nothing needs fetching.
  if [ -z "${BACKUP_SIGNING_KEY:-}" ] ||
    { manifest_fetch "base/$stamp" "$work" "$names" && manifest_accepted "base/$stamp" "$work"; }; then
    complete+=("$stamp")
  else
    unjudged+=("$stamp")
    log "base/$stamp: its manifest cannot be read or is not signed under BACKUP_SIGNING_KEY: not counted, not deleted"
  fi
done
[ ${#complete[@]} -gt 0 ] || { log "no complete backup under $(s3url base/): deleting nothing"; exit 0; }
newest=${complete[0]}
keep=()
drop=()
for stamp in "${stamps[@]}"; do
  if printf '%s\n' "${complete[@]}" | grep -qx "$stamp"; then
    rank=$(printf '%s\n' "${complete[@]}" | grep -nx "$stamp" | cut -d: -f1)
    if [ "$rank" -le "$count" ] || [[ $stamp > $cutoff ]]; then keep+=("$stamp"); else drop+=("$stamp"); fi
  elif printf '%s\n' "${unjudged[@]}" | grep -qx "$stamp" || [[ $stamp > $newest ]]; then
    keep+=("$stamp") # not judged, or possibly still running
  else
    drop+=("$stamp") # no manifest, older than a complete backup: a failed attempt
  fi
done
# remove KEY: deletes one object, or everything under a prefix (KEY ending in /).
remove() {
  if [ "${DRY_RUN:-0}" == 1 ]; then log "would delete $(s3url "$1")"; return; fi
  if [[ $1 == */ ]]; then s3 purge "$(s3path "$1")"; else s3 deletefile "$(s3path "$1")"; fi || die "cannot delete $(s3url "$1")"
  log "deleted $(s3url "$1")"
}
for stamp in "${drop[@]}"; do remove "base/$stamp/"; done

# Binlogs, history by history (binlog/<server id>/<history>/<file>, see binlog-archive.sh): each is needed from the
# file holding the oldest kept backup's position on. Files last written before that backup started cannot hold
# events it needs, except the newest of them: the backup's position may be inside it.
oldest=$(printf '%s\n' "${keep[@]}" | sort | head -n 1)
# A manifest that fails restore's checks gives no time to judge by: then no binlog is deleted.
started=$(manifest_fetch "base/$oldest" "$work" && manifest_read "base/$oldest" "$work/manifest.json" && echo "${M[started]}") ||
  log "no valid manifest in $(s3url "base/$oldest"): deleting no binlogs"
if [ -n "$started" ]; then
  # "YYYY-MM-DD HH:MM:SS;<server id>/<history>/<name>", oldest first (the file number breaks ties within a second).
  listing=$(s3_lsf -R --files-only --format tp "$(s3path binlog/)" | sort -t';' -k1,1 -k2,2) || die "cannot list $(s3url binlog/)"
  mapfile -t histories < <(sed -n 's|^[^;]*;\([0-9]*/[0-9]\{8\}T[0-9]\{6\}Z\)/[^/]*$|\1|p' <<<"$listing" | sort -u)
  declare -A newest_history=()
  for id in "${histories[@]}"; do newest_history[${id%%/*}]=$id; done
  for id in "${histories[@]}"; do
    old=()
    newer=0
    while IFS=';' read -r mod name; do
      # Both times have whole seconds: a file written in the second the backup started may hold events after its
      # position, so only a strictly earlier second counts as before it.
      if [[ ${mod/ /T}Z < $started ]]; then
        [[ $name =~ ^[^/]+\.[0-9]+$ ]] && old+=("$name") # binlogs; a GAP record stays with its history
      else
        newer=1
      fi
    done < <(grep -F ";$id/" <<<"$listing" | sed "s|;$id/|;|")
    # A history that ended before the backup and was followed by another of its server (RESET MASTER, a re-created
    # volume) holds nothing the backup needs: its position is in the newer history, or in another member's.
    if [ $newer -eq 0 ] && [ "$id" != "${newest_history[${id%%/*}]}" ]; then
      remove "binlog/$id/"
      continue
    fi
    [ ${#old[@]} -le 1 ] && continue
    for name in "${old[@]:0:${#old[@]}-1}"; do remove "binlog/$id/$name"; done
  done
fi
log "kept ${#keep[@]} backup(s) (newest complete: base/$newest), deleted ${#drop[@]}"
