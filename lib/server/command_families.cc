#include "server/command_families.h"

#include "server/multi_family.h"
#include "server/pubsub_family.h"
#include "server/repl_master.h"
#include "server/reset_command.h"
#include "server/script_family.h"
#include "server/server_family.h"

namespace darter::server {

void RegisterAllFamilies(store::CommandTable& table) {
  store::RegisterStoreFamilies(table);
  RegisterServerFamily(table);
  RegisterMultiFamily(table);
  RegisterPubSubFamily(table);
  RegisterResetCommand(table);
  RegisterScriptFamily(table);
  RegisterReplicationMasterFamily(table);
}

}  // namespace darter::server
