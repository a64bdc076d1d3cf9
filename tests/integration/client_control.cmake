if(TARGET darter-server)
  darter_integration_test(client_control_test client_control_test.cc TIMEOUT 120)
endif()
