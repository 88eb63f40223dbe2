#!/usr/bin/env bash
# Donor side of seeding and backups: listens on CLONE_PORT and, for every client that presents CLONE_TOKEN, streams
# a fresh physical backup (mariadb-backup --stream=xbstream) of this member. Runs beside mariadbd (sidecar).
# At most CLONE_MAX_CLIENTS streams at once (default 2): each is a full copy that loads the member's disk and CPU;
# further clients wait, connected, until one ends.
# With TLS_DIR (TLS on) it serves over TLS only, with this member's own certificate (member-<ordinal>.crt/.key, the
# ordinal from POD_NAME), so the client can verify it is this member before it sends the token. When the Secret's
# files change (renewed by pulumi up, cert-manager or their owner), it listens again with them and has mariadbd load
# them too (FLUSH SSL: new connections get the new pair, open ones keep theirs; no restart).
# Env: CLONE_PORT, CLONE_TOKEN, DATADIR, MYSQL_HOST, MYSQL_PORT, MYSQL_USER, MYSQL_PASSWORD, [CLONE_BIND=0.0.0.0],
#      [CLONE_MAX_CLIENTS=2], [TLS_DIR, POD_NAME]
set -euo pipefail
SCRIPT_NAME=clone-serve
# shellcheck source=backup-lib.sh
. "$(dirname "$0")/backup-lib.sh"
need_env CLONE_PORT CLONE_TOKEN DATADIR MYSQL_HOST MYSQL_PORT MYSQL_USER MYSQL_PASSWORD
listen="$CLONE_PORT,bind=${CLONE_BIND:-0.0.0.0},reuseaddr,fork,max-children=${CLONE_MAX_CLIENTS:-2}"
# -t: the client half-closes after its token; keep streaming until the backup ends.
serve=(socat -b "$SOCAT_BLOCK" -t 86400 -T "${STREAM_IDLE_TIMEOUT:-300}")
stream="EXEC:$(cd "$(dirname "$0")" && pwd)/clone-stream.sh"
if [ -z "${TLS_DIR:-}" ]; then
  log "serving backup streams of $DATADIR on ${CLONE_BIND:-0.0.0.0}:$CLONE_PORT"
  exec "${serve[@]}" "TCP-LISTEN:$listen" "$stream"
fi

need_env POD_NAME
ordinal=${POD_NAME##*-}
[[ $ordinal =~ ^[0-9]+$ ]] || die "POD_NAME '$POD_NAME' does not end in -<ordinal>"
cert=$TLS_DIR/member-$ordinal.crt key=$TLS_DIR/member-$ordinal.key
# served_pair DIR: checks the member's pair and copies it to DIR; never serves in plain text instead. The checks
# need openssl (the official image has it, with ca-certificates); without it socat still refuses a mismatched key.
served_pair() {
  local f
  for f in "$cert" "$key"; do
    [ -s "$f" ] || die "TLS is on but $f is missing or empty (the TLS Secret has no key $(basename "$f") for member $ordinal): refusing to serve streams"
  done
  if command -v openssl >/dev/null; then
    openssl x509 -in "$cert" -noout -checkend 0 >/dev/null ||
      die "TLS: $cert has expired ($(openssl x509 -in "$cert" -noout -enddate)): refusing to serve streams with it"
    [ "$(openssl x509 -in "$cert" -noout -pubkey)" == "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ] ||
      die "TLS: $key is not the private key of $cert (mismatched pair): refusing to serve streams"
  fi
  (umask 077 && cp "$cert" "$1/member.crt" && cp "$key" "$1/member.key")
}
# reload_server_tls: the server read its pair once as well; the account is the backup account (RELOAD).
reload_server_tls() {
  local out
  if out=$(mariadb --defaults-extra-file="$(mysql_defaults "$served")" --host="$MYSQL_HOST" --port="$MYSQL_PORT" \
    --ssl -e "FLUSH LOCAL SSL" 2>&1); then
    log "mariadbd loaded the renewed certificate (FLUSH SSL)"
  else
    log "WARNING: FLUSH SSL failed, mariadbd still serves its previous certificate until the next up or restart: $out"
  fi
}
served=$(mktemp -d)
listener=
trap '[ -z "$listener" ] || kill "$listener" 2>/dev/null; rm -rf "$served"' EXIT
trap 'exit 143' TERM INT
# socat reads its certificate once: when the Secret's files change (renewal), listen again with the new pair.
# Streams in progress finish on the old listener's children.
reload=0
while :; do
  served_pair "$served"
  [ "$reload" -eq 0 ] || reload_server_tls
  log "serving backup streams of $DATADIR on ${CLONE_BIND:-0.0.0.0}:$CLONE_PORT over TLS with $cert"
  "${serve[@]}" "OPENSSL-LISTEN:$listen,cert=$served/member.crt,key=$served/member.key,verify=0" "$stream" &
  listener=$!
  while cmp -s "$cert" "$served/member.crt" && cmp -s "$key" "$served/member.key"; do
    kill -0 "$listener" 2>/dev/null || { wait "$listener" && rc=0 || rc=$?; die "the listener on port $CLONE_PORT exited ($rc)"; }
    sleep 5 & wait $!
  done
  log "the certificate files changed (renewed): listening again with them"
  kill "$listener"
  wait "$listener" || true
  listener=
  reload=1
done
