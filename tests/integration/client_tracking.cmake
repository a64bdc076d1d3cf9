if(TARGET darter-server)
  darter_integration_test(client_tracking_test client_tracking_test.cc TIMEOUT 120)
endif()
