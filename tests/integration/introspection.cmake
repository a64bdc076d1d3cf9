# SLOWLOG, LATENCY and INFO commandstats/errorstats/latencystats against redis-server,
# and redis-py's slowlog_get (introspection_redis_py.py).
if(TARGET darter-server)
  darter_integration_test(introspection_test introspection_test.cc TIMEOUT 120)
endif()
