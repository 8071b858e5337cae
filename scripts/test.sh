#!/usr/bin/env bash
# Runs every test: installs what is missing, builds, then runs the cmocka
# unit tests and the node:test end-to-end suites against the build.
# Usage: scripts/test.sh [BUILD_DIR] (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
if [ "$dir" = build ]; then
  scripts/setup.sh --tests >/dev/null
else
  ninja -C "$dir" >/dev/null
fi
status=0
meson test -C "$dir" --print-errorlogs || status=$?
# One closing line that counts test cases, not suites.
log="$dir/meson-logs/testlog.txt"
sum() { grep -ohE "$1" "$log" | grep -oE '[0-9]+' | awk '{s += $1} END {print s + 0}'; }
passed=$(sum '\[  PASSED  \] [0-9]+|ℹ pass [0-9]+')
failed=$(sum '\[  FAILED  \] [0-9]+ test|ℹ fail [0-9]+')
echo "tests: $passed passed, $failed failed"
exit $status
