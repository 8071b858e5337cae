#!/bin/sh
# An example agent for trying hookq without Claude installed: it reads the
# prompt on stdin and reports what a real agent would get. hookq starts it
# with an argv vector (never a shell line) and these variables:
#   HOOKQ_TASK_ID, HOOKQ_FLOW_ID, HOOKQ_CONVERSATION_ID, HOOKQ_REPO,
#   HOOKQ_WORKER, HOOKQ_ATTEMPT, HOOKQ_EVENT_FILE (the event's JSON),
#   HOOKQ_TASK_TOKEN and HOOKQ_API_URL (to create follow-up tasks).
set -eu
prompt=$(cat)
echo "task ${HOOKQ_TASK_ID} on worker ${HOOKQ_WORKER} (attempt ${HOOKQ_ATTEMPT})"
echo "flow ${HOOKQ_FLOW_ID}, conversation ${HOOKQ_CONVERSATION_ID}"
echo "repository: ${HOOKQ_REPO:-none}"
echo "event file: $(wc -c < "${HOOKQ_EVENT_FILE}") bytes"
echo "prompt:"
printf '%s\n' "$prompt"
