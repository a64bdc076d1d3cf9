# Replication from Redis and darter-migrate (issue 6). Owned by the migrate work;
# included by tests/integration/CMakeLists.txt.
if(TARGET darter-server)
  darter_integration_test(replication_sync_test replication_sync_test.cc TIMEOUT 300)
  darter_integration_test(replication_faults_test replication_faults_test.cc TIMEOUT 180)
  if(TARGET darter-migrate)
    darter_integration_test(migrate_tool_test migrate_tool_test.cc TIMEOUT 300)
    add_dependencies(migrate_tool_test darter-migrate)
    target_compile_definitions(migrate_tool_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
  endif()
endif()
