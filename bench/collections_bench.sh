#!/usr/bin/env bash
# collections_bench.sh — memory and throughput of lists, hashes, sets and sorted sets,
# darter-server vs redis-server in the same run.
#
# Memory: for each shape (type × members per key) both servers start fresh, are loaded
# with the same commands through `redis-cli --pipe`, and their VmRSS growth over the
# empty server is compared. Shapes: KEYS keys of 10 members, and KEYS/10 keys of 1000
# members (100k × 1000 small members is 100M elements: more than this 24 GiB, 2-core
# machine can load into two servers in reasonable time, so the big shape uses a tenth of
# the keys; the per-member cost is what it measures).
# Throughput: redis-benchmark -t lpush,lpop,sadd,hset,zadd (random keys) on both.
#
# Usage: bench/collections_bench.sh
# Environment: DARTER_BIN (default build/apps/server/darter-server), BENCH_THREADS
# (default nproc), BENCH_KEYS (default 100000), BENCH_N (redis-benchmark requests,
# default 200000), BENCH_CLIENTS (default 50).
# Exit codes: 0 done, 1 a server failed, 2 darter-server missing.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
threads="${BENCH_THREADS:-$(nproc)}"
keys="${BENCH_KEYS:-100000}"
n="${BENCH_N:-200000}"
clients="${BENCH_CLIENTS:-50}"
[[ -x "$darter_bin" ]] || { echo "darter-server not found at $darter_bin" >&2; exit 2; }

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]:-}"; do [[ -n "$p" ]] && kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]:-}"; do [[ -n "$p" ]] && wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 20000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_ready() {
  local port=$1
  for _ in $(seq 1 200); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "server on port $port did not start" >&2
  exit 1
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

start_server() {  # kind port -> echoes pid
  local kind=$1 port=$2
  if [[ $kind == redis ]]; then
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
      >"$work/redis-$port.log" 2>&1 &
  else
    "$darter_bin" --port "$port" --bind 127.0.0.1 --enable-debug-command local --threads "$threads" --save '' --dir "$work" \
      >"$work/darter-$port.log" 2>&1 &
  fi
  echo $!
}

# RESP for `count` keys of type `type`, `members` members each.
gen_load() {  # type keys members
  awk -v type="$1" -v nkeys="$2" -v members="$3" 'BEGIN {
    batch = 100
    for (k = 0; k < nkeys; k++) {
      key = "bench:" type ":" k
      for (m = 0; m < members; m += batch) {
        hi = m + batch; if (hi > members) hi = members
        cnt = hi - m
        if (type == "list")      { cmd = "RPUSH"; per = 1 }
        else if (type == "set")  { cmd = "SADD";  per = 1 }
        else if (type == "hash") { cmd = "HSET";  per = 2 }
        else                     { cmd = "ZADD";  per = 2 }
        printf "*%d\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", 2 + cnt * per, length(cmd), cmd, length(key), key
        for (i = m; i < hi; i++) {
          member = "member:" i
          if (type == "hash") { v = "value:" i; printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(member), member, length(v), v }
          else if (type == "zset") { s = i ".5"; printf "$%d\r\n%s\r\n$%d\r\n%s\r\n", length(s), s, length(member), member }
          else printf "$%d\r\n%s\r\n", length(member), member
        }
      }
    }
  }'
}

printf "%-22s %12s %12s %8s\n" "shape" "redis MiB" "darter MiB" "ratio"
for members in 10 1000; do
  nk=$keys
  [[ $members == 1000 ]] && nk=$((keys / 10))
  for type in list hash set zset; do
    gen_load "$type" "$nk" "$members" >"$work/load.resp"
    declare -A growth=()
    for kind in redis darter; do
      port=$(free_port)
      pid=$(start_server "$kind" "$port")
      pids+=("$pid")
      wait_ready "$port"
      base=$(rss_kb "$pid")
      redis-cli -p "$port" --pipe <"$work/load.resp" >/dev/null
      sleep 0.5
      growth[$kind]=$(( $(rss_kb "$pid") - base ))
      kill "$pid"; wait "$pid" 2>/dev/null || true
    done
    awk -v shape="${nk}x${members} $type" -v r="${growth[redis]}" -v d="${growth[darter]}" \
      'BEGIN { printf "%-22s %12.1f %12.1f %8.2f\n", shape, r/1024, d/1024, (r > 0 ? d/r : 0) }'
  done
done

echo
printf "%-8s %14s %14s %8s\n" "test" "redis rps" "darter rps" "ratio"
declare -A ports=()
for kind in redis darter; do
  port=$(free_port)
  pid=$(start_server "$kind" "$port")
  pids+=("$pid")
  wait_ready "$port"
  ports[$kind]=$port
done
for t in lpush lpop sadd hset zadd; do
  declare -A rps=()
  for kind in redis darter; do
    rps[$kind]=$(redis-benchmark -p "${ports[$kind]}" -t "$t" -n "$n" -c "$clients" -r 100000 -q --csv 2>/dev/null |
      awk -F, 'NR > 1 || $1 !~ /test/ { gsub(/"/, "", $2); print $2; exit }')
  done
  awk -v t="$t" -v r="${rps[redis]}" -v d="${rps[darter]}" \
    'BEGIN { printf "%-8s %14.0f %14.0f %8.2f\n", t, r, d, (r > 0 ? d/r : 0) }'
done
