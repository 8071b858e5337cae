#!/usr/bin/env bash
# Quick start: installs what is missing, builds, and runs hookq on SQLite
# with examples/hookq.yaml. Without GITHUB_WEBHOOK_SECRET and
# ADMIN_PASSWORD in the environment it starts in dev mode (loud warning,
# unsigned webhooks accepted, 127.0.0.1 only).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
args=(serve --config examples/hookq.yaml)
if [ -z "${GITHUB_WEBHOOK_SECRET:-}" ] || [ -z "${ADMIN_PASSWORD:-}" ]; then
  args+=(--dev)
fi
exec build/hookq "${args[@]}" "$@"
