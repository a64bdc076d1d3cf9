# replica-serve-stale-data, replica-priority, replica-announce-*, replicaof, tcp-keepalive
# and tcp-backlog against redis-server in the same run.
if(TARGET darter-server)
  darter_integration_test(replica_link_config_test replica_link_config_test.cc TIMEOUT 120)
endif()
