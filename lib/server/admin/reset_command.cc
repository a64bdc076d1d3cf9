// RESET (Redis 6.2): returns the connection to the state of a fresh one — no
// subscriptions, RESP2, database 0, no name, the default ACL user, and authenticated only
// when the default user needs no password — and replies +RESET. State that other features keep per
// connection (MULTI queue, WATCHed keys, CLIENT TRACKING, CLIENT REPLY, MONITOR) is
// reset here too.
#include "server/admin/reset_command.h"

#include "server/acl/acl_registry.h"
#include "server/core/monitor_feed.h"
#include "server/core/connection.h"
#include "server/multi/multi_family.h"
#include "server/pubsub/pubsub_family.h"
#include "server/core/server.h"
#include "server/tracking/tracking_family.h"

namespace darter::server {

namespace {

void ResetCommand(store::ConnectionContext& c) {
  Connection& conn = c.conn;
  DropSubscriptions(conn);
  ReleaseTransaction(conn);  // discards a MULTI queue and drops WATCHes
  DisableTracking(conn);
  StopMonitoring(conn);
  conn.reply_off = conn.reply_skip_next = conn.reply_skip_this = false;
  conn.db = 0;
  conn.name.clear();
  conn.set_protocol(2);
  conn.acl.SetDefault();
  conn.authenticated = acl::Registry::Global().DefaultUserOpen();
  c.reply.SimpleString("RESET");
}

}  // namespace

void RegisterResetCommand(store::CommandTable& t) {
  using namespace store;
  constexpr uint32_t kFlags = kCmdNoScript | kCmdLoading | kCmdStale | kCmdFast | kCmdNoAuth;
  CommandFamily(t, kAclConnection) << CommandRow("reset", 1, kFlags).Connection(ResetCommand);
}

}  // namespace darter::server
