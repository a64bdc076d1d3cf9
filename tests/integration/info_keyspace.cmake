# INFO keyspace against redis-server in the same run.
if(TARGET darter-server)
  darter_integration_test(info_keyspace_test info_keyspace_test.cc TIMEOUT 60)
endif()
