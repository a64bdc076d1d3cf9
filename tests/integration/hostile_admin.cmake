# Hostile clients: the admin surface (DEBUG, protected configs, protected mode).
if(TARGET darter-server)
  darter_integration_test(hostile_admin_test hostile_admin_test.cc TIMEOUT 120)
endif()
