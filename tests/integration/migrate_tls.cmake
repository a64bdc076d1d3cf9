# darter-migrate over TLS (rediss://) against Debian's redis-server with a TLS port;
# certificates are made with the openssl CLI at test time.
if(TARGET darter-server AND TARGET darter-migrate)
  darter_integration_test(migrate_tls_test migrate_tls_test.cc TIMEOUT 180)
  add_dependencies(migrate_tls_test darter-migrate)
  target_link_libraries(migrate_tls_test PRIVATE darter_migrate_lib)
  target_compile_definitions(migrate_tls_test PRIVATE DARTER_MIGRATE_BIN="$<TARGET_FILE:darter-migrate>")
endif()
