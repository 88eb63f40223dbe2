#!/bin/bash
# Liveness: the server process answers at all (a lagging or read-only member is alive; restarting it would not help).
set -uo pipefail
. "$(dirname "$0")/probe-lib.sh"
export MYSQL_PWD="${MYSQL_PWD:-${MYSQL_HA_PROBE_PASSWORD:-}}"
probe_query "SELECT 1" > /dev/null || { echo "not alive: server not answering"; exit 1; }
