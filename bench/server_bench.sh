#!/usr/bin/env bash
# server_bench.sh — darter-server vs redis-server, same machine, same run.
#
# Starts both servers on free loopback ports, then for each server:
#   1. memory: FLUSHALL, DEBUG POPULATE <BENCH_POPULATE>, wait for RSS to
#      settle, read VmRSS from /proc/<pid>/status (on a fresh server, before
#      any benchmark traffic, so allocator leftovers do not skew it);
#   2. throughput: redis-benchmark -t set,get -c <clients> -P 1, then -P 32,
#      with random keys (-r) so a sharded server spreads them over threads.
# Prints one table with requests/s and RSS for both, and darter/redis ratios.
#
# Usage: bench/server_bench.sh [--redis-only] [-h]
# Environment (all optional):
#   DARTER_BIN          darter-server binary   (default build/apps/server/darter-server)
#   REDIS_SERVER_BIN    redis-server binary    (default /usr/bin/redis-server)
#   BENCH_THREADS       darter --threads       (default: nproc)
#   BENCH_N             requests per -P 1 run  (default 200000, ~2-4 s here)
#   BENCH_N_PIPELINE    requests per -P 32 run (default 10 x BENCH_N)
#   BENCH_CLIENTS       connections            (default 50)
#   BENCH_KEYSPACE      -r key space           (default 100000)
#   BENCH_POPULATE      keys for DEBUG POPULATE (default 1000000)
#   BENCH_REDIS_ONLY=1  same as --redis-only: run without darter-server
#   BENCH_PIN           "S,C": servers pinned to core S, redis-benchmark to core C
#                       (taskset), darter --threads 1 unless BENCH_THREADS is set:
#                       per-core efficiency without the client stealing the server's core
#
# Exit codes: 0 done, 1 a server failed, 2 darter-server binary missing
# (without --redis-only).
#
# Caveat: redis-benchmark runs on the same cores as the servers; on a small
# machine (2 cores) the client is part of the bottleneck, so read the ratios,
# not the absolute numbers.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }

redis_only="${BENCH_REDIS_ONLY:-0}"
for arg in "$@"; do
  case "$arg" in
    --redis-only) redis_only=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 64 ;;
  esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
redis_bin="${REDIS_SERVER_BIN:-/usr/bin/redis-server}"
pin="${BENCH_PIN:-}"
server_pin=() client_pin=()
if [[ -n "$pin" ]]; then
  [[ "$pin" =~ ^[0-9]+,[0-9]+$ ]] || { echo "BENCH_PIN must be S,C (two core numbers), got '$pin'" >&2; exit 64; }
  command -v taskset >/dev/null || { echo "BENCH_PIN needs taskset (util-linux)" >&2; exit 1; }
  server_pin=(taskset -c "${pin%,*}")
  client_pin=(taskset -c "${pin#*,}")
fi
threads="${BENCH_THREADS:-$([[ -n "$pin" ]] && echo 1 || nproc)}"
n_plain="${BENCH_N:-200000}"
n_pipe="${BENCH_N_PIPELINE:-$((n_plain * 10))}"
clients="${BENCH_CLIENTS:-50}"
keyspace="${BENCH_KEYSPACE:-100000}"
populate="${BENCH_POPULATE:-1000000}"

for tool in redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install redis-tools)" >&2; exit 1; }
done
[[ -x "$redis_bin" ]] || { echo "redis-server not found at $redis_bin" >&2; exit 1; }
if [[ ! -x "$darter_bin" ]]; then
  if [[ "$redis_only" == 1 ]]; then
    echo "note: darter-server not found at $darter_bin; measuring redis-server only"
    darter_bin=""
  else
    echo "darter-server not found at $darter_bin (build it, set DARTER_BIN, or pass --redis-only)" >&2
    exit 2
  fi
fi

workdir="$(mktemp -d "${TMPDIR:-/tmp}/darter-bench-XXXXXX")"
declare -A pid port

