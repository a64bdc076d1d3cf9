// The DEBUG command (Redis 7.0's debug.c, as far as it applies to Darter): the
// subcommands a test suite or an operator uses to look inside the server (OBJECT,
// DIGEST, PROTOCOL, ...) or to steer it (SLEEP, RELOAD, POPULATE, SET-ACTIVE-EXPIRE,
// CHANGE-REPL-ID). Those that exist to crash or corrupt the server on purpose, or that
// describe structures Darter does not have, are refused with an error saying why
// (docs/introspection.md, "DEBUG").
//
// DEBUG is a protected command: `enable-debug-command` (core/protected_actions.h) is
// checked by admission before any subcommand runs, so every subcommand here is behind it.
//
// Thread-safety: the handler runs on the connection's thread; work on shard data is
// posted to the owning shard threads.
#pragma once

#include "store/command_table.h"

namespace darter::server {

void RegisterDebugFamily(store::CommandTable& table);

}  // namespace darter::server
