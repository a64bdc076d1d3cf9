#!/usr/bin/env bash
# Full sync FROM a Darter primary (issue 7): time for a replica to load DEBUG POPULATE
# $KEYS keys, in the same run on the same machine:
#   darter -> darter : darter-server --replicaof a darter-server primary (PSYNC path;
#                      one stream, not Dragonfly-style multi-flow, see docs/replication.md)
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

start_server() {  # kind port
  if [[ $1 == darter ]]; then
    "$DARTER_BIN" --port "$2" --bind 127.0.0.1 --threads "$THREADS" --dir "$work" --dbfilename "d$2.rdb" \
      --logfile "$work/darter-$2.log" &
  else
    redis-server --port "$2" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --dbfilename "r$2.rdb" \
      --enable-debug-command yes --repl-diskless-sync-delay 0 --daemonize no >"$work/redis-$2.log" 2>&1 &
  fi
  pids+=($!)
  wait_ping "$2"
}

# sync_time replica_kind primary_port -> "seconds keys"
sync_time() {
  local port; port=$(free_port)
  start_server "$1" "$port"
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

best() {  # replica_kind primary_port
  local b=999999 t k
  for _ in $(seq 1 "$REPEAT"); do
    read -r t k < <(sync_time "$1" "$2")
    [[ $k == "$KEYS" ]] || echo "WARNING: $1 replica has $k keys, want $KEYS" >&2
    b=$(echo "if ($t < $b) $t else $b" | bc -l)
  done
  echo "$b"
}

dp=$(free_port); start_server darter "$dp"; redis-cli -p "$dp" debug populate "$KEYS" key 16 >/dev/null
rp=$(free_port); start_server redis "$rp"; redis-cli -p "$rp" debug populate "$KEYS" key 16 >/dev/null
echo "# $KEYS keys (DEBUG POPULATE, 16-byte values); darter --threads $THREADS; best of $REPEAT; $(nproc) cores"
dd=$(best darter "$dp"); dr=$(best redis "$dp"); rr=$(best redis "$rp")
printf "darter -> darter %7.3f s   ratio to redis -> redis %.2f\n" "$dd" "$(echo "$dd / $rr" | bc -l)"
printf "darter -> redis  %7.3f s   ratio to redis -> redis %.2f\n" "$dr" "$(echo "$dr / $rr" | bc -l)"
printf "redis  -> redis  %7.3f s\n" "$rr"
