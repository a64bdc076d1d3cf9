// Connection- and server-level commands (Redis's server.c, networking.c, config.c):
// PING, ECHO, QUIT, HELLO, AUTH, SELECT, INFO, CONFIG, COMMAND, CLIENT, TIME, DEBUG,
// SHUTDOWN. They run on the connection's thread with access to server state.
#pragma once

#include "store/command_table.h"

namespace darter::server {

// Adds this family's rows to the command table. Called once, before threads start.
void RegisterServerFamily(store::CommandTable& table);

}  // namespace darter::server
