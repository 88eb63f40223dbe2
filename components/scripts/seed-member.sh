#!/usr/bin/env bash
# Init container of every member: fills an EMPTY datadir before mariadbd starts. Member 0 is restored from
# RESTORE_URL (s3://bucket/prefix[/base/<ts>]) when set; member N > 0 clones member N-1 (its donor port), so a
# restored or grown topology starts with the data. A datadir that has data is left alone (restarts are no-ops).
# Env: POD_NAME (…-<ordinal>), DATADIR, [RESTORE_URL], [CLONE_DONOR_PATTERN=host-%d.svc], DONOR_PORT, CLONE_TOKEN,
#      MYSQL_USER, MYSQL_PASSWORD (restore replay), [S3_ENDPOINT], AWS_*
set -euo pipefail
SCRIPT_NAME=seed-member
here=$(dirname "$0")
# shellcheck source=backup-lib.sh
. "$here/backup-lib.sh"
need_env POD_NAME DATADIR
ordinal=${POD_NAME##*-}
[[ $ordinal =~ ^[0-9]+$ ]] || die "POD_NAME '$POD_NAME' does not end in -<ordinal>"
mkdir -p "$DATADIR"
if ! datadir_empty "$DATADIR"; then
  log "member $ordinal has data: nothing to seed"
  exit 0
fi
if [ "$ordinal" -eq 0 ]; then
  if [ -z "${RESTORE_URL:-}" ]; then
    log "member 0 starts empty (no restoreFrom)"
    exit 0
  fi
  [[ $RESTORE_URL =~ ^(s3://.*)/(base/[0-9]{8}T[0-9]{6}Z)/?$ ]] && { export BACKUP_URL=${BASH_REMATCH[1]} BACKUP=${BASH_REMATCH[2]}; } ||
    export BACKUP_URL=$RESTORE_URL
  exec "$here/restore.sh"
fi
[ -n "${CLONE_DONOR_PATTERN:-}" ] || { log "member $ordinal starts empty (no donor configured)"; exit 0; }
# shellcheck disable=SC2059
export DONOR_HOST=$(printf "$CLONE_DONOR_PATTERN" $((ordinal - 1)))
exec "$here/clone.sh"
