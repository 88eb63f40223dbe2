# shellcheck shell=bash
# Shared by the seeding, backup, binlog-archive, restore and prune scripts (sourced, not run).
# Settings come from environment variables only; passwords never appear in argv. S3 access goes through rclone
# with credentials from the usual AWS_* variables (static keys or IRSA web identity).

# Times in UTC by bash's own printf (no process per log line): TIME_FORMAT as in manifests, STAMP_FORMAT for keys.
TIME_FORMAT='%Y-%m-%dT%H:%M:%SZ'
STAMP_FORMAT='%Y%m%dT%H%M%SZ'
log() { TZ=UTC printf "%($TIME_FORMAT)T %s[%d]: %s\n" -1 "${SCRIPT_NAME:-mysql-ha}" "$$" "$*" >&2; }
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
  # Fail within seconds when S3 is unreachable instead of hanging a backup or a restore. After each upload rclone
  # reads the object back (a HEAD) and fails unless S3's size and MD5 are those it sent ("--s3-no-head: If set, don't
  # HEAD uploaded objects to check integrity"): backup.sh counts on it, so no RCLONE_* variable can turn it off.
  RCLONE_FLAGS=(--retries 2 --low-level-retries 3 --contimeout 5s --timeout 30s --stats 0
    --s3-no-head=false --ignore-size=false --ignore-checksum=false)
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

# receive_stream HOST PORT NONCE [FORM]: asks a member's donor port (clone-serve.sh) for a backup stream and writes it
# to stdout, in FORM (raw, the default, or zstd:<level>: see clone-stream.sh). The token goes over the connection, not
# argv. The donor writes NONCE into the stream's completion marker,
# so only this request's own, complete stream carries it: no data inside the backup can pass for the marker.
# With TLS_CA (TLS on) the connection is TLS and the donor must prove it is the member asked for (its certificate
# signed by that CA and naming DONOR_TLS_NAME, default HOST) before the token is sent; never plain text then.
receive_stream() {
  need_env CLONE_TOKEN
  local address="TCP:$1:$2,connect-timeout=10" name=${DONOR_TLS_NAME:-$1} err rc=0 why
  if [ -n "${TLS_CA:-}" ]; then
    [ -s "$TLS_CA" ] || die "TLS is on but the CA file TLS_CA=$TLS_CA is missing or empty (the TLS Secret's key ca.crt): refusing to ask $1:$2 for a stream"
    address="OPENSSL:$1:$2,connect-timeout=10,cafile=$TLS_CA,verify=1,commonname=$name"
  fi
  err=$(mktemp)
  printf '%s\n%s\n%s\n' "$CLONE_TOKEN" "$3" "${4:-raw}" | socat -b "$SOCAT_BLOCK" -t 86400 -T "${STREAM_IDLE_TIMEOUT:-300}" - "$address" 2>"$err" || rc=$?
  [ $rc -ne 0 ] || { rm -f "$err"; return 0; }
  cat "$err" >&2
  if [ -n "${TLS_CA:-}" ] && grep -q "wrong version number\|unexpected eof\|packet length too long" "$err"; then
    rm -f "$err"
    die "the donor $1:$2 does not speak TLS (is TLS off on it?): refusing to send it the token in plain text"
  elif [ -n "${TLS_CA:-}" ] && grep -q "certificate verify failed\|does not match hostname" "$err"; then
    why=$(tls_refusal "$1" "$2" "$name" "$err")
    rm -f "$err"
    die "the donor $1:$2 is refused: its TLS certificate $why; the token was not sent"
  fi
  rm -f "$err"
  die "no stream from the donor $1:$2 (socat exit $rc)"
}

