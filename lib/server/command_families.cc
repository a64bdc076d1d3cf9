#include "server/command_families.h"

#include "server/access/acl_family.h"
#include "server/admin/debug_family.h"
#include "server/admin/failover_family.h"
#include "server/admin/latency_family.h"
#include "server/admin/lolwut_command.h"
#include "server/admin/memory_family.h"
#include "server/admin/migrate_family.h"
#include "server/admin/monitor_family.h"
#include "server/admin/slowlog_family.h"
#include "server/multi/multi_family.h"
#include "server/pubsub/pubsub_family.h"
#include "server/repl/repl_master.h"
#include "server/admin/reset_command.h"
#include "server/script/function_family.h"
#include "server/script/script_family.h"
#include "server/admin/server_family.h"

namespace darter::server {

void RegisterAllFamilies(store::CommandTable& table) {
  store::RegisterStoreFamilies(table);
  RegisterServerFamily(table);
  RegisterDebugFamily(table);
  RegisterLolwutCommand(table);
  RegisterMemoryFamily(table);
  RegisterMigrateFamily(table);
  RegisterMultiFamily(table);
  RegisterPubSubFamily(table);
  RegisterResetCommand(table);
  RegisterMonitorCommand(table);
  RegisterScriptFamily(table);
  RegisterFunctionFamily(table);
  RegisterReplicationMasterFamily(table);
  RegisterFailoverFamily(table);
  RegisterAclFamily(table);
  RegisterSlowlogFamily(table);
  RegisterLatencyFamily(table);
}

}  // namespace darter::server
