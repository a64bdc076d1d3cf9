#!/usr/bin/env bash
# Demo: start Debian's redis-server on a free loopback port, fill it with a sample of
# every data type (several DBs, some TTLs), migrate it into the embedded Darter with
# darter-migrate --verify, and print the report. Everything it starts is stopped by pid.
#   scripts/demo.sh                       # uses build/apps/migrate/darter-migrate
#   DARTER_MIGRATE=path/to/darter-migrate scripts/demo.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
migrate=${DARTER_MIGRATE:-}
if [[ -z "$migrate" ]]; then
  for b in build build-mig build-rel; do
    [[ -x "$here/$b/apps/migrate/darter-migrate" ]] && migrate="$here/$b/apps/migrate/darter-migrate" && break
  done
fi
[[ -x "${migrate:-}" ]] || { echo "demo: darter-migrate not built (cmake --build build --target darter-migrate)" >&2; exit 2; }
command -v redis-server >/dev/null || { echo "demo: redis-server not installed (apt-get install redis-server)" >&2; exit 2; }

work=$(mktemp -d /tmp/darter-demo.XXXXXX)
# A port nothing listens on (bash's /dev/tcp: no extra tools needed).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 30000))
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
port=$(free_port)
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  --repl-diskless-sync-delay 0 --daemonize no >"$work/redis.log" 2>&1 &
redis_pid=$!
cleanup() { kill "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "== filling redis-server on 127.0.0.1:$port"
{
  for db in 0 1 2; do
    echo "SELECT $db"
    for i in $(seq 1 300); do
      echo "SET user:$db:$i name-$i"
      echo "RPUSH queue:$db:$((i % 10)) job-$i"
      echo "SADD tags:$db:$((i % 20)) t$i"
      echo "HSET profile:$db:$i name n$i age $((20 + i % 50))"
      echo "ZADD board:$db $i player-$i"
      echo "SETBIT bits:$db $i 1"
      echo "PFADD visitors:$db v$i"
      (( i % 3 == 0 )) && echo "EXPIRE user:$db:$i 3600"
      (( i % 25 == 0 )) && echo "XADD events:$db * type click n $i"
    done
    echo "XGROUP CREATE events:$db workers 0"
    echo "XREADGROUP GROUP workers w1 COUNT 3 STREAMS events:$db >"
  done
} | redis-cli -p "$port" >/dev/null
redis-cli -p "$port" info keyspace | grep ^db

echo "== darter-migrate --source redis://127.0.0.1:$port --verify (embedded Darter)"
set +e
"$migrate" --source "redis://127.0.0.1:$port" --port 0 --dir "$work/darter" --verify "$@"
rc=$?
set -e
echo "== exit code $rc; snapshot and server log in $work/darter"
exit $rc
