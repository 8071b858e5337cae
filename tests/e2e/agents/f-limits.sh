#!/bin/sh
# Follow-up limits e2e: a running task tries follow-ups its token must not
# make (another repository, ahead of itself) and one it may; it records
# each answer's status code, one per line.
cat >/dev/null
post() {
	curl -sS -o /dev/null -w '%{http_code}\n' -H "Authorization: Bearer $HOOKQ_TASK_TOKEN" \
		-H 'content-type: application/json' --data "$1" "$HOOKQ_API_URL/api/tasks"
}
# Its follow-up runs this script too: only the first run's answers are
# kept, written whole (a reader never sees a file being rewritten), and
# later runs leave nothing in the test's directory.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
trap 'exit 1' TERM INT
{
	post '{"prompt":"elsewhere","repository":"evil/repo"}'
	post '{"prompt":"ahead","priority":0}'
	post '{"prompt":"fine"}'
} >"$tmp"
if [ -e "$F_OUT" ]; then rm -f "$tmp"; else mv "$tmp" "$F_OUT"; fi
