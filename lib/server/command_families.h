// The one place every command family is registered: the store's data-type families, then
// the connection- and server-level ones of lib/server. Their order is COMMAND's order.
#pragma once

#include "store/command_table.h"

namespace darter::server {

// Fills `table` with every command. Called once, before threads start (Server's
// constructor, into store::CommandTable::Global()).
void RegisterAllFamilies(store::CommandTable& table);

}  // namespace darter::server
