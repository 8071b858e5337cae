#!/bin/sh
# Cluster e2e: logs "start|end <task> <node pid> <worker> <attempt-ns>" to
# $C_LOG (one append each, atomic: shorter than PIPE_BUF) around a short
# sleep. The node is the agent's parent: hookq spawns it directly.
set -eu
cat >/dev/null
now=$(date +%s%N)
echo "start ${HOOKQ_TASK_ID} ${PPID} ${HOOKQ_WORKER} ${now}" >>"$C_LOG"
sleep 0.05
echo "end ${HOOKQ_TASK_ID} ${PPID} ${HOOKQ_WORKER} ${now}" >>"$C_LOG"
