#!/usr/bin/env bash
# Replica memory soak (not run by CI): a darter-server replica of a redis-server
# primary, under the write pattern that once grew a replica without bound — rounds of
# set/zset writes with PEXPIREAT 0.2–5 s in the future, FLUSHALL between rounds — with a
# second darter replica following the same primary (a second migration alongside), two
# replicas of the replica (a redis-server over PSYNC, a darter over multi-flow: its stream
# and its journal both run), replica lag (SIGSTOP/SIGCONT of the replica) and link cuts
# (CLIENT KILL TYPE master on the replica, TYPE replica on the primary).
#
# It samples the replica's RSS every second and the primary's RSS (the dataset's
# footprint there), and exits non-zero when the replica's peak RSS passes
# 2 x max(primary peak RSS, replica RSS right after its first sync): the replica may not
# grow beyond its own idle size or twice what the primary needs for the same data.
#
#   scripts/replica-soak.sh [minutes]          (default 10)
# Environment: DARTER_BIN, REDIS_BIN, SOAK_KEYS (300), SOAK_VALUE (1000 bytes),
# SOAK_THREADS (2), SOAK_KEEP=1 keeps the work dir.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-10}
darter=${DARTER_BIN:-build/apps/server/darter-server}
redis=${REDIS_BIN:-redis-server}
keys=${SOAK_KEYS:-300}
value_size=${SOAK_VALUE:-1000}
threads=${SOAK_THREADS:-2}
[ -x "$darter" ] || { echo "no darter-server at $darter (build it, or set DARTER_BIN)" >&2; exit 2; }
command -v redis-cli >/dev/null || { echo "redis-cli is needed" >&2; exit 2; }

work=$(mktemp -d /tmp/replica-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "work dir kept: $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_ping() {
  for _ in $(seq 100); do redis-cli -p "$1" PING 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
  echo "server on port $1 did not start" >&2; return 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
info_field() { redis-cli -p "$1" INFO "$2" 2>/dev/null | tr -d '\r' | awk -F: -v f="$3" '$1 == f {print $2}'; }

pp=$(free_port); rp=$(free_port); sp=$(free_port); cp=$(free_port); fp=$(free_port)
"$redis" --port "$pp" --save '' --appendonly no --dir "$work" --logfile "$work/primary.log" &
pids+=($!); primary_pid=$!
wait_ping "$pp"
mkdir -p "$work/replica" "$work/second"
"$darter" --port "$rp" --threads "$threads" --dir "$work/replica" --save '' \
  --replicaof "127.0.0.1:$pp" --logfile "$work/replica.log" &
pids+=($!); replica_pid=$!
"$darter" --port "$sp" --threads "$threads" --dir "$work/second" --save '' \
  --replicaof "127.0.0.1:$pp" --logfile "$work/second.log" &
pids+=($!)
wait_ping "$rp"; wait_ping "$sp"
for _ in $(seq 300); do [ "$(info_field "$rp" replication master_link_status)" = up ] && break; sleep 0.1; done
"$redis" --port "$cp" --save '' --appendonly no --dir "$work" --logfile "$work/chained-redis.log" \
  --replicaof 127.0.0.1 "$rp" &
pids+=($!)
mkdir -p "$work/chained-darter"
"$darter" --port "$fp" --threads "$threads" --dir "$work/chained-darter" --save '' \
  --replicaof "127.0.0.1:$rp" --logfile "$work/chained-darter.log" &
pids+=($!)
wait_ping "$cp"; wait_ping "$fp"
for _ in $(seq 300); do [ "$(info_field "$cp" replication master_link_status)" = up ] && break; sleep 0.1; done
baseline_kb=$(rss_kb "$replica_pid")

# The writer: one round = every key written (strings and zsets, half with PEXPIREAT
# 200..5000 ms ahead), then FLUSHALL.
writer() {
  local round=0 value
  value=$(head -c "$value_size" /dev/zero | tr '\0' 'v')
  while :; do
    round=$((round + 1))
    {
      local now_ms i
      now_ms=$(( $(date +%s%N) / 1000000 ))
      for ((i = 0; i < keys; i++)); do
        echo "SET s:$i $value"
        echo "ZADD z:$((i % 50)) $i m$i:$round"
        if ((i % 2 == 0)); then
          echo "PEXPIREAT s:$i $((now_ms + 200 + (RANDOM % 4800)))"
          echo "PEXPIREAT z:$((i % 50)) $((now_ms + 200 + (RANDOM % 4800)))"
        fi
      done
      echo "SELECT 1"
      echo "SET other:$round $value"
      echo "SELECT 0"
    } | redis-cli -p "$pp" >/dev/null 2>&1 || true
    sleep 0.$((RANDOM % 5))
    if ((round % 3 == 0)); then redis-cli -p "$pp" FLUSHALL >/dev/null 2>&1 || true; fi
  done
}
writer &
pids+=($!); writer_pid=$!

# Lag and cuts, one every few seconds, while sampling RSS every second.
end=$(( $(date +%s) + minutes * 60 ))
peak_kb=0 primary_peak_kb=0 second=0 events=""
while (( $(date +%s) < end )); do
  second=$((second + 1))
  r=$(rss_kb "$replica_pid"); p=$(rss_kb "$primary_pid")
  (( r > peak_kb )) && peak_kb=$r
  (( p > primary_peak_kb )) && primary_peak_kb=$p
  case $((second % 20)) in
    5)  kill -STOP "$replica_pid"; sleep 3; kill -CONT "$replica_pid"; events+="s" ;;
    10) redis-cli -p "$rp" CLIENT KILL TYPE master >/dev/null 2>&1 || true; events+="m" ;;
    15) redis-cli -p "$pp" CLIENT KILL TYPE replica >/dev/null 2>&1 || true; events+="r" ;;
  esac
  kill -0 "$replica_pid" 2>/dev/null || { echo "the replica died; log tail:" >&2; tail -20 "$work/replica.log" >&2; exit 1; }
  sleep 1