stop_server() {  # by pid: SIGTERM, up to 5 s, then SIGKILL; always reaped
  local p="$1"
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  for name in "${!pid[@]}"; do stop_server "${pid[$name]}"; done
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  while :; do  # nothing listening there = free enough
    p=$((20000 + RANDOM % 40000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

wait_ready() {  # name: polls PING until PONG, bounded, fails fast if the child died
  local name="$1"
  for _ in $(seq 100); do
    if ! kill -0 "${pid[$name]}" 2>/dev/null; then
      echo "$name exited before it was ready; log tail:" >&2
      tail -n 20 "$workdir/$name.log" >&2
      return 1
    fi
    [[ "$(redis-cli -p "${port[$name]}" PING 2>/dev/null)" == PONG ]] && return 0
    sleep 0.1
  done
  echo "$name not ready after 10 s; log tail:" >&2
  tail -n 20 "$workdir/$name.log" >&2
  return 1
}

start_redis() {
  port[redis]="$(free_port)"
  mkdir -p "$workdir/redis"
  "${server_pin[@]}" "$redis_bin" --save '' --appendonly no --bind 127.0.0.1 --port "${port[redis]}" \
    --dir "$workdir/redis" --enable-debug-command yes --daemonize no \
    >"$workdir/redis.log" 2>&1 &
  pid[redis]=$!
  wait_ready redis
}

start_darter() {
  port[darter]="$(free_port)"
  "${server_pin[@]}" "$darter_bin" --port "${port[darter]}" --bind 127.0.0.1 --enable-debug-command local --threads "$threads" --save '' \
    >"$workdir/darter.log" 2>&1 &
  pid[darter]=$!
  wait_ready darter
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# RSS in kB once it stops moving (two readings 200 ms apart within 1%), 10 s max.
settled_rss_kb() {
  local p="$1" prev now
  prev="$(rss_kb "$p")"
  for _ in $(seq 50); do
    sleep 0.2
    now="$(rss_kb "$p")"
    if (( now * 100 >= prev * 99 && now * 100 <= prev * 101 )); then break; fi
    prev="$now"
  done
  echo "$now"
}

declare -A result  # result[<name>,<test>] = rps ; result[<name>,rss|base] = kB

measure_memory() {
  local name="$1" p="${port[$1]}" reply
  redis-cli -p "$p" FLUSHALL >/dev/null
  result[$name,base]="$(settled_rss_kb "${pid[$name]}")"
  reply="$(redis-cli -p "$p" DEBUG POPULATE "$populate" 2>&1)"
  if [[ "$reply" != OK ]]; then
    echo "$name: DEBUG POPULATE failed: $reply" >&2
    result[$name,rss]="n/a"
    return
  fi
  local dbsize
  dbsize="$(redis-cli -p "$p" DBSIZE)"
  [[ "$dbsize" == "$populate" ]] || echo "$name: DBSIZE is $dbsize after DEBUG POPULATE $populate" >&2
  result[$name,rss]="$(settled_rss_kb "${pid[$name]}")"
  redis-cli -p "$p" FLUSHALL >/dev/null
}

# redis-benchmark --csv prints: "test","rps","avg_latency_ms",...
run_bench() {
  local name="$1" pipeline="$2" n="$3" csv
  csv="$("${client_pin[@]}" redis-benchmark -h 127.0.0.1 -p "${port[$name]}" -t set,get -n "$n" -c "$clients" \
        -P "$pipeline" -r "$keyspace" --csv 2>/dev/null)"
  while IFS=, read -r test rps _; do
    test="${test//\"/}"; rps="${rps//\"/}"
    [[ "$test" == SET || "$test" == GET ]] || continue
    result[$name,"$test -P $pipeline"]="$rps"
  done <<<"$csv"
}

servers=(redis)
[[ -n "$darter_bin" ]] && servers+=(darter)

start_redis
[[ -n "$darter_bin" ]] && start_darter

echo "machine: $(nproc) cores; darter --threads $threads; clients $clients; keyspace $keyspace${pin:+; pinned: servers on core ${pin%,*}, client on core ${pin#*,}}"
echo "requests: $n_plain per -P 1 run, $n_pipe per -P 32 run; DEBUG POPULATE $populate"
for name in "${servers[@]}"; do
  echo "measuring $name (pid ${pid[$name]}, port ${port[$name]}) ..." >&2
  measure_memory "$name"
  run_bench "$name" 1 "$n_plain"
  run_bench "$name" 32 "$n_pipe"
done

ratio() {  # darter / redis, or "-"
  local d="$1" r="$2"
  [[ "$d" =~ ^[0-9.]+$ && "$r" =~ ^[0-9.]+$ ]] || { echo "-"; return; }
  awk -v d="$d" -v r="$r" 'BEGIN { if (r == 0) print "-"; else printf "%.2f", d / r }'
}
mib() { [[ "$1" =~ ^[0-9]+$ ]] && awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }' || echo "${1:--}"; }

echo
printf '%-12s %14s %14s %14s\n' "test" "redis rps" "darter rps" "darter/redis"
for test in "SET -P 1" "GET -P 1" "SET -P 32" "GET -P 32"; do
  r="${result[redis,$test]:--}"
  d="${result[darter,$test]:--}"
  printf '%-12s %14s %14s %14s\n' "$test" "$r" "$d" "$(ratio "$d" "$r")"
done
echo
printf '%-12s %14s %14s %14s\n' "memory" "redis" "darter" "darter/redis"
printf '%-12s %14s %14s %14s\n' "RSS empty" "$(mib "${result[redis,base]:-}")" \
  "$(mib "${result[darter,base]:-}")" "$(ratio "${result[darter,base]:-}" "${result[redis,base]:-}")"
printf '%-12s %14s %14s %14s\n' "RSS $populate" "$(mib "${result[redis,rss]:-}")" \
  "$(mib "${result[darter,rss]:-}")" "$(ratio "${result[darter,rss]:-}" "${result[redis,rss]:-}")"
