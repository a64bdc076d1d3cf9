#!/usr/bin/env bash
# Long hostile-client campaign (not part of CI): starts darter-server on a free loopback
# port, then runs bench/hostile_campaign.py against it for N minutes: many connections
# sending mutated RESP, a watchdog PINGing every 100 ms, RSS sampled. Prints the figures
# (connections, max/p99 PING latency, peak RSS) and exits non-zero on a crash or a stall
# over 1 s.
#
#   scripts/hostile-campaign.sh [MINUTES]        (default 5)
#
# Environment: DARTER_SERVER_BIN (default build/apps/server/darter-server),
# CAMPAIGN_CONNS (default 32), CAMPAIGN_THREADS (server --threads, default 2),
# CAMPAIGN_SEED (default 1), CAMPAIGN_KEEP=1 keeps the server's log directory.
set -euo pipefail
cd "$(dirname "$0")/.."

minutes=${1:-5}
bin=${DARTER_SERVER_BIN:-build/apps/server/darter-server}
conns=${CAMPAIGN_CONNS:-32}
threads=${CAMPAIGN_THREADS:-2}
seed=${CAMPAIGN_SEED:-1}
if [ ! -x "$bin" ]; then
  echo "hostile-campaign: $bin not built (cmake --build build --target darter-server)" >&2
  exit 2
fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/darter-campaign-XXXXXX")
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin" --bind 127.0.0.1 --port "$port" --threads "$threads" --save '' --dir "$dir" >"$dir/server.log" 2>&1 &
pid=$!
cleanup() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  if [ "${CAMPAIGN_KEEP:-0}" = 1 ]; then echo "server log: $dir/server.log"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

for _ in $(seq 100); do
  if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port),1); s.sendall(b'PING\r\n'); sys.exit(0 if s.recv(7)==b'+PONG\r\n' else 1)" 2>/dev/null; then
    break
  fi
  kill -0 "$pid" 2>/dev/null || { echo "hostile-campaign: server exited at start"; cat "$dir/server.log"; exit 1; }
  sleep 0.1
done

echo "hostile-campaign: $minutes min, $conns connections, darter-server --threads $threads on port $port (pid $pid)"
status=0
python3 bench/hostile_campaign.py --port "$port" --pid "$pid" --minutes "$minutes" --conns "$conns" --seed "$seed" || status=$?
if ! kill -0 "$pid" 2>/dev/null; then
  echo "hostile-campaign: server is gone; log tail:"
  tail -n 40 "$dir/server.log"
  status=1
fi
exit "$status"
