# Hostile clients at the wire level: protocol limits, query and output buffer limits,
# fairness under a long pipeline. Included by tests/integration/CMakeLists.txt.
if(TARGET darter-server)
  darter_integration_test(hostile_protocol_test hostile_protocol_test.cc TIMEOUT 120)
endif()
