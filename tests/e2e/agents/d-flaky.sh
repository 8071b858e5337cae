#!/bin/sh
# Dispatch e2e: fails (exit 3) until $D_DIR/ok exists; counts its runs.
cat >/dev/null
echo "run $HOOKQ_ATTEMPT" >>"$D_DIR/runs-$HOOKQ_TASK_ID"
[ -e "$D_DIR/ok" ] || { echo "not yet" >&2; exit 3; }
echo "fixed"
