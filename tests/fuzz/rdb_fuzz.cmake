# libFuzzer target for lib/rdb's reader; included from tests/fuzz/CMakeLists.txt
# when DARTER_FUZZ=ON (configure with CC=clang CXX=clang++).
#
#   CC=clang CXX=clang++ cmake -S . -B build-fuzz -DDARTER_FUZZ=ON -DDARTER_BUILD_TESTS=OFF
#   cmake --build build-fuzz --target rdb_reader_fuzzer
#   build-fuzz/tests/fuzz/rdb_reader_fuzzer -max_total_time=60 -max_len=65536 \
#       /tmp/rdb-corpus tests/fuzz/corpus/rdb
#
# The rdb sources are compiled again with coverage instrumentation; the
# regular darter_rdb target is left untouched.
set(DARTER_RDB_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)

get_target_property(_rdb_sources darter_rdb SOURCES)
get_target_property(_rdb_dir darter_rdb SOURCE_DIR)
list(TRANSFORM _rdb_sources PREPEND "${_rdb_dir}/")

add_library(darter_rdb_fuzzing STATIC ${_rdb_sources})
target_include_directories(darter_rdb_fuzzing PUBLIC ${PROJECT_SOURCE_DIR}/lib)
target_compile_options(darter_rdb_fuzzing PRIVATE -fsanitize=fuzzer-no-link ${DARTER_RDB_FUZZ_SANITIZERS})

add_executable(rdb_reader_fuzzer ${CMAKE_CURRENT_SOURCE_DIR}/rdb_reader_fuzzer.cc)
target_link_libraries(rdb_reader_fuzzer PRIVATE darter_rdb_fuzzing)
target_compile_options(rdb_reader_fuzzer PRIVATE -fsanitize=fuzzer ${DARTER_RDB_FUZZ_SANITIZERS})
target_link_options(rdb_reader_fuzzer PRIVATE -fsanitize=fuzzer ${DARTER_RDB_FUZZ_SANITIZERS})

# Replays the seed corpus (no fuzzing) so a plain `ctest` catches regressions.
add_test(NAME rdb_reader_fuzzer_corpus
         COMMAND rdb_reader_fuzzer -runs=0 ${CMAKE_CURRENT_SOURCE_DIR}/corpus/rdb)
