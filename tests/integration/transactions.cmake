# MULTI/EXEC/WATCH across clients and shards.
# Included by tests/integration/CMakeLists.txt. The test picks keys per shard with
# store::ShardOf, hence darter_store.
if(TARGET darter-server)
  darter_integration_test(transactions_test transactions_test.cc TIMEOUT 180)
  target_link_libraries(transactions_test PRIVATE darter_store)
endif()
