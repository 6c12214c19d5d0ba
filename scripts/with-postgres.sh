#!/bin/sh
# Runs a command with a throwaway PostgreSQL server: initdb into a temporary directory, a
# free port on 127.0.0.1, TEST_POSTGRES_URL set to its URL, and the server stopped (and
# the directory removed) however the command ends. Debian's `postgresql` package is
# installed when missing. The tests create a database of their own on it.
set -eu

pg_bin=/usr/lib/postgresql/15/bin
if [ ! -x "$pg_bin/initdb" ]; then
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
fi
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
    echo "with-postgres: installing Debian's postgresql package" >&2
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >&2
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/sonde-postgres.XXXXXX")
# The server refuses to run as root: as root, it runs as the `postgres` user.
as_server=""
if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    as_server="runuser -u postgres --"
fi
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
    $as_server "$pg_bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
}
trap stop EXIT INT TERM

$as_server "$pg_bin/initdb" -D "$dir/data" -A trust -U sonde -E UTF8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
# fsync off: a test server's durability is not under test, and it saves seconds.
$as_server "$pg_bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-k $dir -h 127.0.0.1 -p $port -c fsync=off -c max_connections=200" start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }

export TEST_POSTGRES_URL="postgresql://sonde@127.0.0.1:$port/postgres"
status=0
"$@" || status=$?
exit $status
