# Blocking commands (BLPOP & co, XREAD BLOCK, CLIENT UNBLOCK) under concurrency on
# --threads 2 and 4.
if(TARGET darter-server)
  darter_integration_test(blocking_test blocking_test.cc TIMEOUT 300)
endif()
