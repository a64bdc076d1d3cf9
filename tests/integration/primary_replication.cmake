# Darter as a primary (issue 7, journal + PSYNC): redis-server and Darter replicas of a
# Darter primary. Owned by the journal work; included by tests/integration/CMakeLists.txt.
if(TARGET darter-server)
  darter_integration_test(primary_replication_test primary_replication_test.cc TIMEOUT 300)
endif()
