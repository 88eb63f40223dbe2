#!/usr/bin/env bash
# Donor side of seeding and backups: listens on CLONE_PORT and, for every client that presents CLONE_TOKEN, streams
# a fresh physical backup (mariadb-backup --stream=xbstream) of this member. Runs beside mariadbd (sidecar).
# Env: CLONE_PORT, CLONE_TOKEN, DATADIR, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, [CLONE_BIND=0.0.0.0]
set -euo pipefail
SCRIPT_NAME=clone-serve
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env CLONE_PORT CLONE_TOKEN DATADIR MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_PASSWORD
log "serving backup streams of $DATADIR on ${CLONE_BIND:-0.0.0.0}:$CLONE_PORT"
# -t: the client half-closes after its token; keep streaming until the backup ends.
exec socat -b "$SOCAT_BLOCK" -t 86400 -T "${STREAM_IDLE_TIMEOUT:-300}" "TCP-LISTEN:$CLONE_PORT,bind=${CLONE_BIND:-0.0.0.0},reuseaddr,fork" "EXEC:$(cd "$(dirname "$0")" && pwd)/clone-stream.sh"
