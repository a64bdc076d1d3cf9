#!/usr/bin/env bash
# Checks the thread-safety annotations (store/thread_annotations.h: GUARDED_BY, REQUIRES...)
# of lib/server with clang's -Wthread-safety: every file compiled for syntax only, any finding
# is an error. GCC, which builds Darter, ignores the annotations; this is where they are
# enforced (ctest runs it as thread_safety_check when clang++ is installed).
#
#   scripts/thread-safety-check.sh [files...]      (default: every .cc under lib/server, where the annotated state lives)
# Environment: CLANGXX (default clang++).
set -euo pipefail
cd "$(dirname "$0")/.."
clangxx=${CLANGXX:-clang++}
command -v "$clangxx" >/dev/null || { echo "thread-safety-check: $clangxx not found (apt-get install clang)" >&2; exit 2; }
if [ $# -gt 0 ]; then files=("$@"); else mapfile -t files < <(find lib/server -name '*.cc' | sort); fi
lua_include=$(pkg-config --cflags-only-I lua5.1 2>/dev/null | sed 's/-I/-isystem /g')
# Boost.Asio does not detect clang's coroutine support with libstdc++ by itself.
# shellcheck disable=SC2086
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -I{} sh -c \
  "$clangxx -fsyntax-only -std=c++20 -Ilib $lua_include -DBOOST_ASIO_HAS_CO_AWAIT=1 -DBOOST_ASIO_HAS_STD_COROUTINE=1 \
     -Wthread-safety -Werror=thread-safety -Wno-unknown-warning-option {} || { echo 'in {}' >&2; exit 255; }"
echo "thread-safety-check: ${#files[@]} files, no finding"
