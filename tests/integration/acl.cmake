# ACL users, differential against redis-server.
if(TARGET darter-server)
  darter_integration_test(acl_test acl_test.cc TIMEOUT 120)
endif()
