#!/usr/bin/env bash
# Installs what hookq needs to build and test (Debian 12 packages and the
# npm test dependencies; postgresql is the server the PostgreSQL store's
# tests start in a temporary directory, tests/pg/pg-server.sh), then
# builds build/hookq. Safe to run again: it
# installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  gcc pkg-config meson ninja-build
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
  libsqlite3-dev libssl-dev libcmocka-dev libzstd-dev libpq-dev
  sqlite3 zstd git curl nodejs npm
  postgresql
)
missing=()
for p in "${packages[@]}"; do
  # nodejs/npm may come from elsewhere (nodesource): a working binary is enough.
  case "$p" in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup: warning: Node.js $(node --version) found; the end-to-end tests need Node.js 20 or newer" >&2
fi

if [ ! -d node_modules/@octokit/webhooks-examples ] || [ package.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm test dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ ! -f build/build.ninja ]; then
  meson setup build --buildtype=release >/dev/null
fi
ninja -C build
