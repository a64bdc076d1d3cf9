# stop-writes-on-bgsave-error against redis-server in the same run.
if(TARGET darter-server)
  darter_integration_test(bgsave_error_test bgsave_error_test.cc TIMEOUT 120)
endif()
