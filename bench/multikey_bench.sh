#!/usr/bin/env bash
# multikey_bench.sh — multi-key commands whose keys live on several shards (the
# transaction path: schedule, hops, conclude), darter-server vs redis-server in one run.
#
# For MSET, MGET and DEL of 4 random keys (a__rand_int__ ... d__rand_int__: with 2 or more
# shards almost every command spans shards), at -P 1 and -P 16, each on a fresh server:
# requests/s of both and the darter/redis ratio. Medians of ROUNDS rounds, alternating.
#
# Environment: DARTER_BIN (default build/apps/server/darter-server), BENCH_THREADS
# (darter --threads, default 2), BENCH_N (requests per run, default 200000),
# ROUNDS (default 3).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
threads="${BENCH_THREADS:-2}"
n="${BENCH_N:-200000}"
rounds="${ROUNDS:-3}"
[[ -x "$darter_bin" ]] || { echo "darter-server not found at $darter_bin" >&2; exit 2; }
command -v redis-benchmark >/dev/null || { echo "missing redis-benchmark (apt-get install redis-tools)" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
server_pid=""
trap '[[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null || true' EXIT

# run <darter|redis> <pipeline> <command...>: prints requests/s on a fresh server.
run() {
  local kind=$1 p=$2; shift 2
  local port; port=$(free_port)
  if [[ $kind == darter ]]; then
    "$darter_bin" --port "$port" --threads "$threads" --save '' >/dev/null 2>&1 &
  else
    redis-server --port "$port" --save '' --appendonly no >/dev/null 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 50); do redis-cli -p "$port" PING >/dev/null 2>&1 && break; sleep 0.1; done
  # DEL and MGET need keys to find: fill the key space first.
  redis-benchmark -p "$port" -n "$n" -c 50 -P 16 -r 100000 -q MSET a__rand_int__ 1 b__rand_int__ 2 \
    c__rand_int__ 3 d__rand_int__ 4 >/dev/null 2>&1
  redis-benchmark -p "$port" -n "$n" -c 50 -P "$p" -r 100000 -q "$@" 2>/dev/null | tr '\r' '\n' |
    grep -o '[0-9.]* requests per second' | tail -1 | awk '{printf "%d", $1}'
  kill "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

printf '%-10s %4s %12s %12s %7s\n' command P redis darter ratio
for cmd in MSET MGET DEL; do
  case $cmd in
    MSET) argv=(MSET a__rand_int__ 1 b__rand_int__ 2 c__rand_int__ 3 d__rand_int__ 4) ;;
    *) argv=("$cmd" a__rand_int__ b__rand_int__ c__rand_int__ d__rand_int__) ;;
  esac
  for p in 1 16; do
    r=() d=()
    for _ in $(seq "$rounds"); do
      r+=("$(run redis "$p" "${argv[@]}")")
      d+=("$(run darter "$p" "${argv[@]}")")
    done
    rm=$(printf '%s\n' "${r[@]}" | median) dm=$(printf '%s\n' "${d[@]}" | median)
    printf '%-10s %4s %12s %12s %7.2f\n' "$cmd" "$p" "$rm" "$dm" "$(echo "$dm / $rm" | bc -l)"
  done
done
