#!/usr/bin/env bash
# The main job on an embedded default: installs what is missing, builds, then starts
# Debian's redis-server on a free loopback port, fills it with a sample of every data
# type, migrates it into an embedded Darter with `darter-migrate --verify`, and prints
# the report (scripts/demo.sh). Extra arguments go to darter-migrate (e.g. --json).
#
# To run just the server instead:  bash scripts/run.sh --server [file.conf] [darter-server options]
# (its snapshot, with Redis's default save schedule, is ./dump.rdb unless --dir says otherwise)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDARTER_BUILD_TESTS=OFF
if [[ "${1:-}" == "--server" ]]; then
  shift
  cmake --build build -j"$(nproc)" --target darter-server
  port=${PORT:-6379}
  echo "darter-server on 127.0.0.1:$port — connect with: redis-cli -p $port   (Ctrl-C stops it)"
  # A configuration file, if given, comes first, as redis-server takes it.
  if [[ $# -gt 0 && "$1" != --* ]]; then
    conf=$1
    shift
    exec ./build/apps/server/darter-server "$conf" --port "$port" "$@"
  fi
  exec ./build/apps/server/darter-server --port "$port" "$@"
fi
cmake --build build -j"$(nproc)" --target darter-migrate darter-server
exec bash scripts/demo.sh "$@"
