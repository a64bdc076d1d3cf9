# Pub/sub across threads (issue 8). Owned by the pub/sub work; included by
# tests/integration/CMakeLists.txt.
if(TARGET darter-server)
  darter_integration_test(pubsub_test pubsub_test.cc TIMEOUT 300)
endif()
