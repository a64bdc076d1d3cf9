# A lagging replica applies its primary's writes to keys past their deadline on its clock.
if(TARGET darter-server)
  darter_integration_test(replica_expiry_test replica_expiry_test.cc TIMEOUT 180)
endif()
# The exact-copy test under chaos (lag, link cuts, short TTLs, stores, SWAPDB, FLUSHDB).
if(TARGET darter-server)
  darter_integration_test(replica_chaos_test replica_chaos_test.cc TIMEOUT 180)
endif()
