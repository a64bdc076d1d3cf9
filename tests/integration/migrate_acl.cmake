# darter-migrate --copy-acl against Debian's redis-server: the source's users replayed
# on the target, refusals reported, the result saved and loaded by a fresh darter-server.
if(TARGET darter-server AND TARGET darter-migrate)
  darter_integration_test(migrate_acl_test migrate_acl_test.cc TIMEOUT 120)
  add_dependencies(migrate_acl_test darter-migrate)
  target_link_libraries(migrate_acl_test PRIVATE darter_migrate_lib)
  target_compile_definitions(migrate_acl_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
endif()
