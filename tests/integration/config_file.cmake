if(TARGET darter-server AND TARGET darter-migrate AND TARGET darter-rdb)
  darter_integration_test(config_file_test config_file_test.cc TIMEOUT 120)
  add_dependencies(config_file_test darter-migrate darter-rdb)
  target_compile_definitions(config_file_test PRIVATE DARTER_TEST_DATA_DIR="${PROJECT_SOURCE_DIR}/tests/data"
                             DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>" DARTER_RDB_BIN="$<TARGET_FILE:darter-rdb>")
endif()
