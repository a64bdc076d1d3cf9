# Redis 7.0 functions (FUNCTION / FCALL), differential against redis-server, plus RDB
# persistence and replication of function libraries.
if(TARGET darter-server)
  darter_integration_test(functions_test functions_test.cc TIMEOUT 120)
endif()
