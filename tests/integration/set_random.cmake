# Randomized differential test of the set commands and SORT on sets against
# redis-server. Seeded; the seed is printed and can be replayed with
# DARTER_RANDOM_SEED=<seed>.
if(TARGET darter-server)
  darter_integration_test(set_random_test set_random_test.cc TIMEOUT 120)
endif()
