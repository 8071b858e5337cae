#!/bin/sh
# Dispatch e2e: records its pid per attempt; the first attempt hangs for
# 30 s (to be orphaned by a crash), later ones succeed at once.
cat >/dev/null
echo $$ >"$D_DIR/pid-$HOOKQ_TASK_ID-$HOOKQ_ATTEMPT"
if [ "$HOOKQ_ATTEMPT" = 1 ]; then
	exec sleep 30
fi
echo "done on attempt $HOOKQ_ATTEMPT"