# tls_refusal HOST PORT NAME SOCAT_LOG: why a server's certificate fails verification against TLS_CA for NAME, in
# words (openssl's own check on a connection of its own, which ends before any data is sent; without openssl, what
# socat's log tells: the chain or the name).
tls_refusal() {
  local why
  command -v openssl >/dev/null ||
    { grep -q "does not match hostname" "$4" && echo "does not name $3 (the name it must carry)" ||
      echo "is not signed by the CA in $TLS_CA, or has expired"; return; }
  why=$(timeout 10 openssl s_client -connect "$1:$2" -servername "$3" -CAfile "$TLS_CA" -verify_hostname "$3" -verify_return_error </dev/null 2>&1 |
    sed -n 's/^Verification error: //p' | head -n 1)
  case $why in
    "unable to get local issuer certificate" | "self-signed certificate"* | "self signed certificate"*) echo "is not signed by the CA in $TLS_CA (it comes from another CA)" ;;
    "certificate has expired") echo "has expired" ;;
    "certificate is not yet valid") echo "is not valid yet" ;;
    "hostname mismatch") echo "does not name $3 (the name it must carry)" ;;
    "") echo "failed verification against the CA in $TLS_CA for the name $3" ;;
    *) echo "failed verification against the CA in $TLS_CA for the name $3: $why" ;;
  esac
}

# pass_keeping_tail FILE: copies stdin to stdout and at the end writes the last 64 KiB to FILE (where stream_marker
# finds a stream's completion marker) and how many bytes passed to FILE.bytes, so no second reader has to go through
# the stream. pass_at_most N: copies at most N bytes of stdin to stdout, then stops reading. Both move blocks of up
# to 1 MiB (what a pipe holds at each read): head, tee and tail move 8 KiB at a time, which cost about a tenth of a
# backup's or a restore's time here. perl-base is in every Debian and Ubuntu image (Essential).
pass_keeping_tail() { perl -e "$PASS_PERL" tail "$1"; }
pass_at_most() { perl -e "$PASS_PERL" cap "$1"; }
PASS_PERL='binmode STDIN; binmode STDOUT;
  my ($mode, $arg) = @ARGV; my ($left, $tail, $buf, $total) = ($mode eq "cap" ? $arg : -1, "", "", 0);
  while ($left != 0) {
    my $n = sysread(STDIN, $buf, $left > 0 && $left < 1 << 20 ? $left : 1 << 20);
    defined $n or die "read: $!\n";
    last if $n == 0;
    $left -= $n if $left > 0;
    for (my $off = 0; $off < $n;) { my $w = syswrite(STDOUT, $buf, $n - $off, $off); defined $w or die "write: $!\n"; $off += $w }
    next if $mode ne "tail";
    $tail = $n >= 65536 ? substr($buf, -65536) : substr($tail . $buf, -65536);
    $total += $n;
  }
  exit 0 if $mode ne "tail";
  open(my $f, ">", $arg) or die "$arg: $!\n"; print $f $tail; close($f) or die "$arg: $!\n";
  open($f, ">", "$arg.bytes") or die "$arg.bytes: $!\n"; print $f "$total\n"; close($f) or die "$arg.bytes: $!\n";'

# The last file of every complete donor stream; its content names the backup's binlog position.
STREAM_MARKER=mysql-ha-stream-complete

# stream_marker FILE NONCE: prints the completion marker that carries NONCE (from an extracted marker file, the raw
# tail of a stream or a compressed stream's trailer), or fails when there is none: the stream is then incomplete,
# whatever text it holds.
stream_marker() {
  [[ $2 =~ ^[0-9a-f]{32}$ ]] || die "stream_marker: bad nonce"
  # In a raw stream the marker's first line follows the xbstream chunk header, in a trailer the frame header: anchor
  # at the end of the line only. NUL bytes of the headers go: a command substitution would drop them with a warning
  # each time.
  grep -a -A5 "mysql-ha-nonce=$2\$" "$1" | tr -d '\0'
}

# stream_trailer MARKER_FILE RAW_BYTES: ends a compressed stream (the donor's "zstd:<level>" form) with the marker
# and the size of the raw stream, in a zstd skippable frame (magic 0x184D2A5E, little-endian length, then the text):
# the receiver finds it in the tail it keeps, and zstd -d skips it, so the object restores as any zstd stream. It
# goes out only after zstd finished, so a stream cut short has none.
stream_trailer() {
  local text n
  text="$(cat "$1")
mysql-ha-stream-bytes=$2
"
  n=$(printf '%s' "$text" | wc -c)
  # shellcheck disable=SC2059
  printf "\x5e\x2a\x4d\x18$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((n & 255)) $((n >> 8 & 255)) $((n >> 16 & 255)) $((n >> 24 & 255)))"
  printf '%s' "$text"
}

