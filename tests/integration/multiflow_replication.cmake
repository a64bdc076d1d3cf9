# Darter-to-Darter multi-flow replication: transactions applied whole on the
# replica, compression negotiation, FLUSH*/SWAPDB, per-flow partial vs full resync,
# chains and cutover, WAIT, and the PSYNC fallback. Included by
# tests/integration/CMakeLists.txt.
if(TARGET darter-server)
  darter_integration_test(multiflow_replication_test multiflow_replication_test.cc TIMEOUT 300)
endif()
