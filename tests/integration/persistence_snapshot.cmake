# Fork-less snapshots: BGSAVE point-in-time, DEBUG DIGEST vs redis-server, the save
# schedule, shutdown saves, crash safety.
if(TARGET darter-server)
  darter_integration_test(persistence_snapshot_test persistence_snapshot_test.cc TIMEOUT 300)
endif()
