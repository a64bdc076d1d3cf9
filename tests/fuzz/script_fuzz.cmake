# tests/fuzz/eval_script_fuzzer.cc (arbitrary script text through the Lua engine) in one
# of two builds, see docs/fuzzing.md:
#  * DARTER_FUZZ=ON (clang; included from tests/fuzz/CMakeLists.txt): the libFuzzer
#    target eval_script_fuzzer, with the script sources compiled again with coverage
#    instrumentation, and the ctest eval_script_fuzzer_corpus replaying the seeds.
#  * otherwise (any compiler; included from tests/integration/eval_script_fuzz.cmake):
#    eval_script_fuzz_replay, a plain executable that replays the seeds and runs 3000
#    generated scripts: the ctest eval_script_fuzz, a few seconds, in every CI run.
set(_script_fuzz_dir ${CMAKE_CURRENT_LIST_DIR})
if(DARTER_FUZZ)
  set(DARTER_SCRIPT_FUZZ_SANITIZERS -fsanitize=address,undefined -fno-sanitize-recover=undefined
      -fno-omit-frame-pointer)
  pkg_check_modules(SCRIPT_FUZZ_LUA REQUIRED IMPORTED_TARGET lua5.1 lua5.1-cjson lua5.1-bitop)
  add_executable(eval_script_fuzzer ${_script_fuzz_dir}/eval_script_fuzzer.cc
                 ${PROJECT_SOURCE_DIR}/lib/server/script/script_lua.cc ${PROJECT_SOURCE_DIR}/lib/server/script/script_fiber.cc
                 ${PROJECT_SOURCE_DIR}/lib/server/script/script_sha1.cc ${PROJECT_SOURCE_DIR}/lib/server/script/lua_cmsgpack.cc
                 ${PROJECT_SOURCE_DIR}/lib/server/script/lua_struct.cc)
  target_link_libraries(eval_script_fuzzer PRIVATE darter_server PkgConfig::SCRIPT_FUZZ_LUA)
  target_compile_options(eval_script_fuzzer PRIVATE -fsanitize=fuzzer ${DARTER_SCRIPT_FUZZ_SANITIZERS})
  target_link_options(eval_script_fuzzer PRIVATE -fsanitize=fuzzer ${DARTER_SCRIPT_FUZZ_SANITIZERS})
  add_test(NAME eval_script_fuzzer_corpus
           COMMAND eval_script_fuzzer -runs=0 -timeout=10 ${_script_fuzz_dir}/corpus/scripts)
else()
  add_executable(eval_script_fuzz_replay ${_script_fuzz_dir}/eval_script_fuzzer.cc)
  target_compile_definitions(eval_script_fuzz_replay PRIVATE DARTER_FUZZ_STANDALONE)
  target_link_libraries(eval_script_fuzz_replay PRIVATE darter_server)
  add_test(NAME eval_script_fuzz
           COMMAND eval_script_fuzz_replay --runs=3000 --seed=1 ${_script_fuzz_dir}/corpus/scripts)
  set_tests_properties(eval_script_fuzz PROPERTIES TIMEOUT 60)
endif()
