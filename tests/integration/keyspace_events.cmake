# Keyspace notifications compared with redis-server.
if(TARGET darter-server)
  darter_integration_test(keyspace_events_test keyspace_events_test.cc TIMEOUT 300)
endif()
