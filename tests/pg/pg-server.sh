#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: Debian's postgresql, initdb in a
# temporary directory, listening on 127.0.0.1 only at a free port, its unix
# socket inside that directory, trust authentication for the test user
# "hookq" on loopback only. fsync and the other durability settings are
# left at their defaults, so tests see the commit costs users see.
#
#   pg-server.sh start DIR   initdb into DIR (created if missing, must be
#                            empty), start, wait until it accepts
#                            connections, print the URL on stdout
#   pg-server.sh down DIR    stop it and keep DIR (an outage)
#   pg-server.sh up DIR      start it again after down, on the same port
#   pg-server.sh stop DIR    stop it (fast shutdown) and remove DIR
#
# initdb refuses to run as root: as root the server runs as the user
# "postgres" (Debian's package creates it; PG_USER overrides), which then
# owns DIR. PG_BIN names the directory of initdb/pg_ctl when they are not
# in /usr/lib/postgresql/*/bin or on PATH.
set -euo pipefail

usage() {
	echo "usage: $0 start|stop DIR" >&2
	exit 2
}
[ $# -eq 2 ] || usage
cmd=$1
dir=$2

find_bin() {
	if [ -n "${PG_BIN:-}" ]; then
		if [ ! -x "$PG_BIN/initdb" ]; then
			echo "pg-server: PG_BIN='$PG_BIN' has no initdb" >&2
			exit 1
		fi
		echo "$PG_BIN"
		return
	fi
	local d best=""
	for d in /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && best=$d
	done
	if [ -z "$best" ] && command -v initdb >/dev/null; then
		best=$(dirname "$(command -v initdb)")
	fi
	if [ -z "$best" ]; then
		echo "pg-server: no PostgreSQL server binaries (initdb) found: install Debian's postgresql package or set PG_BIN" >&2
		exit 1
	fi
	echo "$best"
}

# Runs a command as the server's user.
as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u "$owner" -- "$@"
	else
		"$@"
	fi
}

owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
	owner=${PG_USER:-postgres}
	if ! id "$owner" >/dev/null 2>&1; then
		echo "pg-server: running as root and there is no user '$owner' to run PostgreSQL as (initdb refuses root); set PG_USER" >&2
		exit 1
	fi
fi

case "$cmd" in
start)
	bin=$(find_bin)
	mkdir -p "$dir"
	if [ -n "$(ls -A "$dir")" ]; then
		echo "pg-server: '$dir' is not empty" >&2
		exit 1
	fi
	[ "$(id -u)" -eq 0 ] && chown "$owner" "$dir"
	chmod 700 "$dir"
	mkdir "$dir/data" "$dir/run"
	[ "$(id -u)" -eq 0 ] && chown "$owner" "$dir/data" "$dir/run"
	if ! as_owner "$bin/initdb" -D "$dir/data" -U hookq --auth=trust -E UTF8 \
		--locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1; then
		echo "pg-server: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		exit 1
	fi
	# Trust, but for loopback and the private socket only.
	cat >"$dir/data/pg_hba.conf" <<-EOF
		local all all trust
		host  all all 127.0.0.1/32 trust
	EOF
	# A free port: ask for one at random and take the next one when the
	# server cannot bind it (another server, or a race with one).
	started=""
	for _ in $(seq 1 20); do
		port=$((20000 + RANDOM % 40000))
		if as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir/run'" \
			start >/dev/null 2>&1; then
			started=yes
			break
		fi
		if ! grep -q 'could not bind\|Address already in use\|could not create any TCP/IP sockets' \
			"$dir/server.log" 2>/dev/null; then
			break
		fi
		: >"$dir/server.log"
	done
	if [ -z "$started" ]; then
		echo "pg-server: PostgreSQL did not start:" >&2
		cat "$dir/server.log" >&2 2>/dev/null || true
		exit 1
	fi
	echo "$port" >"$dir/port"
	# pg_ctl -w waits for the server to accept connections; the database
	# the tests use is created here, over TCP as they connect.
	if ! "$bin/psql" -X -q -h 127.0.0.1 -p "$port" -U hookq -d postgres \
		-c 'CREATE DATABASE hookq' >/dev/null 2>"$dir/psql.log"; then
		echo "pg-server: cannot create the test database:" >&2
		cat "$dir/psql.log" >&2
		as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
		exit 1
	fi
	echo "postgresql://hookq@127.0.0.1:$port/hookq"
	;;
down)
	# Stops the server and keeps everything (up starts it again): a
	# database outage in the middle of a test.
	bin=$(find_bin)
	as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
	;;
up)
	bin=$(find_bin)
	port=$(cat "$dir/port")
	as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
		-o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories='$dir/run'" \
		start >/dev/null
	;;
stop)
	# The directory goes whatever happens to the server.
	trap 'rm -rf "$dir"' EXIT
	if [ -f "$dir/data/postmaster.pid" ]; then
		bin=$(find_bin)
		as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 ||
			as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
	fi
	;;
*)
	usage
	;;
esac
