if(TARGET darter-server)
  darter_integration_test(chained_replication_test chained_replication_test.cc TIMEOUT 120)
endif()
