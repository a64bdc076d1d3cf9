#include "server/access/acl_admission.h"

#include "server/acl/acl_commands.h"
#include "server/acl/acl_registry.h"
#include "server/core/connection.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

const char* LogContext(AclContext context) {
  switch (context) {
    case AclContext::kToplevel: return "toplevel";
    case AclContext::kInMulti:
    case AclContext::kMulti:
    case AclContext::kExec: return "multi";
    case AclContext::kScript: return "lua";
  }
  return "toplevel";
}

void Log(Connection& conn, acl::Denied reason, const char* context, std::string object, std::string username) {
  acl::LogEntry e;
  e.reason = reason;
  e.context = context;
  e.object = std::move(object);
  e.username = std::move(username);
  e.ctime_ms = store::UnixTimeMs();
  e.client_info = conn.Describe(e.ctime_ms);
  acl::Registry::Global().AddLogEntry(std::move(e));
}

// SORT / SORT_RO with a BY pattern (one with a '*') or GET: Redis's sortCommand refuses
// them unless the user may read every key.
std::string SortPatternRefusal(const acl::User& user, const store::CommandSpec& spec, store::ArgList args) {
  if ((spec.name != "sort" && spec.name != "sort_ro") || acl::HasFullKeyAccess(user)) return {};
  for (size_t j = 2; j < args.size(); ++j) {
    const size_t left = args.size() - j - 1;
    if (store::EqualsIgnoreCase(args[j], "limit") && left >= 2) {
      j += 2;
    } else if (store::EqualsIgnoreCase(args[j], "store") && left >= 1) {
      j += 1;
    } else if (store::EqualsIgnoreCase(args[j], "by") && left >= 1) {
      if (args[j + 1].find('*') != std::string_view::npos)
        return "ERR BY option of SORT denied due to insufficient ACL permissions.";
      j += 1;
    } else if (store::EqualsIgnoreCase(args[j], "get") && left >= 1) {
      return "ERR GET option of SORT denied due to insufficient ACL permissions.";
    }
  }
  return {};
}

// The command whose permission decides: DARTER is multi-flow replication's own handshake
// (FLOW, SYNC, STARTSTABLE, REPLICAOFFSET), so a user may run it exactly when it may run
// PSYNC. The replication user Redis documents (+psync +replconf +ping) then serves a
// Darter replica's flows as it serves a PSYNC link.
const store::CommandSpec& DecidingSpec(const store::CommandSpec& spec) {
  static const store::CommandSpec* psync = store::CommandTable::Global().Find("psync");
  return spec.name == "darter" && psync ? *psync : spec;
}

}  // namespace

std::string AclRefusal(Connection& conn, const acl::User& user, const store::CommandSpec& command_spec,
                       store::ArgList args, AclContext context) {
  const store::CommandSpec& spec = DecidingSpec(command_spec);
  acl::CheckResult r = acl::CheckCommand(user, spec, args);
  if (r.denied == acl::Denied::kNone) return SortPatternRefusal(user, spec, args);
  const std::string& fullname = acl::AclCommandIndex::Get().at(r.command_id).fullname;
  Log(conn, r.denied, LogContext(context), r.denied == acl::Denied::kCommand ? fullname : std::string(args[r.pos]),
      user.name);
  if (context == AclContext::kScript) {
    switch (r.denied) {
      case acl::Denied::kCommand: return "ERR The user executing the script can't run this command or subcommand";
      case acl::Denied::kKey:
        return "ERR The user executing the script can't access at least one of the keys mentioned in the command "
               "arguments";
      case acl::Denied::kChannel:
        return "ERR The user executing the script can't publish to the channel mentioned in the command";
      default: return "ERR The user executing the script is lacking the permissions for the command";
    }
  }
  if (context == AclContext::kExec) {
    const char* reason = r.denied == acl::Denied::kCommand ? "no permission to execute the command or subcommand"
                         : r.denied == acl::Denied::kKey   ? "no permission to touch the specified keys"
                                                           : "no permission to access one of the channels used as arguments";
    return std::string("NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC "
                       "call. This command is no longer allowed for the following reason: ") +
           reason;
  }
  switch (r.denied) {
    case acl::Denied::kCommand: return "NOPERM this user has no permissions to run the '" + fullname + "' command";
    case acl::Denied::kKey: return "NOPERM this user has no permissions to access one of the keys used as arguments";
    default: return "NOPERM this user has no permissions to access one of the channels used as arguments";
  }
}

bool AclAllows(const acl::User& user, const store::CommandSpec& spec, store::ArgList args) {
  return acl::CheckCommand(user, DecidingSpec(spec), args).denied == acl::Denied::kNone &&
         SortPatternRefusal(user, spec, args).empty();
}

void LogAuthFailure(Connection& conn, std::string_view command, std::string_view username, bool in_multi) {
  Log(conn, acl::Denied::kAuth, in_multi ? "multi" : "toplevel", std::string(command), std::string(username));
}

}  // namespace darter::server
