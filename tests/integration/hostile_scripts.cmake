# Hostile Lua scripts: none may crash, hijack or stall darter-server.
if(TARGET darter-server)
  darter_integration_test(hostile_scripts_test hostile_scripts_test.cc TIMEOUT 120)
endif()
