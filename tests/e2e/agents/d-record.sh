#!/bin/sh
# Dispatch e2e: logs "start|end <worker> <task> <ns>" lines to $D_LOG (one
# append each) around a 100-290 ms sleep chosen from the task id.
set -eu
cat >/dev/null
echo "start ${HOOKQ_WORKER} ${HOOKQ_TASK_ID} $(date +%s%N)" >>"$D_LOG"
sleep "0.$(( 100 + (HOOKQ_TASK_ID * 37) % 190 ))"
echo "end ${HOOKQ_WORKER} ${HOOKQ_TASK_ID} $(date +%s%N)" >>"$D_LOG"
