#include "migrate/copy_acl.h"

#include <algorithm>
#include <string_view>

namespace darter::migrate {

namespace {

// Splits on spaces, except inside a selector's parentheses. ACL LIST writes no other
// quoting: Redis refuses a pattern with a space in it.
std::vector<std::string> SplitRules(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char ch : line) {
    if (ch == '(') ++depth;
    if (ch == ')' && depth > 0) --depth;
    if (ch == ' ' && depth == 0) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
      continue;
    }
    cur.push_back(ch);
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

ReplyPtr SetUser(RedisConn& target, const std::string& name, const std::vector<std::string>& rules) {
  std::vector<std::string> argv = {"ACL", "SETUSER", name};
  argv.insert(argv.end(), rules.begin(), rules.end());
  return target.Cmd(argv);
}


std::string ErrorOf(const ReplyPtr& r, const RedisConn& conn) {
  if (!r) return conn.error();
  return ReplyText(r.get());
}

}  // namespace

bool OmittingOnlyNarrows(const std::string& rule, const std::string& error) {
  if (rule.empty()) return false;
  if (std::string_view("+~%&#(").find(rule[0]) != std::string_view::npos) return true;
  if (rule[0] == '-' && rule.find('@') == std::string::npos && error.find("Unknown command") != std::string::npos)
    return true;
  return rule == "allkeys" || rule == "allchannels" || rule == "allcommands" || rule == "nopass";
}

bool ParseAclListLine(const std::string& line, AclUserRules* out) {
  std::vector<std::string> parts = SplitRules(line);
  if (parts.size() < 2 || parts[0] != "user") return false;
  out->name = parts[1];
  out->rules.assign(parts.begin() + 2, parts.end());
  return true;
}

bool ReadSourceUsers(RedisConn& source, std::vector<AclUserRules>* users, std::string* error) {
  ReplyPtr r = source.Cmd({"ACL", "LIST"});
  if (!r) {
    *error = source.error();
    return false;
  }
  if (IsError(r.get())) {
    std::string e = ReplyText(r.get());
    *error = e.find("unknown command") != std::string::npos
                 ? "the source has no ACL LIST (Redis before 6.0, or the command is renamed): " + e
                 : "the source refused ACL LIST: " + e;
    return false;
  }
  if (r->type != REDIS_REPLY_ARRAY) {
    *error = "the source answered ACL LIST with something other than a list";
    return false;
  }
  for (size_t i = 0; i < r->elements; ++i) {
    AclUserRules u;
    std::string line = ReplyText(r->element[i]);
    if (!ParseAclListLine(line, &u)) {
      *error = "cannot read the source's ACL LIST line '" + line + "'";
      return false;
    }
    users->push_back(std::move(u));
  }
  return true;
}

AclUserCopy ApplyUser(RedisConn& target, const AclUserRules& user) {
  AclUserCopy result;
  result.name = user.name;
  std::vector<std::string> all = {"reset"};
  all.insert(all.end(), user.rules.begin(), user.rules.end());
  ReplyPtr r = SetUser(target, user.name, all);
  if (r && !IsError(r.get())) {
    result.copied = true;
    return result;
  }
  if (!r) {
    result.error = target.error();
    return result;
  }
  // Find which rules the target refuses: start from a disabled, empty user and add the
  // rules one at a time, in order (later rules may depend on earlier ones, as `-get`
  // after `+@all`). `on` is withheld until every refusal is known to narrow.
  r = SetUser(target, user.name, {"reset", "off"});
  if (!r || IsError(r.get())) {
    result.error = ErrorOf(r, target);
    return result;
  }
  bool narrower_only = true;
  for (const std::string& rule : user.rules) {
    if (rule == "on") continue;
    r = SetUser(target, user.name, {rule});
    if (!r) {
      result.error = target.error();
      return result;
    }
    if (IsError(r.get())) {
      result.refusals.push_back({rule, ReplyText(r.get())});
      narrower_only = narrower_only && OmittingOnlyNarrows(rule, result.refusals.back().error);
    }
  }
  bool enabled_on_source = std::find(user.rules.begin(), user.rules.end(), "on") != user.rules.end();
  if (narrower_only && enabled_on_source) {
    r = SetUser(target, user.name, {"on"});
    if (!r || IsError(r.get())) {
      result.error = ErrorOf(r, target);
      result.disabled = true;
    }
    return result;
  }
  result.disabled = enabled_on_source;
  return result;
}

}  // namespace darter::migrate
