# DEBUG's subcommands, PFDEBUG/PFSELFTEST and LOLWUT against redis-server 7.0
# (docs/introspection.md, "DEBUG"; docs/hll-bitmaps.md).
if(TARGET darter-server)
  darter_integration_test(debug_commands_test debug_commands_test.cc TIMEOUT 120)
endif()
