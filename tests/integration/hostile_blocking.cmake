# Blocking commands and WATCH under hostile clients: many keys, chained BLMOVE, no-op
# writes under WATCH, the ways a wait ends (owner: blocking commands).
if(TARGET darter-server)
  darter_integration_test(hostile_blocking_test hostile_blocking_test.cc TIMEOUT 120)
endif()
