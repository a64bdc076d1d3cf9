#!/usr/bin/env bash
# Installs dependencies, builds everything (Release) and runs every test with ctest;
# then builds the tests again with ASan+UBSan and runs the unit and fuzz-style suites
# under the sanitizers (the `lint` checks, which do not depend on the build type, run
# once). This is what .ci/run runs.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DDARTER_BUILD_TESTS=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure --timeout 600 -j"$jobs")

if [ "${DARTER_SKIP_ASAN:-0}" != "1" ]; then
  # -O1 -g1 (line tables: ASan's reports keep file:line) compiles in less than half the
  # time of RelWithDebInfo's -O2 -g (57 s vs 25 s for server_family.cc, measured
  # 2026-12-07), which keeps the whole run within CI's budget on 2 cores.
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDARTER_SANITIZE=ON -DDARTER_BUILD_TESTS=ON \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG"
  cmake --build build-asan -j"$jobs"
  (cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
     ctest --output-on-failure --timeout 900 -j"$jobs" -LE 'lint|package')
fi
