#!/bin/bash
# Init container of every member: writes the per-member server options next to the shared ones.
#   server_id = SERVER_ID_BASE + ordinal (ordinal parsed from the pod name, <statefulset>-<ordinal>)
#   read_only = OFF only for the member named as primary in the topology file; every other member (and every
#               member while that file does not exist yet) starts read-only, so a restarted old primary can
#               never take writes next to a newer one (fencing). The engine turns writes on when it promotes.
#   rpl_semi_sync_master_enabled = ON only for that primary when SEMI_SYNC=true (replicas must not wait for acks).
#   ssl_cert, ssl_key = this member's own pair in TLS_DIR (member-<ordinal>.crt/.key) when TLS_DIR is set.
# Environment: POD_NAME (default: hostname), SERVER_ID_BASE (default 1000), SEMI_SYNC (true|false),
#   CONFIG_DIR (shared *.cnf files),
#   TOPOLOGY_FILE (holds the primary ordinal), CONF_OUT (directory mariadbd reads, e.g. /etc/mysql/conf.d),
#   TLS_DIR (the mounted TLS Secret; unset: no TLS), [TLS_MEMBER_SECRET_PREFIX] (tls secret or cert-manager: member
#   N's pair comes from the Secret <prefix>-N, named when missing).
set -euo pipefail

pod="${POD_NAME:-$(hostname)}"
ordinal="${pod##*-}"
if ! [[ "$ordinal" =~ ^[0-9]+$ ]]; then
  echo "init-server: cannot read the member ordinal from pod name '$pod' (expected <name>-<ordinal>)" >&2
  exit 1
fi
base="${SERVER_ID_BASE:-1000}"
server_id=$((base + ordinal))

read_only=ON
semi_sync_primary=OFF
primary=""
if [ -n "${TOPOLOGY_FILE:-}" ] && [ -r "$TOPOLOGY_FILE" ]; then
  primary="$(tr -d '[:space:]' < "$TOPOLOGY_FILE")"
fi
if [ "$primary" = "$ordinal" ]; then
  read_only=OFF
  [ "${SEMI_SYNC:-false}" = "true" ] && semi_sync_primary=ON
fi

: "${CONF_OUT:?CONF_OUT must name the directory mariadbd reads option files from}"
mkdir -p "$CONF_OUT"
if [ -n "${CONFIG_DIR:-}" ]; then
  for f in "$CONFIG_DIR"/*.cnf; do
    [ -e "$f" ] && cp "$f" "$CONF_OUT/"
  done
fi
tls_lines=""
if [ -n "${TLS_DIR:-}" ]; then
  # A member never starts without its certificate when TLS is on: mariadbd would start without TLS instead.
  for f in "$TLS_DIR/ca.crt" "$TLS_DIR/member-$ordinal.crt" "$TLS_DIR/member-$ordinal.key"; do
    if [ ! -s "$f" ]; then
      why="the TLS Secret has no key $(basename "$f") for member $ordinal"
      [ -z "${TLS_MEMBER_SECRET_PREFIX:-}" ] || [ "$f" = "$TLS_DIR/ca.crt" ] ||
        why="the member's Secret $TLS_MEMBER_SECRET_PREFIX-$ordinal is missing or has no key tls.${f##*.}"
      echo "init-server: TLS is on but $f is missing or empty ($why)" >&2
      exit 1
    fi
  done
  # What mariadbd would only put in its error log (a key not of the certificate: it aborts) or not see at all (a
  # certificate the CA did not sign: every replica and the engine refuse it), said here. Needs openssl (the official
  # image has it, with ca-certificates); without it mariadbd's own checks remain.
  if command -v openssl >/dev/null; then
    cert="$TLS_DIR/member-$ordinal.crt" key="$TLS_DIR/member-$ordinal.key"
    if [ "$(openssl x509 -in "$cert" -noout -pubkey 2>&1)" != "$(openssl pkey -in "$key" -pubout 2>&1)" ]; then
      echo "init-server: TLS: $key is not the private key of $cert (a mismatched pair in the TLS Secret): mariadbd would not start with it" >&2
      exit 1
    fi
    if ! why=$(openssl verify -CAfile "$TLS_DIR/ca.crt" -no_check_time "$cert" 2>&1); then
      echo "init-server: TLS: $cert is not signed by the CA in $TLS_DIR/ca.crt (replicas and the engine would refuse it): $(grep -m1 -o 'error [0-9]*.*' <<<"$why")" >&2
      exit 1
    fi
    # An expired certificate is served (clients that verify refuse it, naming it); the member still starts.
    openssl x509 -in "$cert" -noout -checkend 0 >/dev/null ||
      echo "init-server: WARNING: TLS: $cert has expired ($(openssl x509 -in "$cert" -noout -enddate)): replicas and the engine will refuse this member until pulumi up renews it" >&2
    # Without 127.0.0.1 only the pod's own verifying client (the metrics sidecar) refuses it: a monitoring gap, which
    # must not keep a healthy member down; the member starts and this says why its metrics are missing.
    [[ "$(openssl x509 -in "$cert" -noout -checkip 127.0.0.1)" == *"does match"* ]] ||
      echo "init-server: WARNING: TLS: $cert does not carry the IP address 127.0.0.1 (a subject alternative name): the mysqld_exporter sidecar (config metrics) verifies its member at 127.0.0.1 and will refuse it (mysql_up 0); clients, replication and the engine verify DNS names and are not affected" >&2
  fi
  tls_lines="ssl_cert = $TLS_DIR/member-$ordinal.crt
ssl_key = $TLS_DIR/member-$ordinal.key"
fi
cat > "$CONF_OUT/90-member.cnf" <<CNF
# Written by init-server.sh for $pod
[mariadb]
server_id = $server_id
read_only = $read_only
rpl_semi_sync_master_enabled = $semi_sync_primary
$tls_lines
CNF
echo "init-server: $pod server_id=$server_id read_only=$read_only (primary ordinal: ${primary:-not yet known})"
