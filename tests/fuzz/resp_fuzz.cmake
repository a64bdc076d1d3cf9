# libFuzzer targets for lib/resp; included from tests/fuzz/CMakeLists.txt when
# DARTER_FUZZ=ON (configure with CC=clang CXX=clang++). See docs/fuzzing.md.
#
# The resp sources are compiled again with coverage instrumentation
# (-fsanitize=fuzzer-no-link) so libFuzzer can see inside the parser; the regular
# darter_resp target is left untouched.
set(DARTER_RESP_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
    -fno-omit-frame-pointer)

get_target_property(_resp_sources darter_resp SOURCES)
get_target_property(_resp_dir darter_resp SOURCE_DIR)
list(TRANSFORM _resp_sources PREPEND "${_resp_dir}/")

add_library(darter_resp_fuzzing STATIC ${_resp_sources})
target_include_directories(darter_resp_fuzzing PUBLIC ${PROJECT_SOURCE_DIR}/lib)
target_compile_options(darter_resp_fuzzing PRIVATE -fsanitize=fuzzer-no-link ${DARTER_RESP_FUZZ_SANITIZERS})

foreach(_fuzzer resp_request_fuzzer resp_reply_fuzzer)
  add_executable(${_fuzzer} ${CMAKE_CURRENT_SOURCE_DIR}/${_fuzzer}.cc)
  target_link_libraries(${_fuzzer} PRIVATE darter_resp_fuzzing)
  target_compile_options(${_fuzzer} PRIVATE -fsanitize=fuzzer ${DARTER_RESP_FUZZ_SANITIZERS})
  target_link_options(${_fuzzer} PRIVATE -fsanitize=fuzzer ${DARTER_RESP_FUZZ_SANITIZERS})
endforeach()

# Replays the seed corpora (no fuzzing) so a plain `ctest` catches regressions on them.
add_test(NAME resp_request_fuzzer_corpus
         COMMAND resp_request_fuzzer -runs=0 ${CMAKE_CURRENT_SOURCE_DIR}/corpus/resp/request)
add_test(NAME resp_reply_fuzzer_corpus
         COMMAND resp_reply_fuzzer -runs=0 ${CMAKE_CURRENT_SOURCE_DIR}/corpus/resp/reply)
