#!/usr/bin/env bash
# Init container of every member: fills an EMPTY datadir before mariadbd starts. Member 0 is restored from
# RESTORE_URL (s3://bucket/prefix[/base/<ts>]) when set; otherwise it clones the first peer (1 .. MAX_MEMBERS-1)
# whose database answers (its volume was re-created while the others run) or, when none does (the stack's first start:
# the peers wait in their own init containers for member 0), starts empty. Member N > 0 clones member N-1 (its
# donor port), so a restored or grown topology starts with the data. A datadir that has data is left alone
# (restarts are no-ops).
# Env: POD_NAME (…-<ordinal>), DATADIR, [RESTORE_URL], [CLONE_DONOR_PATTERN=host-%d.svc], DONOR_PORT, CLONE_TOKEN,
#      MAX_MEMBERS (member 0 without RESTORE_URL: how many ordinals may exist), [PEER_MYSQL_PORT=3306],
#      [CONF_OUT] (clone: the conf volume), [TLS_CA] (clone), MYSQL_USER, MYSQL_PASSWORD (restore replay), [S3_ENDPOINT], AWS_*
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
  # A copy whose pod went before its first start still takes its position at this one.
  position_on_start "$DATADIR"
  exit 0
fi
# shellcheck disable=SC2059
member_host() { printf "$CLONE_DONOR_PATTERN" "$1"; }

# answers HOST: its database port accepts a TCP connection. Not the donor port: a connection there asks for a stream.
answers() { timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "${PEER_MYSQL_PORT:-3306}" 2>/dev/null; }

if [ "$ordinal" -eq 0 ]; then
  if [ -n "${RESTORE_URL:-}" ]; then
    [[ $RESTORE_URL =~ ^(s3://.*)/(base/[0-9]{8}T[0-9]{6}Z)/?$ ]] && { export BACKUP_URL=${BASH_REMATCH[1]} BACKUP=${BASH_REMATCH[2]}; } ||
      export BACKUP_URL=$RESTORE_URL
    exec "$here/restore.sh"
  fi
  [ -n "${CLONE_DONOR_PATTERN:-}" ] || { log "member 0 starts empty (no restoreFrom, no peers configured)"; exit 0; }
  [[ ${MAX_MEMBERS:-} =~ ^[1-9][0-9]*$ ]] || die "MAX_MEMBERS '${MAX_MEMBERS:-}' must be how many members there may be (an integer >= 1)"
  # Starting empty next to running peers would fork the data: an empty primary, or a replica that cannot attach.
  # A peer that does not exist (beyond replicas) has no DNS name and does not answer.
  for ((peer = 1; peer < MAX_MEMBERS; peer++)); do
    host=$(member_host "$peer")
    if answers "$host"; then
      log "member 0 has no data and member $peer ($host) answers: cloning it"
      export DONOR_HOST=$host
      exec "$here/clone.sh"
    fi
  done
  log "member 0 starts empty (no restoreFrom; no peer answers on port ${PEER_MYSQL_PORT:-3306}: first start)"
  exit 0
fi
[ -n "${CLONE_DONOR_PATTERN:-}" ] || { log "member $ordinal starts empty (no donor configured)"; exit 0; }
export DONOR_HOST=$(member_host $((ordinal - 1)))
exec "$here/clone.sh"
