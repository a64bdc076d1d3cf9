if(TARGET darter-server)
  darter_integration_test(redis_cli_tools_test redis_cli_tools_test.cc TIMEOUT 120)
endif()
