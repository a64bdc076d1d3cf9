# darter-migrate --cutover with a Darter source: CLIENT PAUSE WRITE on Darter holds the
# writers back while the target catches up.
if(TARGET darter-server AND TARGET darter-migrate)
  darter_integration_test(migrate_darter_source_test migrate_darter_source_test.cc TIMEOUT 120)
  add_dependencies(migrate_darter_source_test darter-migrate)
  target_compile_definitions(migrate_darter_source_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
endif()
