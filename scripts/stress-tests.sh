#!/usr/bin/env bash
# Replication and migration tests under CPU contention (not run by CI).
#
# Runs every ctest whose name matches replica|replication|migrate|multiflow|failover
# N times in each of two variants:
#   busy    a busy loop (`yes > /dev/null`) on every core, the test unpinned;
#   pinned  the same busy loops, and the test with every server it starts pinned to core 0.
# Stops at the first failure and prints its output; otherwise prints a table of passes.
#
#   scripts/stress-tests.sh [N]        (default 20)
# Environment: BUILD_DIR (default build; configured and built when missing),
# STRESS_FILTER (a ctest -R regex replacing the default), STRESS_VARIANTS ("busy pinned").
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-20}
build=${BUILD_DIR:-build}
filter=${STRESS_FILTER:-'replica|replication|migrate|multiflow|failover'}
variants=${STRESS_VARIANTS:-busy pinned}

if [ ! -f "$build/CTestTestfile.cmake" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DDARTER_BUILD_TESTS=ON >/dev/null
fi
tests=$(cd "$build" && ctest -N -R "$filter" | awk '/Test +#[0-9]+:/ {print $3}')
[ -n "$tests" ] || { echo "no test matches '$filter' in $build" >&2; exit 2; }
# Build what the tests need (unchanged targets are up to date at once).
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target darter-server $tests $(cmake --build "$build" --target help |
  awk '/darter-migrate/ {print "darter-migrate"; exit}') >/dev/null

busy=()
stop_busy() {
  for p in "${busy[@]}"; do kill "$p" 2>/dev/null || true; done
  busy=()
}
trap stop_busy EXIT
start_busy() {
  for ((c = 0; c < $(nproc); c++)); do
    taskset -c "$c" yes >/dev/null &
    busy+=($!)
  done
}

declare -A passed
log=$(mktemp /tmp/stress-tests.XXXXXX)
start_busy
for variant in $variants; do
  for t in $tests; do
    passed[$variant/$t]=0
    for ((i = 1; i <= n; i++)); do
      pin=()
      [ "$variant" = pinned ] && pin=(taskset -c 0)
      started=$(date +%s)
      if ! (cd "$build" && "${pin[@]}" ctest -R "^${t}\$" --output-on-failure) >"$log" 2>&1; then
        echo "FAIL: $t ($variant), run $i of $n, after $(( $(date +%s) - started )) s:"
        cat "$log"
        rm -f "$log"
        exit 1
      fi
      passed[$variant/$t]=$((passed[$variant/$t] + 1))
      printf '%-8s %-32s run %2d/%d ok (%d s)\n' "$variant" "$t" "$i" "$n" "$(( $(date +%s) - started ))"
    done
  done
done
rm -f "$log"
stop_busy

echo
printf '%-32s' test
for variant in $variants; do printf ' %10s' "$variant"; done
echo
for t in $tests; do
  printf '%-32s' "$t"
  for variant in $variants; do printf ' %7d/%-2d' "${passed[$variant/$t]}" "$n"; done
  echo
done
