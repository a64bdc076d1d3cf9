# Darter as a primary (journal + PSYNC): redis-server and Darter replicas of a
# Darter primary.
if(TARGET darter-server)
  darter_integration_test(primary_replication_test primary_replication_test.cc TIMEOUT 300)
endif()
