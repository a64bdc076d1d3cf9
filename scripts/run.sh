#!/usr/bin/env bash
# Installs dependencies, builds darter-server (Release) and runs it in the foreground
# on port 6379 (override with PORT=...). Extra arguments go to darter-server.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDARTER_BUILD_TESTS=OFF
cmake --build build -j"$(nproc)" --target darter-server
port=${PORT:-6379}
echo "darter-server on 127.0.0.1:$port — connect with: redis-cli -p $port   (Ctrl-C stops it)"
exec ./build/apps/server/darter-server --port "$port" "$@"