done

# Final check: the replica catches up and holds what the primary holds.
kill "$writer_pid" 2>/dev/null || true
sleep 7   # every TTL of the last round passes; the primary expires them (DELs follow)
sleep 1
caught_up=no
for _ in $(seq 600); do
  po=$(info_field "$pp" replication master_repl_offset)
  ro=$(info_field "$rp" replication slave_repl_offset)
  co=$(info_field "$cp" replication slave_repl_offset)
  if [ -n "$po" ] && [ "$po" = "$ro" ] && [ "$po" = "$co" ]; then caught_up=yes; break; fi
  sleep 0.1
done
same_data=no
[ "$(redis-cli -p "$pp" DEBUG DIGEST)" = "$(redis-cli -p "$rp" DEBUG DIGEST)" ] &&
  [ "$(redis-cli -p "$pp" DEBUG DIGEST)" = "$(redis-cli -p "$cp" DEBUG DIGEST)" ] && same_data=yes
limit_kb=$(( 2 * (primary_peak_kb > baseline_kb ? primary_peak_kb : baseline_kb) ))
cuts=$(grep -c "replication with" "$work/replica.log" || true)
timeouts=$(grep -c "timeout: no data" "$work/replica.log" || true)
printf '%-34s %s\n' "minutes" "$minutes" \
  "keys per round / value bytes" "$keys / $value_size" \
  "events (s=stop m=kill master r=kill replica)" "${#events}" \
  "replica RSS after first sync" "$((baseline_kb / 1024)) MB" \
  "replica peak RSS" "$((peak_kb / 1024)) MB" \
  "primary peak RSS" "$((primary_peak_kb / 1024)) MB" \
  "limit (2 x max of the two above)" "$((limit_kb / 1024)) MB" \
  "replica link failures / timeouts" "$cuts / $timeouts" \
  "replica full / partial syncs" "$(info_field "$rp" stats replica_full_syncs) / $(info_field "$rp" stats replica_partial_syncs)" \
  "caught up at the end (and its PSYNC sub-replica)" "$caught_up" \
  "same DEBUG DIGEST (primary, replica, sub-replica)" "$same_data"
if [ "$same_data" != yes ]; then
  # Which keys differ (at most 10 lines per db).
  for db in 0 1; do
    { diff <(redis-cli -p "$pp" -n "$db" --scan | sort) <(redis-cli -p "$rp" -n "$db" --scan | sort) || true; } |
      head -10 | sed "s/^/db$db keys (< primary, > replica): /" || true
    echo "db$db DBSIZE: primary $(redis-cli -p "$pp" -n "$db" DBSIZE), replica $(redis-cli -p "$rp" -n "$db" DBSIZE)"
    for k in $(redis-cli -p "$pp" -n "$db" --scan | head -300); do
      a=$(redis-cli -p "$pp" -n "$db" DEBUG DIGEST-VALUE "$k"); b=$(redis-cli -p "$rp" -n "$db" DEBUG DIGEST-VALUE "$k")
      [ "$a" = "$b" ] || echo "db$db $k: value digest $a (primary) vs $b (replica)"
    done | head -10 || true
  done
fi
if (( peak_kb > limit_kb )); then echo "FAIL: the replica's peak RSS passed the limit" >&2; exit 1; fi
if [ "$caught_up" != yes ]; then echo "FAIL: the replica did not catch up at the end" >&2; exit 1; fi
if [ "$same_data" != yes ]; then echo "FAIL: the replica's data differs from the primary's" >&2; exit 3; fi
echo PASS
