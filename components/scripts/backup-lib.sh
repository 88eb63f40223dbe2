# shellcheck shell=bash
# Shared by the seeding, backup, binlog-archive, restore and prune scripts (sourced, not run).
# Settings come from environment variables only; passwords never appear in argv. S3 access goes through rclone
# with credentials from the usual AWS_* variables (static keys or IRSA web identity).

log() { printf '%s %s[%d]: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${SCRIPT_NAME:-mysql-ha}" "$$" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# need_env VAR...: stop with the name of the first missing variable.
need_env() {
  local v
  for v in "$@"; do [ -n "${!v:-}" ] || die "environment variable $v is required"; done
}

# mysql_defaults DIR: writes a private client option file with MYSQL_USER/MYSQL_PASSWORD and prints its path, so
# the password reaches mariadb, mariadb-backup and mariadb-binlog without showing up in `ps`.
mysql_defaults() {
  need_env MYSQL_USER MYSQL_PASSWORD
  local file="$1/client.cnf" pw=${MYSQL_PASSWORD//\\/\\\\}
  pw=${pw//\"/\\\"}
  (umask 077 && printf '[client]\nuser="%s"\npassword="%s"\n' "$MYSQL_USER" "$pw" >"$file")
  printf '%s' "$file"
}

# s3_init: parses BACKUP_URL (s3://bucket/prefix) and configures rclone's on-the-fly ":s3:" remote from env.
s3_init() {
  # At start and for good: a sidecar without rclone would otherwise warn every second while looking healthy.
  command -v rclone >/dev/null ||
    die "rclone is not installed in this image, and S3 (backups, the binlog archive, restoreFrom) needs it: the official mariadb image lacks it; build components/backup/Dockerfile and set the mysql-ha:backupImage config key"
  need_env BACKUP_URL
  [[ $BACKUP_URL =~ ^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(/(.*))?$ ]] ||
    die "BACKUP_URL '$BACKUP_URL' is not an s3://bucket/prefix URL"
  S3_BUCKET=${BASH_REMATCH[1]}
  S3_PREFIX=${BASH_REMATCH[3]%/}
  export TZ=UTC RCLONE_CONFIG=/dev/null RCLONE_S3_ENV_AUTH=true RCLONE_S3_NO_CHECK_BUCKET=true
  export RCLONE_S3_REGION=${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}
  if [ -n "${S3_ENDPOINT:-}" ]; then
    export RCLONE_S3_PROVIDER=Other RCLONE_S3_ENDPOINT=$S3_ENDPOINT RCLONE_S3_FORCE_PATH_STYLE=true
  else
    export RCLONE_S3_PROVIDER=AWS
  fi
  # Fail within seconds when S3 is unreachable instead of hanging a backup or a restore.
  RCLONE_FLAGS=(--retries 2 --low-level-retries 3 --contimeout 5s --timeout 30s --stats 0)
  # rclone's AWS SDK cannot apply AWS_CA_BUNDLE to its own transport and refuses to start: hand the bundle to rclone.
  if [ -n "${AWS_CA_BUNDLE:-}" ]; then
    RCLONE_FLAGS+=(--ca-cert "$AWS_CA_BUNDLE")
    unset AWS_CA_BUNDLE
  fi
}

s3() { rclone "${RCLONE_FLAGS[@]}" "$@"; }

# s3_lsf ARGS... PATH: rclone lsf where a prefix that does not exist yet is empty (rclone exits 3), not an error.
s3_lsf() {
  local rc=0
  s3 lsf "$@" 2>"${TMPDIR:-/tmp}/lsf.err.$$" || rc=$?
  [ $rc -eq 0 ] || [ $rc -eq 3 ] || { cat "${TMPDIR:-/tmp}/lsf.err.$$" >&2; rm -f "${TMPDIR:-/tmp}/lsf.err.$$"; return $rc; }
  rm -f "${TMPDIR:-/tmp}/lsf.err.$$"
}

# s3path KEY: the rclone path of KEY under the backup prefix.
s3path() { printf ':s3:%s/%s%s' "$S3_BUCKET" "${S3_PREFIX:+$S3_PREFIX/}" "$1"; }

# s3url KEY: the same as an s3:// URL, for messages.
s3url() { printf 's3://%s/%s%s' "$S3_BUCKET" "${S3_PREFIX:+$S3_PREFIX/}" "$1"; }

# Transfer block of socat on both ends of a donor stream: its 8 KiB default makes each hop cost a syscall pair per
# 8 KiB, which took about a third of a clone's streaming time here.
SOCAT_BLOCK=1048576

# new_stream_nonce: a fresh random value for one stream request (see receive_stream).
new_stream_nonce() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }

# receive_stream HOST PORT NONCE: asks a member's donor port (clone-serve.sh) for a backup stream and writes it to
# stdout. The token goes over the connection, not argv. The donor writes NONCE into the stream's completion marker,
# so only this request's own, complete stream carries it: no data inside the backup can pass for the marker.
receive_stream() {
  need_env CLONE_TOKEN
  printf '%s\n%s\n' "$CLONE_TOKEN" "$3" | socat -b "$SOCAT_BLOCK" -t 86400 -T "${STREAM_IDLE_TIMEOUT:-300}" - "TCP:$1:$2,connect-timeout=10"
}

# The last file of every complete donor stream; its content names the backup's binlog position.
STREAM_MARKER=mysql-ha-stream-complete

# stream_marker FILE NONCE: prints the completion marker that carries NONCE (from an extracted marker file or the raw
# tail of a stream), or fails when there is none: the stream is then incomplete, whatever text it holds.
stream_marker() {
  [[ $2 =~ ^[0-9a-f]{32}$ ]] || die "stream_marker: bad nonce"
  # In a raw stream the marker's first line follows the xbstream chunk header: anchor at the end of the line only.
  grep -a -A4 "mysql-ha-nonce=$2\$" "$1"
}

# marker_field NAME: reads "mysql-ha-NAME=value" from a marker on stdin (see stream_marker).
marker_field() { grep -a -o "mysql-ha-$1=[^[:space:]]*" | head -n 1 | cut -d= -f2- || true; }

# manifest_field FILE NAME: reads a top-level string or number field of a manifest written by backup.sh.
manifest_field() { sed -n "s/^  \"$2\": \"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}\$/\1/p" "$1" | head -n 1; }

# mariadbd_user_args: mariadbd refuses to run as root unless told to.
mariadbd_user_args() { [ "$(id -u)" -ne 0 ] || printf '%s\n' --user=root; }

# datadir_empty DIR: no entries except a volume's lost+found.
datadir_empty() { [ -z "$(ls -A "$1" | grep -vx 'lost+found' || true)" ]; }

# private_server_start DATADIR DIR [OPTION...]: starts mariadbd on DATADIR reachable only through its socket in DIR
# (no networking; pid file and error log in DIR too) and waits until it answers. The options come first (so
# --no-defaults or --defaults-file can lead); private_sql runs statements there; private_server_stop ends it.
private_server_start() {
  local datadir=$1 dir=$2 user_args
  shift 2
  mapfile -t user_args < <(mariadbd_user_args)
  PRIVATE_SOCKET=$dir/private.sock
  PRIVATE_LOG=$dir/private.err
  mariadbd "$@" --datadir="$datadir" --socket="$PRIVATE_SOCKET" --skip-networking --pid-file="$dir/private.pid" \
    --log-error="$PRIVATE_LOG" "${user_args[@]}" &
  PRIVATE_PID=$!
  local _ err
  for _ in $(seq 600); do
    err=$(private_sql -e 'SELECT 1' 2>&1 >/dev/null) && return 0
    # Only client errors (2xxx: no socket yet) mean "not up"; a refusal such as a wrong account is an answer, for
    # the caller's first statement to report, not a reason to wait for a minute.
    [[ $err =~ ERROR\ 2[0-9]{3} ]] || return 0
    kill -0 "$PRIVATE_PID" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$PRIVATE_LOG" >&2
  die "the private server on $datadir did not start"
}

# private_sql ARGS...: the mariadb client on the private server (PRIVATE_DEFAULTS: a client option file, if the
# server checks grants). --protocol: the client would otherwise follow MYSQL_HOST/MYSQL_TCP_PORT from the env.
private_sql() {
  mariadb ${PRIVATE_DEFAULTS:+--defaults-extra-file="$PRIVATE_DEFAULTS"} --host=localhost --protocol=socket --socket="$PRIVATE_SOCKET" -N "$@"
}

# private_server_stop: a clean shutdown (SIGTERM), waited for; a no-op when none runs (for EXIT traps).
private_server_stop() {
  [ -n "${PRIVATE_PID:-}" ] || return 0
  kill "$PRIVATE_PID" 2>/dev/null || true
  wait "$PRIVATE_PID" 2>/dev/null || true
  PRIVATE_PID=
}

