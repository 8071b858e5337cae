#!/usr/bin/env bash
# Runs a command against a throwaway PostgreSQL server (pg-server.sh):
# starts it, exports HOOKQ_TEST_PG_URL, runs the command, stops the server
# and removes its directory whatever the command did. A server that cannot
# start fails the run with pg-server.sh's reason: tests never pass without
# one.
#   with-pg.sh COMMAND [ARG...]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || {
	echo "usage: $0 COMMAND [ARG...]" >&2
	exit 2
}
dir=$(mktemp -d "${TMPDIR:-/tmp}/hookq-pg.XXXXXX") || exit 1
trap '"$here/pg-server.sh" stop "$dir"' EXIT
trap 'exit 130' INT TERM
# pg-server.sh wants an empty directory it may hand to the server's user.
if ! url=$("$here/pg-server.sh" start "$dir"); then
	echo "with-pg: the test PostgreSQL server did not start (see above)" >&2
	exit 1
fi
export HOOKQ_TEST_PG_URL=$url
"$@"
