# DUMP/RESTORE and RDB files between darter-server and redis-server.
if(TARGET darter-server)
  darter_integration_test(persistence_test persistence_test.cc TIMEOUT 300)
endif()
