#!/usr/bin/env bash
# eviction_bench.sh — a cache at its memory limit: darter-server vs redis-server, one run.
#
# 1. SET throughput at the limit under allkeys-lru: each server is filled past
#    --maxmemory with 100-byte values, then redis-benchmark SETs random new keys, so
#    (nearly) every SET evicts one key first. -P 1 and -P 16, requests/s of both.
# 2. Hit ratio of a Zipf(0.99) cache-aside mix at the limit (bench/zipf_cache.py: GET,
#    SET on a miss) under allkeys-lru and allkeys-lfu: how well the policy keeps the
#    popular keys. Above Redis's ratio is better.
#
# Per-core: the server pinned to core 0, the client to core 1, darter --threads 1
# (BENCH_THREADS changes it). Environment: DARTER_BIN, BENCH_MAXMEMORY (default 64mb),
# ZIPF_MAXMEMORY (the Zipf mix's limit, default 8mb: a fraction of its working set),
# BENCH_N (SETs per run, default 300000), ZIPF_OPS (GETs, default 400000), ROUNDS (3).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
threads="${BENCH_THREADS:-1}"
maxmemory="${BENCH_MAXMEMORY:-64mb}"
zipf_maxmemory="${ZIPF_MAXMEMORY:-8mb}"
n="${BENCH_N:-300000}"
zipf_ops="${ZIPF_OPS:-400000}"
rounds="${ROUNDS:-3}"
[[ -x "$darter_bin" ]] || { echo "darter-server not found at $darter_bin" >&2; exit 2; }
command -v redis-benchmark >/dev/null || { echo "missing redis-benchmark (apt-get install redis-tools)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "missing taskset (util-linux)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server_pid=""
trap '[[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true' EXIT

# start <darter|redis> <policy> [maxmemory]: a fresh server on core 0; sets $port and
# $server_pid.
start() {
  local limit=${3:-$maxmemory}
  port=$(free_port)
  if [[ $1 == darter ]]; then
    taskset -c 0 "$darter_bin" --port "$port" --threads "$threads" --save '' --maxmemory "$limit" \
      --maxmemory-policy "$2" >/dev/null 2>&1 &
  else
    taskset -c 0 redis-server --port "$port" --save '' --appendonly no --maxmemory "$limit" \
      --maxmemory-policy "$2" >/dev/null 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
}
stop() { kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""; }
evicted() { redis-cli -p "$port" INFO stats | tr -d '\r' | awk -F: '$1=="evicted_keys"{print $2}'; }

# set_at_limit <darter|redis> <pipeline>: requests/s of SETs of new keys at the limit.
set_at_limit() {
  start "$1" allkeys-lru
  until [[ "$(evicted)" -gt 0 ]]; do
    taskset -c 1 redis-benchmark -p "$port" -t set -n 200000 -r 100000000 -d 100 -P 16 -q >/dev/null 2>&1
  done
  taskset -c 1 redis-benchmark -p "$port" -t set -n "$n" -r 100000000 -d 100 -P "$2" -q 2>/dev/null | tr '\r' '\n' |
    grep -o '[0-9.]* requests per second' | tail -1 | awk '{printf "%d", $1}'
  stop
}

# zipf_hits <darter|redis> <policy>: hit ratio of the cache-aside mix.
zipf_hits() {
  start "$1" "$2" "$zipf_maxmemory"
  taskset -c 1 python3 "$repo_root/bench/zipf_cache.py" "$port" --ops "$zipf_ops"
  stop
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '%-34s %10s %10s %7s\n' measure redis darter ratio
for p in 1 16; do
  r=() d=()
  for _ in $(seq "$rounds"); do r+=("$(set_at_limit redis "$p")"); d+=("$(set_at_limit darter "$p")"); done
  rm=$(printf '%s\n' "${r[@]}" | median) dm=$(printf '%s\n' "${d[@]}" | median)
  printf '%-34s %10s %10s %7.2f\n' "SET at the limit, -P $p (req/s)" "$rm" "$dm" "$(echo "$dm / $rm" | bc -l)"
done
for policy in allkeys-lru allkeys-lfu; do
  rm=$(zipf_hits redis "$policy") dm=$(zipf_hits darter "$policy")
  printf '%-34s %10s %10s %7.2f\n' "Zipf hit ratio, $policy" "$rm" "$dm" "$(echo "$dm / $rm" | bc -l)"
done
