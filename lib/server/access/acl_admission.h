// What the dispatcher, MULTI, scripts and AUTH ask of ACL. The permission check itself
// is acl_user.h's CheckCommand; here it gets Redis 7.0's error text for where it was
// asked, and a refusal is written to the ACL log.
#pragma once

#include <string>
#include <string_view>

#include "server/acl/acl_user.h"
#include "store/command_table.h"

namespace darter::server {

class Connection;

// Where a command was refused: its reply's wording and its ACL LOG context.
enum class AclContext : uint8_t {
  kToplevel,  // a client's command ("toplevel")
  kInMulti,   // a client's command run at once while it is in MULTI, as EXEC ("multi")
  kMulti,     // queued inside MULTI ("multi")
  kExec,      // re-checked at EXEC ("multi")
  kScript,    // redis.call / redis.pcall ("lua")
};

// "" when `user` may run `spec` with `args`; otherwise the error reply (without '-') for
// `context`, after adding the ACL LOG entry. SORT's BY/GET patterns without full key
// access are refused here too, with SORT's own error (and no log entry, as in Redis).
std::string AclRefusal(Connection& conn, const acl::User& user, const store::CommandSpec& spec,
                       store::ArgList args, AclContext context);

// The same decision without the error text and the log entry.
bool AclAllows(const acl::User& user, const store::CommandSpec& spec, store::ArgList args);

// An AUTH / HELLO AUTH failure's log entry (reason "auth", object the command's name as
// sent, the user name tried; context "multi" when the client is in MULTI).
void LogAuthFailure(Connection& conn, std::string_view command, std::string_view username, bool in_multi);

}  // namespace darter::server
