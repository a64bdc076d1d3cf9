// MONITOR (monitor_family.h).
#include "server/admin/monitor_family.h"

#include "server/core/connection.h"
#include "server/core/monitor_feed.h"
#include "server/core/server.h"

namespace darter::server {

namespace {

void MonitorCommand(store::ConnectionContext& c) {
  Connection& conn = c.conn;
  if (conn.monitor || conn.replica_feed) return;  // Redis ignores a second MONITOR: no reply
  StartMonitoring(conn, c.server.shards().at(conn.thread()).ctx());
  c.reply.Ok();
}

}  // namespace

void RegisterMonitorCommand(store::CommandTable& t) {
  using namespace store;
  CommandFamily(t, 0) << CommandRow("monitor", 1, kCmdAdmin | kCmdNoScript | kCmdLoading | kCmdStale)
                             .Connection(MonitorCommand);
}

}  // namespace darter::server
