# The script fuzzer's standalone build (ctest eval_script_fuzz): see tests/fuzz/script_fuzz.cmake.
# With DARTER_FUZZ=ON tests/fuzz/CMakeLists.txt builds the libFuzzer one instead.
if(NOT DARTER_FUZZ)
  include(${PROJECT_SOURCE_DIR}/tests/fuzz/script_fuzz.cmake)
endif()
