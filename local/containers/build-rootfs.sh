#!/usr/bin/env bash
# Builds the root filesystem the container tests run the members' containers in: what the official MariaDB 10.11
# image's Dockerfile (mariadb-docker 10.11) makes, from Debian packages instead of MariaDB's (same 10.11 series):
# a mysql user and group with id 999, an empty /var/lib/mysql and /run/mysqld owned by it, the packaged config's
# bind-address/log/user lines commented out, skip-name-resolve, the image's own entrypoint and healthcheck scripts
# (mariadb-docker-10.11/), and socat, zstd and mariadb-backup as in the image. Cached by the hash of this script and
# the vendored scripts; prints the directory.
# Usage: build-rootfs.sh [CACHE_DIR]   (needs root and debootstrap; downloads from the Debian mirror once)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$(realpath -m "${1:-$here/../../node_modules/.cache/mysql-ha}")
key=$(cat "$0" "$here"/mariadb-docker-10.11/*.sh | sha256sum | cut -c1-16)
root="$cache/rootfs-$key"
if [ -f "$root/.complete" ]; then echo "$root"; exit 0; fi
[ "$(id -u)" -eq 0 ] || { echo "build-rootfs.sh: needs root (debootstrap)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "build-rootfs.sh: debootstrap is not installed: apt-get install -y debootstrap" >&2; exit 1; }
mkdir -p "$cache"
work=$(mktemp -d "$cache/rootfs-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
mirror=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)
debootstrap --variant=minbase --include=mariadb-server,mariadb-client,mariadb-backup,socat,zstd,procps \
  bookworm "$work/fs" "${mirror:-http://deb.debian.org/debian}" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
fs="$work/fs"
chroot "$fs" /bin/bash -euo pipefail -c '
  groupmod -g 999 mysql
  usermod -u 999 -g 999 mysql
  rm -rf /var/lib/mysql /run/mysqld
  mkdir -p /var/lib/mysql /run/mysqld /docker-entrypoint-initdb.d
  chown -R mysql:mysql /var/lib/mysql /run/mysqld
  chmod 1777 /run/mysqld
  find /etc/mysql/ -name "*.cnf" -print0 | xargs -0 grep -lZE "^(bind-address|log|user\s)" | xargs -r -0 sed -Ei "s/^(bind-address|log|user\s)/#&/"
  printf "[mariadb]\nhost-cache-size=0\nskip-name-resolve\n" > /etc/mysql/mariadb.conf.d/05-skipcache.cnf
  if [ -L /etc/mysql/my.cnf ]; then sed -i -e "/includedir/ {N;s/\(.*\)\n\(.*\)/\n\2\n\1/}" /etc/mysql/mariadb.cnf; fi
  rm -rf /var/cache/apt/archives/*.deb
'
install -m 0755 "$here/mariadb-docker-10.11/docker-entrypoint.sh" "$here/mariadb-docker-10.11/healthcheck.sh" "$fs/usr/local/bin/"
touch "$fs/.complete"
rm -rf "$root"
mv "$fs" "$root"
echo "$root"
