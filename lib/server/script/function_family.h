// Redis 7.0 functions: FUNCTION LOAD/DELETE/FLUSH/DUMP/RESTORE/LIST/STATS/KILL/HELP and
// FCALL / FCALL_RO, with Redis 7.0's replies and error strings.
//
// Libraries live in the FunctionRegistry (function_registry.h), one set for all
// threads. A change (LOAD, DELETE, FLUSH, RESTORE) runs on shard 0's thread: the library
// is compiled there, the registry changes, and the command is reported to shard 0's
// write observers as a keyless write, so the journal sends it to replicas verbatim (as
// Redis propagates it) in order with shard 0's writes.
//
// FCALL runs a function with EVAL's engine (script_family.h): keys routed to shards,
// atomic, redis.call/pcall. A no-writes function runs read-only (its writes are refused
// as Redis refuses them), and only such functions may run through FCALL_RO.
#pragma once

#include "store/command_table.h"

namespace darter::server {

void RegisterFunctionFamily(store::CommandTable& table);

}  // namespace darter::server
