#!/bin/sh
# Dispatch e2e: reads the prompt, then works for 2 s.
cat >/dev/null
sleep 2
echo "slow done"
