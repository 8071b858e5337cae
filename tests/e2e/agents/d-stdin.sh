#!/bin/sh
# Dispatch e2e: keeps the prompt exactly as received on stdin.
cat >"$D_DIR/prompt-$HOOKQ_TASK_ID"
echo "prompt kept"