# marker_field NAME: reads "mysql-ha-NAME=value" from a marker on stdin (see stream_marker); the first one, or nothing.
# In bash alone: each field read costs no process.
marker_field() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    if [[ $line =~ mysql-ha-$1=([^[:space:]]*) ]]; then
      printf '%s\n' "${BASH_REMATCH[1]}"
      return 0
    fi
  done
}

# Patterns of the values read from a bucket. Whoever can write there is not trusted: nothing from it reaches a path,
# a command or SQL before it matches one of these.
RE_STAMP='^[0-9]{8}T[0-9]{6}Z$'
RE_TIME='^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
RE_GTID='^([0-9]{1,10}-[0-9]{1,10}-[0-9]{1,20}(,[0-9]{1,10}-[0-9]{1,10}-[0-9]{1,20})*)?$'
RE_OBJECT='^[A-Za-z0-9_]([A-Za-z0-9_-]|\.[A-Za-z0-9_-])*$' # a plain file name: no '/', no '..', no leading '.' or '-'
RE_BINLOG_FILE='^([A-Za-z0-9_-]+\.[0-9]{1,10})?$'
RE_COUNT='^(0|[1-9][0-9]{0,17})$'
RE_SHA256='^[0-9a-f]{64}$'
RE_DONOR='^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$'
# Larger than any manifest (or signature): a bigger one is not read.
MANIFEST_MAX_BYTES=65536

