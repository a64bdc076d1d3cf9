# The libFuzzer targets, built with any compiler against fuzz_replay_main.cc instead of
# libFuzzer, and registered with ctest (label "fuzz") so every build runs them: each
# replays its seed corpus, then up to DARTER_FUZZ_REPLAY_MUTATIONS inputs mutated from
# it by a fixed-seed PRNG, for at most DARTER_FUZZ_REPLAY_SECONDS. In the sanitizer build
# (DARTER_SANITIZE) they run under ASan+UBSan like the rest. See docs/fuzzing.md.
#
# Included from the normal test tree (tests/integration/fuzz_replay.cmake), not from
# tests/fuzz/CMakeLists.txt, which is the clang-only libFuzzer build.
set(DARTER_FUZZ_REPLAY_MUTATIONS 30000 CACHE STRING "mutated inputs per fuzz replay test")
set(DARTER_FUZZ_REPLAY_SECONDS 10 CACHE STRING "time budget of each fuzz replay test, seconds")
set(_fuzz_dir ${PROJECT_SOURCE_DIR}/tests/fuzz)

function(darter_fuzz_replay name corpus max_len)
  add_executable(${name}_replay ${_fuzz_dir}/fuzz_replay_main.cc ${_fuzz_dir}/${name}.cc ${ARGN})
  target_include_directories(${name}_replay PRIVATE ${PROJECT_SOURCE_DIR}/lib)
  add_test(NAME ${name}_replay
           COMMAND ${name}_replay --mutations ${DARTER_FUZZ_REPLAY_MUTATIONS}
                   --seconds ${DARTER_FUZZ_REPLAY_SECONDS} --max-len ${max_len}
                   --crash-file ${CMAKE_CURRENT_BINARY_DIR}/${name}-crash.bin
                   ${_fuzz_dir}/corpus/${corpus})
  set_tests_properties(${name}_replay PROPERTIES LABELS fuzz TIMEOUT 300)
endfunction()

darter_fuzz_replay(resp_request_fuzzer resp/request 4096)
target_link_libraries(resp_request_fuzzer_replay PRIVATE darter_resp)
darter_fuzz_replay(resp_reply_fuzzer resp/reply 4096)
target_link_libraries(resp_reply_fuzzer_replay PRIVATE darter_resp)
darter_fuzz_replay(rdb_reader_fuzzer rdb 65536)
target_link_libraries(rdb_reader_fuzzer_replay PRIVATE darter_rdb)
darter_fuzz_replay(flow_frame_fuzzer flow 8192 ${PROJECT_SOURCE_DIR}/lib/server/repl/flow_frame.cc)
target_link_libraries(flow_frame_fuzzer_replay PRIVATE PkgConfig::LZ4 PkgConfig::ZSTD)
