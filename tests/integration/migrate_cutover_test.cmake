# darter-migrate --cutover end to end (no write lost, the source follows Darter).
if(TARGET darter-server AND TARGET darter-migrate)
  darter_integration_test(migrate_cutover_test migrate_cutover_test.cc TIMEOUT 180)
  add_dependencies(migrate_cutover_test darter-migrate)
  target_compile_definitions(migrate_cutover_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
endif()
