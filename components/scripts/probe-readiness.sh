#!/bin/bash
# Readiness of one member (Services route only to ready pods):
#   writable (read_only = 0)                       -> ready: it is the primary
#   replicating, both threads running, lag <= max  -> ready: a fresh replica (READ_MAX_LAG_SECONDS)
#   read-only, not replicating, no binlog history  -> ready: a new member waiting to be attached (first create,
#                                                     scale-up), so an ordered rollout can proceed
#   anything else (lagging, broken or fenced)      -> not ready, with the reason on stdout
set -uo pipefail
. "$(dirname "$0")/probe-lib.sh"
export MYSQL_PWD="${MYSQL_PWD:-${MARIADB_ROOT_PASSWORD:-}}"
max_lag="${READ_MAX_LAG_SECONDS:-10}"

state="$(probe_query "SELECT @@read_only, @@gtid_binlog_pos")" || { echo "not ready: server not answering"; exit 1; }
read_only="$(cut -f1 <<<"$state")"
binlog_pos="$(cut -f2 <<<"$state")"
if [ "$read_only" = "0" ]; then
  echo "ready: primary (writable)"
  exit 0
fi

status="$(PROBE_HEADERS=1 probe_query "SHOW SLAVE STATUS\G")" || { echo "not ready: cannot read replication status"; exit 1; }
if [ -z "$status" ]; then
  if [ -z "$binlog_pos" ]; then
    echo "ready: new member waiting to be attached"
    exit 0
  fi
  echo "not ready: read-only and not replicating (fenced until the engine attaches or promotes it)"
  exit 1
fi
field() { sed -n "s/^ *$1: //p" <<<"$status" | head -n1; }
io="$(field Slave_IO_Running)"
sql="$(field Slave_SQL_Running)"
lag="$(field Seconds_Behind_Master)"
if [ "$io" != "Yes" ] || [ "$sql" != "Yes" ]; then
  echo "not ready: replication threads io=$io sql=$sql"
  exit 1
fi
if ! [[ "$lag" =~ ^[0-9]+$ ]] || [ "$lag" -gt "$max_lag" ]; then
  echo "not ready: replica lag ${lag:-unknown}s > ${max_lag}s"
  exit 1
fi
echo "ready: replica, lag ${lag}s"
