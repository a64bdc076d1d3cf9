// RESET: the connection-state reset command (see reset_command.cc).
#pragma once

#include "store/command_table.h"

namespace darter::server {

// Adds RESET's row to the command table. Called once, before threads start.
void RegisterResetCommand(store::CommandTable& table);

}  // namespace darter::server
