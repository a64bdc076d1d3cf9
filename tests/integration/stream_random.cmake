# Randomized differential test of the stream commands (redis-server vs darter-server).
if(TARGET darter-server)
  darter_integration_test(stream_random_test stream_random_test.cc TIMEOUT 120)
endif()
