#!/usr/bin/env bash
# Full sync from Redis: time for a replica to load a dataset from a live
# redis-server, Darter (darter-server --replicaof) vs a second redis-server
# (--replicaof), in the same run on the same machine. Two datasets:
#   small:  DEBUG POPULATE $KEYS small string keys (default 1,000,000)
#   mixed:  $MIXED keys of each of string/list/set/hash/zset (+ streams if Darter has them)
# Time = from REPLICAOF to master_link_status:up with the full sync done (the
# replica's INFO), polled every 10 ms. Prints keys/s and the Darter/Redis ratio
# (< 1.0: Darter is faster).
#   bench/migrate_bench.sh
#   DARTER_BIN=build-rel/apps/server/darter-server KEYS=200000 bench/migrate_bench.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
DARTER_BIN=${DARTER_BIN:-}
if [[ -z "$DARTER_BIN" ]]; then
  for b in build-mig build build-rel; do
    [[ -x "$here/$b/apps/server/darter-server" ]] && DARTER_BIN="$here/$b/apps/server/darter-server" && break
  done
fi
[[ -x "${DARTER_BIN:-}" ]] || { echo "migrate_bench: darter-server not built" >&2; exit 2; }
KEYS=${KEYS:-1000000}
MIXED=${MIXED:-50000}
THREADS=${BENCH_THREADS:-2}
REPEAT=${REPEAT:-3}

work=$(mktemp -d /tmp/darter-mbench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_ping() { for _ in $(seq 1 500); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.02; done; return 1; }
now() { date +%s.%N; }

src_port=$(free_port)
redis-server --port "$src_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --enable-debug-command yes \
  --repl-diskless-sync-delay 0 --repl-backlog-size 64mb --daemonize no >"$work/src.log" 2>&1 &
pids+=($!)
wait_ping "$src_port"

# Starts a replica ($1 = darter|redis), returns the seconds until its full sync is done.
sync_time() {
  local kind=$1 port; port=$(free_port)
  if [[ $kind == darter ]]; then
    "$DARTER_BIN" --port "$port" --bind 127.0.0.1 --enable-debug-command local --threads "$THREADS" --save '' --logfile "$work/darter-$port.log" &
  else
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" --daemonize no \
      >"$work/redis-$port.log" 2>&1 &
  fi
  local pid=$!
  pids+=($pid)
  wait_ping "$port"
  local t0; t0=$(now)
  redis-cli -p "$port" replicaof 127.0.0.1 "$src_port" >/dev/null
  local deadline=$((SECONDS + ${SYNC_TIMEOUT:-300})) synced=0 info=""
  while (( SECONDS < deadline )); do
    info=$(redis-cli -p "$port" info replication 2>/dev/null | tr -d '\r')
    if grep -q '^master_link_status:up' <<<"$info" && grep -q '^master_sync_in_progress:0' <<<"$info"; then synced=1; break; fi
    sleep 0.01
  done
  if (( ! synced )); then
    echo "$kind replica did not sync: $(grep '^master_last_error' <<<"$info")" >&2
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "nan 0"; return
  fi
  local t1; t1=$(now)
  local keys; keys=$(redis-cli -p "$port" dbsize)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$(echo "$t1 - $t0" | bc -l) $keys"
}

run_dataset() {
  local name=$1 keys; keys=$(redis-cli -p "$src_port" dbsize)
  local d r
  local best_d=999999 best_r=999999 dk rk
  for _ in $(seq 1 "$REPEAT"); do
    read -r d dk < <(sync_time darter)
    read -r r rk < <(sync_time redis)
    [[ $d == nan ]] && { echo "$name: darter could not full-sync this dataset (see above)"; return; }
    best_d=$(echo "if ($d < $best_d) $d else $best_d" | bc -l)
    best_r=$(echo "if ($r < $best_r) $r else $best_r" | bc -l)
  done
  [[ "$dk" == "$keys" ]] || echo "WARNING: darter has $dk keys, source $keys" >&2
  [[ "$rk" == "$keys" ]] || echo "WARNING: redis replica has $rk keys, source $keys" >&2
  printf "%-8s keys=%-8s darter %6.3f s (%8.0f keys/s)   redis %6.3f s (%8.0f keys/s)   darter/redis time ratio %.2f\n" \
    "$name" "$keys" "$best_d" "$(echo "$keys / $best_d" | bc -l)" "$best_r" "$(echo "$keys / $best_r" | bc -l)" \
    "$(echo "$best_d / $best_r" | bc -l)"
}

echo "# source: redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$src_port; darter --threads $THREADS; best of $REPEAT; $(nproc) cores"
redis-cli -p "$src_port" debug populate "$KEYS" key 16 >/dev/null
run_dataset small

redis-cli -p "$src_port" flushall >/dev/null
python3 - "$src_port" "$MIXED" <<'PY' | redis-cli -p "$src_port" --pipe >/dev/null
import sys
port, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout
def cmd(*a):
    out.write("*%d\r\n" % len(a))
    for x in a:
        x = str(x)
        out.write("$%d\r\n%s\r\n" % (len(x.encode()), x))
for i in range(n):
    cmd("SET", "s:%d" % i, "v" * 20)
    cmd("RPUSH", "l:%d" % i, "a", "b", "c", i)
    cmd("SADD", "S:%d" % i, "x", "y", i)
    cmd("HSET", "h:%d" % i, "f1", "v1", "f2", i)
    cmd("ZADD", "z:%d" % i, 1, "a", 2, "b", i, "c")
    if i % 10 == 0:
        cmd("PEXPIRE", "s:%d" % i, 3600000)
for i in range(20):  # a few big collections
    for j in range(0, 5000, 500):
        cmd("RPUSH", "bigl:%d" % i, *range(j, j + 500))
        cmd("SADD", "bigs:%d" % i, *range(j, j + 500))
        cmd("ZADD", "bigz:%d" % i, *[v for k in range(j, j + 500) for v in (k, "m%d" % k)])
        cmd("HSET", "bigh:%d" % i, *[v for k in range(j, j + 500) for v in ("f%d" % k, k)])
PY
run_dataset mixed
