if(TARGET darter-server)
  darter_integration_test(failover_command_test failover_command_test.cc TIMEOUT 300)
endif()
