#!/usr/bin/env bash
# persistence_bench.sh — SAVE time, start-up load time and the extra memory of a
# BGSAVE under a write load: darter-server vs redis-server, same machine, same run.
#
# For each server in turn (never both at once, so they do not share the CPU):
#   1. fill: redis-benchmark SET over a key space of BENCH_KEYS keys (values of
#      BENCH_VALUE bytes), BENCH_FILL_FACTOR x BENCH_KEYS requests, pipelined;
#   2. SAVE: wall time of the command (no other load);
#   3. BGSAVE under load: redis-benchmark SET on the same key space runs in the
#      background (overwrites: the dataset does not grow); VmRSS is sampled every
#      10 ms from just before BGSAVE until INFO says it finished. Extra memory:
#        darter: peak VmRSS - VmRSS before BGSAVE (one process, fork-less);
#        redis:  peak of (parent VmRSS - parent VmRSS before) + child's private
#                memory (Private_Clean + Private_Dirty of /proc/<child>/smaps_rollup,
#                i.e. the pages copy-on-write has duplicated);
#   4. load: restart on the dump file; the "DB loaded from disk: X seconds" log line.
# Prints a table with darter/redis ratios.
#
# Usage: bench/persistence_bench.sh [-h]
# Environment (all optional):
#   DARTER_BIN          darter-server binary  (default build/apps/server/darter-server)
#   REDIS_SERVER_BIN    redis-server binary   (default /usr/bin/redis-server)
#   BENCH_THREADS       darter --threads      (default: nproc)
#   BENCH_KEYS          key space             (default 1000000)
#   BENCH_VALUE         value bytes           (default 100)
#   BENCH_FILL_FACTOR   fill requests / keys  (default 3: ~95% of the key space exists)
#   BENCH_LOAD_CLIENTS  connections of the write load during BGSAVE (default 20)
#
# Exit codes: 0 done, 1 a server or tool failed, 2 darter-server binary missing.
set -euo pipefail

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; }
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 64 ;;
  esac
done

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
redis_bin="${REDIS_SERVER_BIN:-/usr/bin/redis-server}"
threads="${BENCH_THREADS:-$(nproc)}"
keys="${BENCH_KEYS:-1000000}"
value="${BENCH_VALUE:-100}"
fill_factor="${BENCH_FILL_FACTOR:-3}"
load_clients="${BENCH_LOAD_CLIENTS:-20}"

for tool in redis-benchmark redis-cli python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
[[ -x "$redis_bin" ]] || { echo "redis-server not found at $redis_bin" >&2; exit 1; }
[[ -x "$darter_bin" ]] || { echo "darter-server not found at $darter_bin" >&2; exit 2; }

