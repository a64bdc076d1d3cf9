#!/usr/bin/env bash
# replica_apply_bench.sh — how fast a replica applies its primary's stream: a Redis
# primary under redis-benchmark -P 16 (SET + LPUSH on random keys) for LOAD_SECONDS,
# with a stock redis-server replica and a darter-server replica (--threads 2) attached.
# Prints, per replica, the bytes it still had to apply when the load stopped and the
# seconds it then took to reach the primary's offset. A replica that cannot keep up
# with its primary falls behind without bound and eventually out of the backlog.
#
# Environment: DARTER_BIN, LOAD_SECONDS (default 6), THREADS (darter, default 2).
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
load_seconds="${LOAD_SECONDS:-6}"
threads="${THREADS:-2}"
[[ -x "$darter_bin" ]] || { echo "darter-server not found at $darter_bin" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
field() { redis-cli -p "$1" INFO replication | tr -d '\r' | awk -F: -v f="$2" '$1==f{print $2}'; }
up() { for _ in $(seq 50); do redis-cli -p "$1" PING >/dev/null 2>&1 && return; sleep 0.1; done; }

primary=$(free_port); rreplica=$(free_port); dreplica=$(free_port)
redis-server --port "$primary" --save '' --repl-diskless-sync-delay 0 --repl-backlog-size 512mb >/dev/null 2>&1 &
pids+=($!); up "$primary"
redis-server --port "$rreplica" --save '' --replicaof 127.0.0.1 "$primary" >/dev/null 2>&1 &
pids+=($!); up "$rreplica"
"$darter_bin" --port "$dreplica" --threads "$threads" --save '' --replicaof "127.0.0.1:$primary" >/dev/null 2>&1 &
pids+=($!); up "$dreplica"
until [[ "$(field "$rreplica" master_link_status)" == up && "$(field "$dreplica" master_link_status)" == up ]]; do sleep 0.1; done

timeout "$load_seconds" redis-benchmark -p "$primary" -t set,lpush -n 100000000 -r 1000000 -P 16 -q >/dev/null 2>&1 || true
target=$(field "$primary" master_repl_offset)
declare -A behind=()
for r in "$rreplica" "$dreplica"; do behind[$r]=$((target - $(field "$r" slave_repl_offset))); done
t0=$(date +%s.%N)
declare -A took=()
while [[ ${#took[@]} -lt 2 ]]; do
  for r in "$rreplica" "$dreplica"; do
    [[ -n "${took[$r]:-}" ]] && continue
    (( $(field "$r" slave_repl_offset) >= target )) && took[$r]=$(echo "$(date +%s.%N) - $t0" | bc)
  done
  sleep 0.05
done
printf "stream of %d bytes in %d s\n" "$target" "$load_seconds"
printf "%-8s behind at the end of the load: %10d bytes, caught up %.2f s later\n" \
  redis "${behind[$rreplica]}" "${took[$rreplica]}" darter "${behind[$dreplica]}" "${took[$dreplica]}"
