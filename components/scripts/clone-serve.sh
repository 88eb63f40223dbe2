#!/usr/bin/env bash
# Donor side of seeding and backups: listens on CLONE_PORT and, for every client that presents CLONE_TOKEN, streams
# a fresh physical backup (mariadb-backup --stream=xbstream) of this member. Runs beside mariadbd (sidecar).
# At most CLONE_MAX_CLIENTS streams at once (default 2): each is a full copy that loads the member's disk and CPU;
# further clients wait, connected, until one ends.
# Env: CLONE_PORT, CLONE_TOKEN, DATADIR, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, [CLONE_BIND=0.0.0.0],
#      [CLONE_MAX_CLIENTS=2]
set -euo pipefail
SCRIPT_NAME=clone-serve
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env CLONE_PORT CLONE_TOKEN DATADIR MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_PASSWORD
log "serving backup streams of $DATADIR on ${CLONE_BIND:-0.0.0.0}:$CLONE_PORT"
# -t: the client half-closes after its token; keep streaming until the backup ends.
exec socat -b "$SOCAT_BLOCK" -t 86400 -T "${STREAM_IDLE_TIMEOUT:-300}" "TCP-LISTEN:$CLONE_PORT,bind=${CLONE_BIND:-0.0.0.0},reuseaddr,fork,max-children=${CLONE_MAX_CLIENTS:-2}" "EXEC:$(cd "$(dirname "$0")" && pwd)/clone-stream.sh"
