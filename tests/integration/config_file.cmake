if(TARGET darter-server)
  darter_integration_test(config_file_test config_file_test.cc TIMEOUT 120)
  target_compile_definitions(config_file_test PRIVATE DARTER_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data")
endif()
