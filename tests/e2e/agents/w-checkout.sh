#!/bin/sh
# Reports the checkout the agent was started in (workspace tests).
echo "cwd=$(pwd)"
echo "workspace=${HOOKQ_WORKSPACE:-}"
echo "repo=${HOOKQ_REPO:-}"
echo "readme=$(cat README 2>/dev/null)"
echo "head=$(git rev-parse HEAD 2>/dev/null)"
