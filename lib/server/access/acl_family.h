// The ACL command (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, LOG, GENPASS,
// LOAD, SAVE, DRYRUN, HELP) with Redis 7.0's replies, and the ACL start-up settings.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "store/command_table.h"

namespace darter::server {

class Server;

void RegisterAclFamily(store::CommandTable& table);

// Start-up (apps/server): the --user lines, then the --aclfile, as Redis's
// ACLLoadUsersAtStartup: both at once is refused. Returns the error to print.
std::optional<std::string> LoadAclAtStartup(const std::string& aclfile, const std::vector<std::string>& users);

// Disconnects the clients authenticated as any of `identities` (a deleted user's); the
// client running the command (`self`, may be null) is closed after its reply.
// Connection-thread coroutine.
}  // namespace darter::server
