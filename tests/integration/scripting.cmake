# Lua scripting: atomicity across shards, BUSY and SCRIPT KILL.
if(TARGET darter-server)
  darter_integration_test(scripting_test scripting_test.cc TIMEOUT 180)
endif()
