#!/usr/bin/env bash
# RDB parse throughput of lib/rdb (darter-rdb bench) beside the time
# Debian's redis-server takes to load the same file.
#
#   bench/rdb_parse_bench.sh [BUILD_DIR]     (default: build-rdb, Release)
#
# Files (made fresh in a temp dir by redis-server itself):
#   populate.rdb  DEBUG POPULATE 1000000, then SAVE (1M short strings)
#   mixed.rdb     strings, lists, sets (intset + hashtable), hashes, zsets and
#                 streams of several sizes, made by a Lua script, then SAVE
# Redis's load time is the "DB loaded from disk: X seconds" line of its log
# (best of 3 starts); ours is the best of 5 in-memory parses (whole buffer),
# plus one run fed in 64 KB pieces (the replication path).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-rdb}
TOOL=$BUILD/apps/rdb/darter-rdb
if [[ ! -x $TOOL ]]; then
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD" --target darter-rdb -j2 >/dev/null
fi

WORK=$(mktemp -d /tmp/darter-rdb-bench-XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [[ -n $p ]] && kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# start_redis DIR FILE -> sets PORT, PID
start_redis() {
  PORT=$(free_port)
  redis-server --save '' --appendonly no --port "$PORT" --bind 127.0.0.1 --dir "$1" \
    --dbfilename "$2" --enable-debug-command yes --logfile "$1/redis.log" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 600); do  # up to 60 s
    if redis-cli -p "$PORT" ping 2>/dev/null | grep -q PONG; then return 0; fi
    sleep 0.1
  done
  echo "redis-server did not come up" >&2; cat "$1/redis.log" >&2; return 1
}
stop_redis() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }

make_file() {  # make_file NAME LUA_OR_POPULATE
  local d=$WORK/make-$1; mkdir -p "$d"
  start_redis "$d" dump.rdb
  if [[ $2 == populate ]]; then
    redis-cli -p "$PORT" debug populate 1000000 >/dev/null
  else
    redis-cli -p "$PORT" eval "$2" 0 >/dev/null
  fi
  redis-cli -p "$PORT" save >/dev/null
  stop_redis
  cp "$d/dump.rdb" "$WORK/$1.rdb"
}

MIXED_LUA='
for i = 1, 200000 do redis.call("SET", "s:" .. i, "value-" .. i) end
for i = 1, 20000 do redis.call("SET", "n:" .. i, i * 7) end
for i = 1, 20000 do
  redis.call("RPUSH", "l:" .. i, "a", "bb", i, "dddd", "eeeee", i * 3)
  redis.call("SADD", "is:" .. i, 1, 2, 3, i, i + 100000)
  redis.call("SADD", "ss:" .. i, "m1", "m2", "member-" .. i)
  redis.call("HSET", "h:" .. i, "f1", "v1", "f2", i, "field3", "value-" .. i)
  redis.call("ZADD", "z:" .. i, 1, "a", 2.5, "b", i, "c")
end
for i = 1, 2000 do
  redis.call("XADD", "x:" .. i, "*", "f", i, "g", "v")
  redis.call("XADD", "x:" .. i, "*", "f", i + 1, "g", "w")
end
for k = 1, 20 do
  for j = 1, 5000 do
    redis.call("RPUSH", "biglist:" .. k, "element-" .. j)
    redis.call("HSET", "bighash:" .. k, "field-" .. j, "value-" .. j)
    redis.call("ZADD", "bigzset:" .. k, j * 1.5, "member-" .. j)
    redis.call("SADD", "bigset:" .. k, "member-" .. j)
  end
end
return 1'

echo "# making files in $WORK"
make_file populate populate
make_file mixed "$MIXED_LUA"

redis_load_seconds() {  # best of 3
  local best=""
  for _ in 1 2 3; do
    local d=$WORK/load; rm -rf "$d"; mkdir -p "$d"; cp "$WORK/$1.rdb" "$d/dump.rdb"
    start_redis "$d" dump.rdb
    local t
    t=$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$d/redis.log" | grep -o '[0-9.]*' | head -1)
    stop_redis
    if [[ -z $best ]] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
  done
  echo "$best"
}

for f in populate mixed; do
  file=$WORK/$f.rdb
  echo
  echo "## $f.rdb ($(stat -c %s "$file") bytes)"
  "$TOOL" check "$file"
  ours=$("$TOOL" bench "$file" --runs 5)
  echo "$ours"
  inc=$("$TOOL" bench "$file" --runs 3 --feed 65536 | grep -E 'best_(seconds|MB)')
  echo "incremental (64 KB pieces): $(echo "$inc" | tr '\n' ' ')"
  rl=$(redis_load_seconds "$f")
  ob=$(echo "$ours" | awk '/^best_seconds/{print $2}')
  echo "redis_server_load_seconds (best of 3): $rl"
  awk -v r="$rl" -v o="$ob" 'BEGIN{printf "ratio redis_load / darter_parse: %.1fx\n", r / o}'
done
