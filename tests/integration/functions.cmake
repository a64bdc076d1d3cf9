# Redis 7.0 functions (FUNCTION / FCALL), differential against redis-server, plus RDB
# persistence and replication of function libraries.
if(TARGET darter-server)
  darter_integration_test(functions_test functions_test.cc TIMEOUT 120)
  # Writes RDBs with bad libraries; reads Redis 7.0's RDB from tests/data/rdb.
  target_link_libraries(functions_test PRIVATE darter_rdb)
  target_compile_definitions(functions_test PRIVATE DARTER_FIXTURES_DIR="${PROJECT_SOURCE_DIR}/tests/data")
endif()