# hmac_sha256 FILE: HMAC-SHA256 (RFC 2104) of FILE under the bytes of BACKUP_SIGNING_KEY, in hex. Built from
# sha256sum and shell builtins because openssl takes an HMAC key only on its command line, where `ps` shows it.
hmac_sha256() {
  local key inner ipad= opad= x i
  key=$(printf '%s' "$BACKUP_SIGNING_KEY" | od -An -v -tx1 | tr -d ' \n')
  # A key longer than the 64-byte block is hashed first; a shorter one is padded with zeros.
  [ ${#key} -le 128 ] || key=$(printf '%s' "$BACKUP_SIGNING_KEY" | sha256sum | cut -c1-64)
  while [ ${#key} -lt 128 ]; do key+=00; done
  for ((i = 0; i < 128; i += 2)); do
    printf -v x '\\x%02x' $((16#${key:i:2} ^ 0x36)); ipad+=$x
    printf -v x '\\x%02x' $((16#${key:i:2} ^ 0x5c)); opad+=$x
  done
  inner=$({ printf "$ipad"; cat "$1"; } | sha256sum | cut -c1-64)
  for ((i = 0; i < 64; i += 2)); do printf -v x '\\x%s' "${inner:i:2}"; opad+=$x; done
  printf "$opad" | sha256sum | cut -c1-64
}

# A base backup's data object, as backup.sh names it (a manifest names its own; restore fetches that one).
BASE_OBJECT=backup.xbstream.zst

# backup_stamps LISTING: the backups in a listing of base/ (s3_lsf -R --files-only: "<stamp>/<name>" lines), newest
# first. backup_objects LISTING STAMP: the object names of one of them, one a line.
backup_stamps() { sed -n 's|^\([^/]*\)/[^/]*$|\1|p' <<<"$1" | grep -E "$RE_STAMP" | sort -ru; }
backup_objects() { sed -n "s|^$2/||p" <<<"$1"; }

# An rclone started before its objects are known: its start-up (about 60 ms of CPU here, rclone's Go init: more than
# fetching a small object) overlaps the work that finds them, such as restore's listing of the backups. It reads
# their keys (under BACKUP_URL) from --files-from-raw FIFO, a read that waits for them once its start-up is done, then
# fetches each (a HEAD and a GET, no listing; a missing one is skipped). ahead_name FIFO KEY... names them, writing in
# the background: an rclone that died before opening its FIFO would block the writer for ever (ahead_stop ends it).
ahead_namers=()
ahead_name() {
  local fifo=$1
  shift
  printf '%s\n' "$@" >"$fifo" &
  ahead_namers+=($!)
}

# manifest_fetch_ahead DIR: starts the rclone of the next manifest_fetch into DIR ahead (see ahead_name).
# --files-from allows no other filter: --max-transfer bounds the download (two manifests' worth, rclone stops with an
# error beyond it), manifest_fetch the size of each file.
fetch_ahead_pid= fetch_ahead_dir=
manifest_fetch_ahead() {
  fetch_ahead_dir=$1
  mkfifo "$1/ahead.want"
  rclone "${RCLONE_FLAGS[@]}" copy --files-from-raw "$1/ahead.want" --no-traverse \
    --max-transfer "$((2 * MANIFEST_MAX_BYTES))B" "$(s3path "")" "$1/ahead" 2>/dev/null &
  fetch_ahead_pid=$!
}

# ahead_stop: stops what was started ahead and not used (the fetch's rclone, writers of names).
ahead_stop() {
  [ -z "$fetch_ahead_pid" ] || kill "$fetch_ahead_pid" 2>/dev/null || true
  [ ${#ahead_namers[@]} -eq 0 ] || kill "${ahead_namers[@]}" 2>/dev/null || true
  fetch_ahead_pid= ahead_namers=()
}

# manifest_fetch BACKUP DIR [NAMES]: downloads BACKUP's (base/<ts>) manifest.json and, when there is one, its
# signature manifest.json.sig into DIR, in one rclone (started ahead when manifest_fetch_ahead DIR was), neither if
# larger than MANIFEST_MAX_BYTES; fails when no manifest came (none, a larger one, or S3 unreachable).
# NAMES: the backup's object names, one a line, when the caller listed them already (no rclone without a manifest).
manifest_fetch() {
  local f
  rm -f "$2/manifest.json" "$2/manifest.json.sig"
  [ $# -lt 3 ] || grep -qx manifest.json <<<"$3" || return 1
  if [ -n "$fetch_ahead_pid" ] && [ "$2" == "$fetch_ahead_dir" ]; then
    local pid=$fetch_ahead_pid
    fetch_ahead_pid=
    ahead_name "$2/ahead.want" "$1/manifest.json" "$1/manifest.json.sig"
    wait "$pid" || return 1
    for f in manifest.json manifest.json.sig; do
      [ ! -f "$2/ahead/$1/$f" ] || [ "$(stat -c %s "$2/ahead/$1/$f")" -gt "$MANIFEST_MAX_BYTES" ] || mv "$2/ahead/$1/$f" "$2/"
    done
    rm -rf "$2/ahead"
  else
    s3 copy --max-depth 1 --include /manifest.json --include /manifest.json.sig --max-size "${MANIFEST_MAX_BYTES}B" \
      "$(s3path "$1/")" "$2" 2>/dev/null || return 1
  fi
  [ -f "$2/manifest.json" ]
}

# manifest_accepted BACKUP DIR: a fetched manifest counts, as restore and prune see it: no BACKUP_SIGNING_KEY, or its
# signature verifies under it.
manifest_accepted() { [ -z "${BACKUP_SIGNING_KEY:-}" ] || [ "$(manifest_signature "$1" "$2")" == verified ]; }

# manifest_signature BACKUP DIR: the state of a fetched manifest's signature: verified or forged (BACKUP_SIGNING_KEY
# set), signed (a signature that is not checked: no key), unsigned.
manifest_signature() {
  [ -f "$2/manifest.json.sig" ] || { echo unsigned; return; }
  [ -n "${BACKUP_SIGNING_KEY:-}" ] || { echo signed; return; }
  local sig
  sig=$(head -c 100 "$2/manifest.json.sig" | tr -d '\n')
  if [[ $sig =~ $RE_SHA256 ]] && [ "$sig" == "$(hmac_sha256 "$2/manifest.json")" ]; then echo verified; else echo forged; fi
}

# manifest_read BACKUP FILE: parses BACKUP's manifest FILE, which must have exactly the form backup.sh writes, into
# the array M (format timestamp started finished donor gtid binlogFile binlogPosition compression streamBytes key size
# sha256), every value checked against its pattern; stops naming the field and the manifest's key otherwise.
manifest_read() {
  local where line n=0 name value objects=0 f
  local re_field='^  "([A-Za-z]+)": ("([^"\\]*)"|([0-9]+)),?$'
  local re_object='^    \{ "key": "([^"\\]*)", "size": ([0-9]+), "sha256": "([^"\\]*)" \},?$'
  local re_frame='^(\{|  "objects": \[|  \]|\})$'
  where=$(s3url "$1/manifest.json")
  declare -gA M=()
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    if [[ $line =~ $re_field ]]; then
      name=${BASH_REMATCH[1]} value=${BASH_REMATCH[3]-}${BASH_REMATCH[4]-}
      [[ $name =~ ^(format|timestamp|started|finished|donor|gtid|binlogFile|binlogPosition|compression|streamBytes)$ ]] ||
        die "manifest $where: unknown field '$name' on line $n: refusing it"
      [ -z "${M[$name]+set}" ] || die "manifest $where: field '$name' appears twice: refusing it"
      M[$name]=$value
    elif [[ $line =~ $re_object ]]; then
      objects=$((objects + 1))
      M[key]=${BASH_REMATCH[1]} M[size]=${BASH_REMATCH[2]} M[sha256]=${BASH_REMATCH[3]}
    elif ! [[ $line =~ $re_frame ]]; then
      die "manifest $where: line $n is not in the manifest format: refusing it"
    fi
  done <"$2"
  [ $objects -eq 1 ] || die "manifest $where: field 'objects' must list exactly one object, it lists $objects: refusing it"
  manifest_expect format '^mysql-ha-base-backup/1$' "mysql-ha-base-backup/1"
  manifest_expect timestamp "$RE_STAMP" "a time YYYYMMDDTHHMMSSZ"
  [ "${M[timestamp]}" == "${1#base/}" ] ||
    die "manifest $where: field 'timestamp' names another backup (${M[timestamp]}): a manifest copied from elsewhere; refusing it"
  for f in started finished; do manifest_expect $f "$RE_TIME" "a time YYYY-MM-DDTHH:MM:SSZ"; done
  manifest_expect donor "$RE_DONOR" "a host:port"
  manifest_expect gtid "$RE_GTID" "a GTID position (d-s-n[,d-s-n...]) or empty"
  manifest_expect binlogFile "$RE_BINLOG_FILE" "a binlog file name (<base>.<number>) or empty"
  manifest_expect binlogPosition '^([0-9]{1,20})?$' "a binlog position (a number) or empty"
  manifest_expect compression '^zstd$' "zstd"
  manifest_expect streamBytes "$RE_COUNT" "a byte count"
  manifest_expect key "$RE_OBJECT" "a plain file name (no '/', no '..', no leading '.' or '-')"
  manifest_expect size "$RE_COUNT" "a byte count"
  manifest_expect sha256 "$RE_SHA256" "a sha256 (64 lowercase hex digits)"
}

# mariadbd_user_args: mariadbd refuses to run as root unless told to.
mariadbd_user_args() { [ "$(id -u)" -ne 0 ] || printf '%s\n' --user=root; }

# datadir_empty DIR: no entries except a volume's lost+found.
datadir_empty() { [ -z "$(ls -A "$1" | grep -vx 'lost+found' || true)" ]; }

# The SQL a fresh copy's first start runs (init_file) to take its GTID position; it stays in the datadir.
POSITION_FILE=.mysql-ha-position.sql

# position_sql GTID [history]: the statements that put a copy on GTID, one per line, each ending in ';' (as the
# mariadb client reads them): gtid_slave_pos, and with
# "history" (a restore) the server's own binlog history too (RESET MASTER, then gtid_binlog_state), so the member
# continues the original one.
position_sql() {
  [ "${2:-}" != history ] || printf '%s\n' "RESET MASTER;" "SET GLOBAL gtid_binlog_state = '$1';"
  printf '%s\n' "SET GLOBAL gtid_slave_pos = '$1';"
}

# position_at_first_start DATADIR GTID [history]: has the member's first start run position_sql (an init_file in
# DATADIR, which mariadbd runs before it accepts connections; see position_on_start). Only on a server with no binlog
# history of its own and no replica threads running: that is the copy's first start (a copy has no binlog files, and
# its replica is configured only later by the engine), or a restart before it applied or took any transaction
# (log_slave_updates puts each in its binlog), when the position is still the same. Later starts find binlog history
# or running replica threads and change nothing.
position_at_first_start() {
  local when="@@global.gtid_binlog_pos = '' AND (SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'SLAVES_RUNNING') = '0'"
  local statement
  # One statement per line: mariadbd reads an init_file line by line. The guard is judged once, before any of them.
  {
    printf '%s\n' "SET @mysql_ha_first = ($when);"
    while IFS= read -r statement; do
      statement=${statement%;}
      printf '%s\n' "SET @mysql_ha_sql = IF(@mysql_ha_first, '${statement//\'/\'\'}', 'DO 0');" \
        "PREPARE mysql_ha_position FROM @mysql_ha_sql;" "EXECUTE mysql_ha_position;"
    done < <(position_sql "$2" "${3:-}")
    printf '%s\n' "DEALLOCATE PREPARE mysql_ha_position;" "SET @mysql_ha_first = NULL, @mysql_ha_sql = NULL;"
  } >"$1/$POSITION_FILE"
  position_on_start "$1"
}

# position_on_start DATADIR: when DATADIR holds a copy's position file, points mariadbd's init_file at it in
# CONF_OUT (the pod's conf volume, which the database container reads; unset: nothing to do). Written again by every
# seed (the conf volume lives only as long as the pod), so a pod re-created before its first start still applies it.
position_on_start() {
  [ -n "${CONF_OUT:-}" ] && [ -f "$1/$POSITION_FILE" ] || return 0
  printf '# Written by the seed init container: a copy (clone or restore) takes its GTID position at start\n[mariadb]\ninit_file = %s\n' \
    "$1/$POSITION_FILE" >"$CONF_OUT/95-position.cnf"
}

# private_server_start DATADIR DIR [OPTION...]: starts mariadbd on DATADIR reachable only through its socket in DIR
# (no networking; pid file and error log in DIR too) and waits until it answers. The options come first (so
# --no-defaults or --defaults-file can lead); private_sql runs statements there; private_server_stop ends it.
private_server_start() {
  local datadir=$1 dir=$2 user_args
  shift 2
  mapfile -t user_args < <(mariadbd_user_args)
  PRIVATE_SOCKET=$dir/private.sock
  PRIVATE_LOG=$dir/private.err
  # --skip-ssl: no network, so no TLS; the member's options may name certificate files this container does not
  # mount (the seed container), and mariadbd refuses to start when they are missing.
  mariadbd "$@" --datadir="$datadir" --socket="$PRIVATE_SOCKET" --skip-networking --skip-ssl --pid-file="$dir/private.pid" \
    --log-error="$PRIVATE_LOG" "${user_args[@]}" &
  PRIVATE_PID=$!
  local _ err
  # Polled every 25 ms for up to a minute: the start takes a few hundred ms, and each poll is one client start.
  for _ in $(seq 2400); do
    err=$(private_sql -e 'SELECT 1' 2>&1 >/dev/null) && return 0
    # Only client errors (2xxx: no socket yet) mean "not up"; a refusal such as a wrong account is an answer, for
    # the caller's first statement to report, not a reason to wait for a minute.
    [[ $err =~ ERROR\ 2[0-9]{3} ]] || return 0
    kill -0 "$PRIVATE_PID" 2>/dev/null || break
    sleep 0.025
  done
  tail -n 20 "$PRIVATE_LOG" >&2
  die "the private server on $datadir did not start"
}

# private_sql ARGS...: the mariadb client on the private server (PRIVATE_DEFAULTS: a client option file, if the
# server checks grants). --protocol: the client would otherwise follow MYSQL_HOST/MYSQL_TCP_PORT from the env.
# --local-infile=0: statements it runs (replayed binlogs) cannot make it send local files.
private_sql() {
  mariadb ${PRIVATE_DEFAULTS:+--defaults-extra-file="$PRIVATE_DEFAULTS"} --host=localhost --protocol=socket --socket="$PRIVATE_SOCKET" \
    --local-infile=0 -N "$@"
}

# private_server_stop: a clean shutdown (SIGTERM), waited for; a no-op when none runs (for EXIT traps).
private_server_stop() {
  [ -n "${PRIVATE_PID:-}" ] || return 0
  kill "$PRIVATE_PID" 2>/dev/null || true
  wait "$PRIVATE_PID" 2>/dev/null || true
  PRIVATE_PID=
}


# manifest_expect FIELD PATTERN WHAT: (manifest_read) the field is present and matches, or stop naming it.
manifest_expect() { [ -n "${M[$1]+set}" ] && [[ ${M[$1]} =~ $2 ]] || die "manifest $where: field '$1' is not $3: refusing it"; }
