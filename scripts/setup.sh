#!/usr/bin/env bash
# Installs Darter's build, test and benchmark dependencies from Debian 12 packages.
# Idempotent: installs only what is missing, so a second run costs a few dpkg queries.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  libhiredis-dev libboost-program-options-dev libboost-dev
  liblz4-dev libzstd-dev doctest-dev
  libssl-dev openssl   # TLS (OpenSSL 3 under asio::ssl); the openssl CLI makes the tests' certificates
  liblua5.1-0-dev lua-cjson-dev lua-bitop-dev   # EVAL: Lua 5.1 as Redis embeds, cjson, bit
  redis-server redis-tools
  python3            # bench/ scripts generate datasets and pick ports with it
  python3-redis      # redis-py, the client the introspection tests drive Darter with
  python3-prometheus-client  # the metrics test parses /metrics with Prometheus's own text parser
  clang-14           # thread_safety_check: clang's -Wthread-safety on lib/server
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Debian starts a redis-server service on install where a service manager runs; tests start
# their own servers on free ports, so a system one is never needed (and none runs here).
echo "setup: dependencies present"
