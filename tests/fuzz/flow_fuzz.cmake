# libFuzzer target for the multi-flow replication frame decoder (lib/server/repl/flow_frame.cc);
# included from tests/fuzz/CMakeLists.txt when DARTER_FUZZ=ON (CC=clang CXX=clang++).
#
#   cmake --build build-fuzz --target flow_frame_fuzzer
#   build-fuzz/tests/fuzz/flow_frame_fuzzer -max_total_time=60 /tmp/flow-corpus tests/fuzz/corpus/flow
set(DARTER_FLOW_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)

add_executable(flow_frame_fuzzer ${CMAKE_CURRENT_SOURCE_DIR}/flow_frame_fuzzer.cc
               ${PROJECT_SOURCE_DIR}/lib/server/repl/flow_frame.cc)
target_include_directories(flow_frame_fuzzer PRIVATE ${PROJECT_SOURCE_DIR}/lib)
target_link_libraries(flow_frame_fuzzer PRIVATE PkgConfig::LZ4 PkgConfig::ZSTD)
target_compile_options(flow_frame_fuzzer PRIVATE -fsanitize=fuzzer ${DARTER_FLOW_FUZZ_SANITIZERS})
target_link_options(flow_frame_fuzzer PRIVATE -fsanitize=fuzzer ${DARTER_FLOW_FUZZ_SANITIZERS})

add_test(NAME flow_frame_fuzzer_corpus
         COMMAND flow_frame_fuzzer -runs=0 ${CMAKE_CURRENT_SOURCE_DIR}/corpus/flow)
