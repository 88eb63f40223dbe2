# Shared by the probes: run one query against the local server as the probe account PROBE_USER (least privilege;
# tab-separated, no header; with PROBE_HEADERS=1 column names are kept, which `\G` output needs).
# MYSQL_PWD carries the password (never argv). MYSQL_HA_SOCKET, or MYSQL_HA_HOST/MYSQL_HA_PORT, select the server.
probe_query() {
  local args=(--no-defaults -B --connect-timeout="${PROBE_CONNECT_TIMEOUT:-5}" -u"${PROBE_USER:?PROBE_USER is not set}")
  if [ -n "${MYSQL_HA_HOST:-}" ]; then
    args+=(--protocol=tcp -h"$MYSQL_HA_HOST" -P"${MYSQL_HA_PORT:-3306}")
  else
    args+=(--protocol=socket -S"${MYSQL_HA_SOCKET:-/run/mysqld/mysqld.sock}")
  fi
  [ "${PROBE_HEADERS:-0}" = 1 ] || args+=(-N)
  mariadb "${args[@]}" -e "$1"
}
