# maxmemory without eviction: the noeviction limit holds, and a policy that would need
# eviction is refused rather than accepted and ignored.
if(TARGET darter-server)
  darter_integration_test(maxmemory_test maxmemory_test.cc TIMEOUT 60)
endif()
