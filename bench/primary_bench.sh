#!/usr/bin/env bash
# Full sync FROM a Darter primary: time for a replica to load DEBUG POPULATE
# $KEYS keys, in the same run on the same machine:
#   darter -> darter : darter-server replica of a darter-server primary, multi-flow (one
#                      link per primary shard; docs/replication.md), uncompressed as on
#                      loopback by default, then with lz4 as on a real network, then over
#                      the single-stream PSYNC path (--repl-multi-flow no) for comparison
#   darter -> redis  : redis-server --replicaof a darter-server primary
#   redis  -> redis  : redis-server --replicaof a redis-server primary (the reference)
# Time = from REPLICAOF to the replica's master_link_status:up with its sync done,
# polled every 10 ms; best of $REPEAT. Ratio < 1.0: faster than redis -> redis.
#   bench/primary_bench.sh
#   KEYS=200000 THREADS=2 bench/primary_bench.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DARTER_BIN=${DARTER_BIN:-$here/build/apps/server/darter-server}
KEYS=${KEYS:-1000000}
THREADS=${THREADS:-$(nproc)}
REPEAT=${REPEAT:-2}
[[ -x "$DARTER_BIN" ]] || { echo "darter-server not found at $DARTER_BIN" >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ping() { for _ in $(seq 1 500); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.02; done; return 1; }
now() { date +%s.%N; }

start_server() {  # kind port [darter options...]
  local kind=$1 port=$2
  shift 2
  if [[ $kind == darter ]]; then
    "$DARTER_BIN" --port "$port" --bind 127.0.0.1 --enable-debug-command local --threads "$THREADS" --save '' --dir "$work" --dbfilename "d$port.rdb" \
      --logfile "$work/darter-$port.log" "$@" &
  else
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --dbfilename "r$port.rdb" \
      --enable-debug-command yes --repl-diskless-sync-delay 0 --daemonize no >"$work/redis-$port.log" 2>&1 &
  fi
  pids+=($!)
  wait_ping "$port"
}

# sync_time replica_kind primary_port [darter options...] -> "seconds keys"
sync_time() {
  local port; port=$(free_port)
  start_server "$1" "$port" "${@:3}"
  local pid=${pids[-1]}
  local t0; t0=$(now)
  redis-cli -p "$port" replicaof 127.0.0.1 "$2" >/dev/null
  local deadline=$((SECONDS + ${SYNC_TIMEOUT:-300})) info=""
  while (( SECONDS < deadline )); do
    info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r')
    if grep -q '^master_link_status:up' <<<"$info" && grep -q '^master_sync_in_progress:0' <<<"$info"; then break; fi
    sleep 0.01
  done
  local t1; t1=$(now)
  local keys; keys=$(redis-cli -p "$port" dbsize)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(echo "$t1 - $t0" | bc -l) $keys"
}

best() {  # replica_kind primary_port [darter options...]
  local b=999999 t k
  for _ in $(seq 1 "$REPEAT"); do
    read -r t k < <(sync_time "$@")
    [[ $k == "$KEYS" ]] || echo "WARNING: $1 replica has $k keys, want $KEYS" >&2
    b=$(echo "if ($t < $b) $t else $b" | bc -l)
  done
  echo "$b"
}

dp=$(free_port); start_server darter "$dp"; redis-cli -p "$dp" debug populate "$KEYS" key 16 >/dev/null
rp=$(free_port); start_server redis "$rp"; redis-cli -p "$rp" debug populate "$KEYS" key 16 >/dev/null
echo "# $KEYS keys (DEBUG POPULATE, 16-byte values); darter --threads $THREADS; best of $REPEAT; $(nproc) cores"
dd=$(best darter "$dp"); dz=$(best darter "$dp" --repl-flow-compression lz4)
dp1=$(best darter "$dp" --repl-multi-flow no); dr=$(best redis "$dp"); rr=$(best redis "$rp")
printf "darter -> darter %7.3f s   ratio to redis -> redis %.2f   (multi-flow)\n" "$dd" "$(echo "$dd / $rr" | bc -l)"
printf "darter -> darter %7.3f s   ratio to redis -> redis %.2f   (multi-flow, lz4)\n" "$dz" "$(echo "$dz / $rr" | bc -l)"
printf "darter -> darter %7.3f s   ratio to redis -> redis %.2f   (PSYNC, one stream)\n" "$dp1" "$(echo "$dp1 / $rr" | bc -l)"
printf "darter -> redis  %7.3f s   ratio to redis -> redis %.2f\n" "$dr" "$(echo "$dr / $rr" | bc -l)"
printf "redis  -> redis  %7.3f s\n" "$rr"
