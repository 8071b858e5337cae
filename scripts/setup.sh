#!/usr/bin/env bash
# Installs what hookq needs to build and test (Debian 12 packages and the
# npm test dependencies), then builds build/hookq. Safe to run again: it
# installs only what is missing.
#   scripts/setup.sh           what building and running hookq need
#   scripts/setup.sh --tests   also Debian's postgresql, the server the tests
#                              start in temporary directories
#                              (tests/pg/pg-server.sh); no cluster of its own
#                              is created or started
set -euo pipefail
cd "$(dirname "$0")/.."
tests=false
[ "${1:-}" = --tests ] && tests=true

packages=(
  gcc pkg-config meson ninja-build
  libmicrohttpd-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
  libsqlite3-dev libssl-dev libcmocka-dev libzstd-dev libpq-dev
  sqlite3 zstd git curl nodejs npm
)
$tests && packages+=(postgresql)
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
  if [[ " ${missing[*]} " == *" postgresql "* ]] && ! command -v pg_lsclusters >/dev/null; then
    # Debian's package would create and start a "main" cluster on port
    # 5432 (and enable it at boot): the tests never use it. This drop-in
    # of postgresql-common says not to; remove it to get the default back.
    $sudo mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false  # hookq scripts/setup.sh --tests" |
      $sudo tee /etc/postgresql-common/createcluster.d/hookq-no-main-cluster.conf >/dev/null
  fi
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
