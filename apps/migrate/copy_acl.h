// Copying the source's ACL users to the target (--copy-acl).
//
// Redis keeps users outside the dataset: neither the RDB nor the replication stream
// carries them, so a replica-based migration leaves the target with only its default
// user. This reads the source's `ACL LIST` and replays each user on the target as
// `ACL SETUSER <name> reset <rules...>`. Passwords travel as the SHA-256 hashes ACL LIST
// shows (`#<hex>`), so no plaintext is needed or learnt.
//
// A user with a rule the target refuses is never widened by dropping that rule (a refused
// `-flushall` after `+@all` would grant FLUSHALL). When every refused rule is a grant (a
// command, pattern, selector or password the target lacks) the user is enabled with
// less than it had; otherwise it is created `off` with the rules the target accepts.
// Either way the report names the user, each refused rule and the target's error.
//
// Thread-safety: plain functions over the caller's connections.
#pragma once

#include <string>
#include <vector>

#include "migrate/redis_conn.h"
#include "migrate/report.h"

namespace darter::migrate {

// One line of ACL LIST ("user alice on #… ~a* (~x* +set)"): the name and its rules, a
// selector "(...)" kept whole as one rule.
struct AclUserRules {
  std::string name;
  std::vector<std::string> rules;
};

// Parses one ACL LIST line; false when it is not "user <name> <rules...>".
bool ParseAclListLine(const std::string& line, AclUserRules* out);

// Whether leaving `rule` out (the target refused it with `error`) can only take
// permissions away: a grant (command, key or channel pattern, selector, password), or the
// denial of a command the target does not have (nothing there to deny).
bool OmittingOnlyNarrows(const std::string& rule, const std::string& error);

// Reads the source's users. On error returns false with the reason in *error (a source
// without ACL, or one that refuses ACL LIST to this connection's user).
bool ReadSourceUsers(RedisConn& source, std::vector<AclUserRules>* users, std::string* error);

// Replays `user` on the target (see above).
AclUserCopy ApplyUser(RedisConn& target, const AclUserRules& user);

}  // namespace darter::migrate
