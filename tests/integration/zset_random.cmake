# Randomized differential test of the sorted-set commands against redis-server
#. Seeded; the seed is printed on a mismatch and can be replayed
# with DARTER_RANDOM_SEED=<seed>.
if(TARGET darter-server)
  darter_integration_test(zset_random_test zset_random_test.cc TIMEOUT 120)
endif()
