# Extreme count/offset/length arguments and hostile glob patterns: each case ends with
# CheckServerHealthy. Replies are compared with Redis in diff/hostile_args.txt.
if(TARGET darter-server)
  darter_integration_test(hostile_args_test hostile_args_test.cc TIMEOUT 120)
endif()