workdir="$(mktemp -d "${TMPDIR:-/tmp}/darter-pbench-XXXXXX")"
server_pid=""
load_pid=""
stop_pid() {  # SIGTERM, up to 10 s, then SIGKILL; always reaped
  local p="$1"
  [[ -n "$p" ]] && kill -0 "$p" 2>/dev/null || return 0
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
}
cleanup() {
  stop_pid "$load_pid"
  stop_pid "$server_pid"
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

start_server() {  # name port: starts on $workdir/<name> (loading its dump.rdb if there)
  local name="$1" port="$2"
  mkdir -p "$workdir/$name"
  if [[ "$name" == redis ]]; then
    "$redis_bin" --save '' --appendonly no --bind 127.0.0.1 --port "$port" --dir "$workdir/$name" \
      --daemonize no >"$workdir/$name.log" 2>&1 &
  else
    "$darter_bin" --port "$port" --bind 127.0.0.1 --enable-debug-command local --threads "$threads" --save '' --dir "$workdir/$name" \
      >"$workdir/$name.log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 600); do  # loading 1M keys may take a while: 60 s cap
    kill -0 "$server_pid" 2>/dev/null || { echo "$name exited; log:" >&2; tail -20 "$workdir/$name.log" >&2; return 1; }
    [[ "$(redis-cli -p "$port" PING 2>/dev/null)" == PONG ]] && return 0
    sleep 0.1
  done
  echo "$name not ready after 60 s" >&2
  return 1
}

now_ms() { date +%s%3N; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
private_kb() {  # pages no longer shared with the parent
  awk '/^Private_(Clean|Dirty):/ {s += $2} END {print s + 0}' "/proc/$1/smaps_rollup" 2>/dev/null || echo 0
}
info_field() { redis-cli -p "$1" INFO persistence | tr -d '\r' | awk -F: -v f="$2" '$1 == f {print $2}'; }

declare -A result
measure() {
  local name="$1" port
  port="$(free_port)"
  start_server "$name" "$port"
  echo "$name: filling $keys keys ..." >&2
  redis-benchmark -h 127.0.0.1 -p "$port" -t set -n $((keys * fill_factor)) -r "$keys" -d "$value" \
    -c 20 -P 64 -q >/dev/null 2>&1
  result[$name,keys]="$(redis-cli -p "$port" DBSIZE)"

  local t0 t1
  t0="$(now_ms)"
  [[ "$(redis-cli -p "$port" SAVE)" == OK ]] || { echo "$name: SAVE failed" >&2; return 1; }
  t1="$(now_ms)"
  result[$name,save_ms]=$((t1 - t0))
  result[$name,file_mb]="$(du -m "$workdir/$name/dump.rdb" | cut -f1)"

  echo "$name: BGSAVE under a write load ..." >&2
  redis-benchmark -h 127.0.0.1 -p "$port" -t set -n 100000000 -r "$keys" -d "$value" \
    -c "$load_clients" -P 4 -q >/dev/null 2>&1 &
  load_pid=$!
  sleep 1
  local base peak=0 child="" cur samples=0
  base="$(rss_kb "$server_pid")"
  t0="$(now_ms)"
  [[ "$(redis-cli -p "$port" BGSAVE)" == "Background saving started" ]] || { echo "$name: BGSAVE failed" >&2; return 1; }
  while :; do
    if [[ "$name" == redis ]]; then
      [[ -z "$child" ]] && child="$(cat /proc/"$server_pid"/task/*/children 2>/dev/null | awk '{print $1}')"
      cur=$(( $(rss_kb "$server_pid") - base ))
      [[ -n "$child" ]] && cur=$(( cur + $(private_kb "$child") ))
    else
      cur=$(( $(rss_kb "$server_pid") - base ))
    fi
    (( cur > peak )) && peak=$cur
    samples=$((samples + 1))
    [[ "$(info_field "$port" rdb_bgsave_in_progress)" == 0 ]] && break
    sleep 0.01
  done
  t1="$(now_ms)"
  stop_pid "$load_pid"
  load_pid=""
  result[$name,bgsave_ms]=$((t1 - t0))
  result[$name,base_mb]=$((base / 1024))
  result[$name,extra_mb]="$(awk -v k="$peak" 'BEGIN { printf "%.1f", k / 1024 }')"
  result[$name,samples]="$samples"
  result[$name,status]="$(info_field "$port" rdb_last_bgsave_status)"

  stop_pid "$server_pid"
  server_pid=""
  echo "$name: load ..." >&2
  start_server "$name" "$(free_port)"
  result[$name,load_s]="$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$workdir/$name.log" | tail -1 | awk '{print $5}')"
  stop_pid "$server_pid"
  server_pid=""
}

measure redis
measure darter

ratio() { awk -v d="$1" -v r="$2" 'BEGIN { if (r + 0 == 0) print "-"; else printf "%.2f", d / r }'; }
echo "machine: $(nproc) cores; darter --threads $threads; key space $keys, values $value B; load: $load_clients clients -P 4 SET"
echo "keys: redis ${result[redis,keys]}, darter ${result[darter,keys]}; RDB size: redis ${result[redis,file_mb]} MB, darter ${result[darter,file_mb]} MB"
printf '%-34s %12s %12s %14s\n' "measure" "redis" "darter" "darter/redis"
printf '%-34s %12s %12s %14s\n' "SAVE (ms)" "${result[redis,save_ms]}" "${result[darter,save_ms]}" "$(ratio "${result[darter,save_ms]}" "${result[redis,save_ms]}")"
printf '%-34s %12s %12s %14s\n' "load at start-up (s)" "${result[redis,load_s]}" "${result[darter,load_s]}" "$(ratio "${result[darter,load_s]}" "${result[redis,load_s]}")"
printf '%-34s %12s %12s %14s\n' "BGSAVE under load (ms)" "${result[redis,bgsave_ms]}" "${result[darter,bgsave_ms]}" "$(ratio "${result[darter,bgsave_ms]}" "${result[redis,bgsave_ms]}")"
printf '%-34s %12s %12s %14s\n' "RSS before BGSAVE (MiB)" "${result[redis,base_mb]}" "${result[darter,base_mb]}" "$(ratio "${result[darter,base_mb]}" "${result[redis,base_mb]}")"
printf '%-34s %12s %12s %14s\n' "peak extra memory in BGSAVE (MiB)" "${result[redis,extra_mb]}" "${result[darter,extra_mb]}" "$(ratio "${result[darter,extra_mb]}" "${result[redis,extra_mb]}")"
echo "BGSAVE status: redis ${result[redis,status]}, darter ${result[darter,status]}; RSS samples: redis ${result[redis,samples]}, darter ${result[darter,samples]}"
