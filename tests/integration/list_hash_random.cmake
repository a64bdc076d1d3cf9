# Randomized differential test of the list and hash families.
if(TARGET darter-server)
  darter_integration_test(list_hash_random_test list_hash_random_test.cc TIMEOUT 120)
endif()
