# Pub/sub across threads.
if(TARGET darter-server)
  darter_integration_test(pubsub_test pubsub_test.cc TIMEOUT 300)
endif()
