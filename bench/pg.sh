# shellcheck shell=bash
# bench/pg.sh: the PostgreSQL side of bench/ingest and bench/process, sourced
# by both. One throwaway server per run (tests/pg/pg-server.sh: initdb in a
# temporary directory, loopback, a free port, default durability), one fresh
# database per measurement. BENCH_PG=0 skips PostgreSQL altogether.
#
# The sourcing script defines die() and calls bench_pg_stop from its EXIT
# trap; bench_pg_stop does nothing when no server was started.

BENCH_PG=${BENCH_PG:-1}
[[ $BENCH_PG == 0 || $BENCH_PG == 1 ]] || die "BENCH_PG must be 0 or 1 (got '$BENCH_PG')"
PG_SERVER=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/pg/pg-server.sh
PG_DIR=
PG_BASE_URL=

# bench_pg_check_tools: fails early, with what to do, when the PostgreSQL
# part cannot run. Looks for initdb where pg-server.sh does.
bench_pg_check_tools() {
	local d found=""
	[[ $BENCH_PG == 1 ]] || return 0
	command -v psql >/dev/null ||
		die "'psql' not found in PATH (install postgresql-client, or skip PostgreSQL with BENCH_PG=0)"
	if [[ -n ${PG_BIN:-} ]]; then
		[[ -x $PG_BIN/initdb ]] && found=$PG_BIN
	else
		for d in /usr/lib/postgresql/*/bin; do
			[[ -x $d/initdb ]] && found=$d
		done
		[[ -n $found ]] || ! command -v initdb >/dev/null || found=$(dirname "$(command -v initdb)")
	fi
	[[ -n $found ]] ||
		die "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package, set PG_BIN to their directory, or skip PostgreSQL with BENCH_PG=0"
	[[ -x $PG_SERVER ]] || die "missing $PG_SERVER"
}

# bench_pg_start: starts the server; sets PG_DIR and PG_BASE_URL (without
# the database name). Its own temporary directory: pg-server.sh hands it
# to the server's user when run as root, which $WORK (mode 700) would not
# let through.
bench_pg_start() {
	local url
	PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hookq-bench-pg.XXXXXX") || die "cannot create a temp directory for PostgreSQL"
	url=$("$PG_SERVER" start "$PG_DIR") || die "the PostgreSQL server did not start (see above)"
	PG_BASE_URL=${url%/*}
}

bench_pg_stop() {
	[[ -n $PG_DIR ]] || return 0
	"$PG_SERVER" stop "$PG_DIR" || true
	PG_DIR=
}

# bench_pg_sql DB SQL: runs SQL on database DB, prints the unaligned result.
bench_pg_sql() {
	psql -X -q -At -v ON_ERROR_STOP=1 "$PG_BASE_URL/$1" -c "$2"
}

# bench_pg_create NAME [TEMPLATE]: a new database, empty or a copy of
# TEMPLATE (which nobody may be connected to); prints its URL.
bench_pg_create() {
	local sql="CREATE DATABASE $1"
	[[ -z ${2:-} ]] || sql="$sql TEMPLATE $2"
	bench_pg_sql postgres "$sql" >/dev/null || die "cannot create the PostgreSQL database $1"
	printf '%s/%s\n' "$PG_BASE_URL" "$1"
}

# bench_count_events DB WHERE: events matching WHERE, in a SQLite file or a
# PostgreSQL database given by URL.
bench_count_events() {
	if [[ $1 == postgres://* || $1 == postgresql://* ]]; then
		psql -X -q -At -v ON_ERROR_STOP=1 "$1" -c "select count(*) from events where $2"
	else
		sqlite3 "$1" "select count(*) from events where $2"
	fi
}
