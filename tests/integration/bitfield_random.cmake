# Randomized differential test of the bitmap and HyperLogLog commands against
# redis-server. Seeded; the seed is printed on a mismatch and
# can be replayed with DARTER_RANDOM_SEED=<seed>.
if(TARGET darter-server)
  darter_integration_test(bitfield_random_test bitfield_random_test.cc TIMEOUT 120)
endif()
