if(TARGET darter-server)
  darter_integration_test(migrate_command_test migrate_command_test.cc TIMEOUT 300)
endif()
