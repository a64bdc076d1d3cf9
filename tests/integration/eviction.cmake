# maxmemory and key eviction: every policy at the limit, -OOM only when nothing can be
# evicted, LRU/LFU quality against redis-server, evictions reaching replicas as DELs.
if(TARGET darter-server)
  darter_integration_test(eviction_test eviction_test.cc TIMEOUT 300)
endif()
