# MEMORY and INFO memory against redis-server in the same run, and redis-cli --memkeys/--bigkeys.
if(TARGET darter-server)
  darter_integration_test(memory_introspection_test memory_introspection_test.cc TIMEOUT 120)
endif()
