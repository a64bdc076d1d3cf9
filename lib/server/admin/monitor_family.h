// MONITOR: the command that makes a client a monitor; what monitors are sent, and
// when, is the feed's (server/core/monitor_feed.h).
#pragma once

#include "store/command_table.h"

namespace darter::server {

void RegisterMonitorCommand(store::CommandTable& table);

}  // namespace darter::server
