# darter-migrate carries Redis 7.0 function libraries (live source and --rdb FILE).
if(TARGET darter-server AND TARGET darter-migrate)
  darter_integration_test(migrate_functions_test migrate_functions_test.cc TIMEOUT 120)
  add_dependencies(migrate_functions_test darter-migrate)
  target_compile_definitions(migrate_functions_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
endif()
