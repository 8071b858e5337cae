#!/bin/sh
# Dispatch e2e: a parent asks for a follow-up task with its own token and
# records what the API answered; a child ("child" on stdin) just ends.
prompt=$(cat)
if [ "$prompt" = child ]; then
	echo "child ran"
	exit 0
fi
auth="Authorization: Bearer $HOOKQ_TASK_TOKEN"
curl -sS -o "$D_DIR/create.json" -w '%{http_code}' -H "$auth" -H 'content-type: application/json' \
	--data '{"prompt":"child"}' "$HOOKQ_API_URL/api/tasks" >"$D_DIR/create.code"
curl -sS -o /dev/null -w '%{http_code}' -H "$auth" "$HOOKQ_API_URL/api/tasks" >"$D_DIR/list.code"
curl -sS -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer made-up-0123456789abcdef' \
	-H 'content-type: application/json' --data '{"prompt":"child"}' \
	"$HOOKQ_API_URL/api/tasks" >"$D_DIR/madeup.code"
printf '%s' "$HOOKQ_TASK_TOKEN" >"$D_DIR/token"
echo "parent ran"
