#!/bin/bash
# Readiness of one member. Kubernetes waits for every member to be Ready (Pulumi's StatefulSet await), and the read
# Service routes only to Ready members, so readiness says "this member serves what it should", never "the primary
# is up": a replica whose source is gone keeps serving reads, and no member waits for another to start.
#   writable (read_only = 0)                             -> ready: it is the primary
#   replicating: SQL thread running, IO thread running   -> ready if lag <= READ_MAX_LAG_SECONDS
#                SQL thread running, IO thread connecting -> ready: its source is unreachable (failover is the
#                                                            engine's job); it serves what it has applied
#   read-only, not replicating, and either no binlog history of its own (new, or seeded from a peer) or no user
#   table (only the image entrypoint's accounts and empty schema)  -> ready: waiting to be attached
#   anything else (lagging, stopped, broken, or fenced: own history and user data) -> not ready, reason on stdout
set -uo pipefail
. "$(dirname "$0")/probe-lib.sh"
export MYSQL_PWD="${MYSQL_PWD:-${MYSQL_HA_PROBE_PASSWORD:-}}"
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
  # Only asked here (rarely): counting tables is not free on a large server.
  tables="$(probe_query "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA NOT IN ('mysql','information_schema','performance_schema','sys')")" ||
    { echo "not ready: cannot count user tables"; exit 1; }
  if [ "$tables" = "0" ]; then
    echo "ready: new member waiting to be attached (history of its own initialisation only)"
    exit 0
  fi
  echo "not ready: read-only and not replicating, with user data and history of its own (fenced until the engine attaches or promotes it)"
  exit 1
fi
field() { sed -n "s/^ *$1: //p" <<<"$status" | head -n1; }
io="$(field Slave_IO_Running)"
sql="$(field Slave_SQL_Running)"
lag="$(field Seconds_Behind_Master)"
if [ "$sql" != "Yes" ]; then
  echo "not ready: replication threads io=$io sql=$sql"
  exit 1
fi
if [ "$io" = "Connecting" ]; then
  echo "ready: replica, source unreachable (io=$io); serving what it has applied"
  exit 0
fi
if [ "$io" != "Yes" ]; then
  echo "not ready: replication threads io=$io sql=$sql"
  exit 1
fi
if ! [[ "$lag" =~ ^[0-9]+$ ]] || [ "$lag" -gt "$max_lag" ]; then
  echo "not ready: replica lag ${lag:-unknown}s > ${max_lag}s"
  exit 1
fi
echo "ready: replica, lag ${lag}s"
