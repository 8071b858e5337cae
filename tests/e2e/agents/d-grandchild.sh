#!/bin/sh
# Dispatch e2e: starts a grandchild that outlives its parent unless the
# whole process group is ended; records both pids in $D_DIR.
cat >/dev/null
sleep 60 &
echo $! >"$D_DIR/grandchild-$HOOKQ_TASK_ID"
echo $$ >"$D_DIR/agent-$HOOKQ_TASK_ID"
sleep 60
