#!/usr/bin/env bash
# tls_bench.sh — throughput over TLS: darter-server vs redis-server in the same run.
#
# Both servers listen on a TLS port (certificates made by the openssl CLI in a temp dir:
# a CA, a server certificate, a client certificate; tls-auth-clients yes) and
# redis-benchmark --tls runs SET and GET at -P 1 and -P 16 against each, alternating
# servers, ROUNDS times; the medians and their ratio (darter / redis, above 1 is faster)
# are printed, with plain-TCP SET -P 1 alongside to show what TLS costs each server.
#
# Per-core: the server pinned to core 0, the client to core 1, darter --threads 1
# (BENCH_THREADS changes it). Environment: DARTER_BIN, BENCH_N (requests per run,
# default 200000), BENCH_CLIENTS (default 50), ROUNDS (default 3).
# Exit codes: 0 done, 1 a server or tool failed, 2 darter-server missing.
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
darter_bin="${DARTER_BIN:-$repo_root/build/apps/server/darter-server}"
threads="${BENCH_THREADS:-1}"
n="${BENCH_N:-200000}"
clients="${BENCH_CLIENTS:-50}"
rounds="${ROUNDS:-3}"
[[ -x "$darter_bin" ]] || { echo "darter-server not found at $darter_bin" >&2; exit 2; }
for tool in redis-benchmark redis-server openssl taskset python3 bc; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

work="$(mktemp -d)"
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

(
  cd "$work"
  ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > san.cnf
  openssl req -x509 -new $ec -keyout ca.key -out ca.crt -days 2 -subj '/CN=bench CA'
  openssl req -new $ec -keyout server.key -out server.csr -subj '/CN=localhost'
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile san.cnf
  openssl req -new $ec -keyout client.key -out client.csr -subj '/CN=client'
  openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2
) >"$work/openssl.log" 2>&1 || { cat "$work/openssl.log" >&2; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tls_flags=(--tls-cert-file "$work/server.crt" --tls-key-file "$work/server.key" --tls-ca-cert-file "$work/ca.crt")
client_tls=(--tls --cacert "$work/ca.crt" --cert "$work/client.crt" --key "$work/client.key")

# start <darter|redis>: a fresh server on core 0 with a TCP and a TLS port; sets $port,
# $tls_port and $server_pid.
start() {
  port=$(free_port)
  tls_port=$(free_port)
  if [[ $1 == darter ]]; then
    taskset -c 0 "$darter_bin" --port "$port" --tls-port "$tls_port" "${tls_flags[@]}" --threads "$threads" \
      --save '' >"$work/server.log" 2>&1 &
  else
    taskset -c 0 redis-server --port "$port" --tls-port "$tls_port" "${tls_flags[@]}" --save '' --appendonly no \
      >"$work/server.log" 2>&1 &
  fi
  server_pid=$!
  for _ in $(seq 1 200); do
    [[ "$(redis-cli -p "$port" PING 2>/dev/null)" == PONG ]] && return 0
    sleep 0.05
  done
  echo "$1 did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
}
stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# rps <darter|redis> <set|get> <pipeline> <tls|tcp>: requests/s of one redis-benchmark run.
rps() {
  start "$1"
  local target=(-p "$tls_port" "${client_tls[@]}")
  [[ $4 == tcp ]] && target=(-p "$port")
  [[ $2 == get ]] && taskset -c 1 redis-benchmark "${target[@]}" -t set -n 100000 -r 100000 -P 16 -q >/dev/null 2>&1
  local out
  out=$(taskset -c 1 redis-benchmark "${target[@]}" -t "$2" -n "$n" -c "$clients" -r 100000 -P "$3" -q 2>&1 |
    tr '\r' '\n' | grep -o '[0-9.]* requests per second' | tail -1 | awk '{printf "%d", $1}')
  stop
  [[ -n "$out" ]] || { echo "redis-benchmark against $1 ($4) produced no figure" >&2; exit 1; }
  echo "$out"
}
median() { sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

echo "# tls_bench: n=$n clients=$clients rounds=$rounds darter --threads $threads; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-24s %10s %10s %7s\n' measure redis darter ratio
for spec in "set 1 tls" "get 1 tls" "set 16 tls" "get 16 tls" "set 1 tcp"; do
  read -r cmd p mode <<<"$spec"
  r=() d=()
  for _ in $(seq "$rounds"); do
    r+=("$(rps redis "$cmd" "$p" "$mode")")
    d+=("$(rps darter "$cmd" "$p" "$mode")")
  done
  rm=$(printf '%s\n' "${r[@]}" | median) dm=$(printf '%s\n' "${d[@]}" | median)
  printf '%-24s %10s %10s %7.2f\n' "${cmd^^} -P $p ($mode)" "$rm" "$dm" "$(echo "$dm / $rm" | bc -l)"
done
