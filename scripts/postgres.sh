#!/usr/bin/env bash
# A private PostgreSQL server for the side-by-side benchmark (`cargo xtask
# bench-peers`) and its test: on loopback only, in a directory of its own, run
# by an unprivileged user, with durable commits (fsync = on,
# synchronous_commit = on).
#
#   scripts/postgres.sh install        install Debian's PostgreSQL if missing
#   scripts/postgres.sh start [DIR]    install if needed, create a cluster in DIR
#                                      (once), start it on a free port, and print
#                                      its connection string on stdout
#   scripts/postgres.sh stop [DIR]     stop the server in DIR (fast shutdown)
#
# DIR defaults to $CAIRN_PG_DIR, else /var/tmp/cairn-postgres-<uid>. It holds
# `data/` (the cluster), `server.log`, `conninfo` and the Unix socket. Run as
# root, the server runs as the `postgres` user (initdb refuses root), so DIR's
# parents must be searchable by it. Installing needs root or sudo.
#
# The cluster trusts connections from 127.0.0.1 without a password: it is a
# throwaway server for measurements, reachable only from this machine.
set -euo pipefail

PG_VERSION=15
mode="${1:-}"
dir="${2:-${CAIRN_PG_DIR:-/var/tmp/cairn-postgres-$(id -u)}}"

say() { echo "postgres.sh: $*" >&2; }
die() { say "$*"; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "installing PostgreSQL needs root or sudo; install the Debian package postgresql-$PG_VERSION"
  fi
}

pg_bin() {
  if [ -n "${PG_BIN:-}" ]; then
    echo "$PG_BIN"
  elif [ -x "/usr/lib/postgresql/$PG_VERSION/bin/initdb" ]; then
    echo "/usr/lib/postgresql/$PG_VERSION/bin"
  else
    # Another major version from the distribution will do.
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
  fi
}

install() {
  local bin
  bin="$(pg_bin)"
  if [ -n "$bin" ] && [ -x "$bin/initdb" ] && [ -x "$bin/pg_ctl" ]; then
    return 0
  fi
  say "installing PostgreSQL $PG_VERSION (Debian package postgresql)"
  # The package would otherwise create and start a system-wide cluster on port
  # 5432; this server needs none.
  if [ ! -e /etc/postgresql-common/createcluster.d/cairn.conf ]; then
    as_root mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" | as_root tee /etc/postgresql-common/createcluster.d/cairn.conf >/dev/null
  fi
  as_root apt-get update -qq ||
    die "apt-get update failed: cannot install PostgreSQL"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >/dev/null ||
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "postgresql-$PG_VERSION" >/dev/null ||
    die "apt-get install postgresql failed"
  bin="$(pg_bin)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ] || die "PostgreSQL was installed but no initdb was found under /usr/lib/postgresql"
}

# Run a PostgreSQL program as the server's user: `postgres` when we are root.
as_server() {
  if [ "$(id -u)" -ne 0 ]; then
    "$@"
  elif command -v runuser >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    su -s /bin/sh postgres -c "$(printf '%q ' "$@")"
  fi
}

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

init_cluster() {
  local bin="$1"
  mkdir -p "$dir"
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "no user 'postgres' to run the server as (the Debian package creates it)"
    chown postgres: "$dir"
    as_server test -w "$dir" ||
      die "the postgres user cannot write $dir: pick a directory whose parents are searchable by others"
  fi
  chmod 700 "$dir"
  [ -s "$dir/data/PG_VERSION" ] && return 0
  say "creating a cluster in $dir/data"
  as_server "$bin/initdb" -D "$dir/data" -U cairn --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
    die "initdb failed; see $dir/initdb.log"
  # Durable commits, as a team keeping an audit trail would run it; a little
  # more memory and WAL than the defaults, as any production setting would.
  cat >>"$dir/data/postgresql.conf" <<EOF

# cairn bench-peers
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 15min
EOF
}

start() {
  install
  local bin port tries=0
  bin="$(pg_bin)"
  init_cluster "$bin"
  if as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 && [ -s "$dir/conninfo" ]; then
    cat "$dir/conninfo"
    return 0
  fi
  while :; do
    tries=$((tries + 1))
    port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    port_free "$port" || continue
    if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port" start >/dev/null; then
      break
    fi
    [ "$tries" -lt 5 ] || die "the server did not start; see $dir/server.log"
    say "start on port $port failed; trying another port"
  done
  echo "host=127.0.0.1 port=$port user=cairn dbname=postgres" >"$dir/conninfo"
  cat "$dir/conninfo"
}

stop() {
  local bin
  bin="$(pg_bin)"
  [ -n "$bin" ] || die "PostgreSQL is not installed"
  if [ ! -s "$dir/data/postmaster.pid" ]; then
    say "no server running in $dir"
    return 0
  fi
  as_server "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
  rm -f "$dir/conninfo"
}

case "$mode" in
install) install ;;
start) start ;;
stop) stop ;;
*) die "usage: $0 install | start [DIR] | stop [DIR]" ;;
esac
