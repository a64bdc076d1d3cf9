# Differential test of the script libraries cmsgpack and struct (Darter's own, Debian
# packages neither) against redis-server: packed bytes, decoded values, errors, hostile
# input, random struct formats.
if(TARGET darter-server)
  darter_integration_test(lua_libs_test lua_libs_test.cc TIMEOUT 300)
endif()
