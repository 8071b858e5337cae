#!/bin/sh
# Replies e2e: reads its prompt, prints a few lines for the reply to quote
# (a GitHub-token-shaped string, and the content of $R_TOKEN_FILE when set:
# both must be redacted), then exits with $R_EXIT (default 0).
cat >/dev/null
echo "r-reply ran task ${HOOKQ_TASK_ID} attempt ${HOOKQ_ATTEMPT}"
echo "fake token ghp_0123456789abcdefghijABCDEFGHIJ012345 here"
if [ -n "${R_TOKEN_FILE:-}" ]; then
	echo "the configured token is $(cat "$R_TOKEN_FILE") (should be redacted)"
fi
echo "r-reply-last-line"
exit "${R_EXIT:-0}"
