# Redis 7.0 functions (FUNCTION / FCALL), differential against redis-server, plus RDB
# persistence and replication of function libraries.
if(TARGET darter-server)
  darter_integration_test(functions_test functions_test.cc TIMEOUT 120)
  # Writes RDBs with bad libraries; reads Redis 7.0's RDB from tests/data/rdb.
  target_link_libraries(functions_test PRIVATE darter_rdb)
  target_compile_definitions(functions_test PRIVATE DARTER_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/data")
endif()

# darter-rdb stats names the function libraries of Redis 7.0's RDB.
if(TARGET darter-rdb)
  add_test(NAME darter_rdb_stats_functions
           COMMAND darter-rdb stats ${PROJECT_SOURCE_DIR}/tests/data/rdb/redis70-alltypes.rdb)
  set_tests_properties(darter_rdb_stats_functions PROPERTIES
                       PASS_REGULAR_EXPRESSION "functions: 1\n.*function_libraries:\n  #!lua name=populatelib \\(239 bytes\\)"
                       TIMEOUT 30)
endif()
