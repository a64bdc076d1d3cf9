#include "server/acl/acl_user.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <climits>

#include "server/acl/acl_commands.h"
#include "server/acl/sha256.h"
#include "store/string_util.h"

namespace darter::server::acl {

namespace {

std::atomic<bool> g_pubsub_default_all{false};

// Redis 7.0's categories, in ACLCommandCategories' order (the order descriptions try them).
struct Category {
  const char* name;
  uint32_t flag;
};
constexpr Category kCategories[] = {
    {"keyspace", store::kAclKeyspace}, {"read", store::kAclRead},           {"write", store::kAclWrite},
    {"set", store::kAclSet},           {"sortedset", store::kAclSortedSet}, {"list", store::kAclList},
    {"hash", store::kAclHash},         {"string", store::kAclString},       {"bitmap", store::kAclBitmap},
    {"hyperloglog", store::kAclHyperLogLog}, {"geo", store::kAclGeo},       {"stream", store::kAclStream},
    {"pubsub", store::kAclPubSub},     {"admin", store::kAclAdmin},         {"fast", store::kAclFast},
    {"slow", store::kAclSlow},         {"blocking", store::kAclBlocking},   {"dangerous", store::kAclDangerous},
    {"connection", store::kAclConnection}, {"transaction", store::kAclTransaction},
    {"scripting", store::kAclScripting},
};

uint32_t CategoryFlag(std::string_view name) {
  for (const Category& c : kCategories)
    if (store::EqualsIgnoreCase(name, c.name)) return c.flag;
  return 0;
}

constexpr const char* kErrUnknown = "Unknown command or category name in ACL";
constexpr const char* kErrSyntax = "Syntax error";
constexpr const char* kErrKeysAfterAll =
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try "
    "'resetkeys' to start with an empty list of patterns";
constexpr const char* kErrChannelsAfterAll =
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. "
    "Try 'resetchannels' to start with an empty list of channels";
constexpr const char* kErrNoSuchPassword = "The password you are trying to remove from the user does not exist";
constexpr const char* kErrBadHash =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters";
constexpr const char* kErrFirstArgOfSub = "Allowing first-arg of a subcommand is not supported";

bool HasSpaces(std::string_view s) {
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c)) || c == 0) return true;
  return false;
}

bool ValidHash(std::string_view h) {
  if (h.size() != 64) return false;
  for (char c : h)
    if (!((c >= 'a' && c <= 'f') || (c >= '0' && c <= '9'))) return false;
  return true;
}

Selector NewSelector(bool root) {
  Selector s;
  s.root = root;
  s.all_channels = PubsubDefaultAllChannels();
  return s;
}

void ResetFirstArgs(Selector& s, size_t id) {
  std::erase_if(s.firstargs, [id](const auto& e) { return e.first == id; });
}

// Redis's ACLChangeSelectorPerm: a container's subcommands follow it.
void ChangePerm(Selector& s, size_t id, bool allow) {
  const AclCommandIndex& index = AclCommandIndex::Get();
  s.SetBit(id, allow);
  ResetFirstArgs(s, id);
  for (size_t sub : index.at(id).subs) s.SetBit(sub, allow);
}

void ChangeCategory(Selector& s, uint32_t flag, bool allow) {
  const AclCommandIndex& index = AclCommandIndex::Get();
  for (size_t id = 0; id < index.size(); ++id)
    if (index.at(id).categories & flag) ChangePerm(s, id, allow);
}

void AllCommands(Selector& s, bool allow) {
  s.bits.clear();
  s.rest = allow;
  s.all_commands = allow;
  s.future_commands = allow;
  s.firstargs.clear();
}

// One rule on a selector (Redis's ACLSetSelector).
std::optional<std::string> ApplyToSelector(Selector& s, std::string_view op) {
  using store::EqualsIgnoreCase;
  if (EqualsIgnoreCase(op, "allkeys") || EqualsIgnoreCase(op, "~*")) {
    s.all_keys = true;
    s.keys.clear();
  } else if (EqualsIgnoreCase(op, "resetkeys")) {
    s.all_keys = false;
    s.keys.clear();
  } else if (EqualsIgnoreCase(op, "allchannels") || EqualsIgnoreCase(op, "&*")) {
    s.all_channels = true;
    s.channels.clear();
  } else if (EqualsIgnoreCase(op, "resetchannels")) {
    s.all_channels = false;
    s.channels.clear();
  } else if (EqualsIgnoreCase(op, "allcommands") || EqualsIgnoreCase(op, "+@all")) {
    AllCommands(s, true);
  } else if (EqualsIgnoreCase(op, "nocommands") || EqualsIgnoreCase(op, "-@all")) {
    AllCommands(s, false);
  } else if (op[0] == '~' || op[0] == '%') {
    if (s.all_keys) return kErrKeysAfterAll;
    uint8_t perms = 0;
    size_t offset = 1;
    if (op[0] == '%') {
      for (; offset < op.size(); ++offset) {
        char c = static_cast<char>(std::toupper(static_cast<unsigned char>(op[offset])));
        if (c == 'R' && !(perms & kKeyRead)) {
          perms |= kKeyRead;
        } else if (c == 'W' && !(perms & kKeyWrite)) {
          perms |= kKeyWrite;
        } else if (op[offset] == '~') {
          ++offset;
          break;
        } else {
          return kErrSyntax;
        }
      }
      // "%~pattern" names no permission; Redis accepts it and then cannot describe it.
      if (perms == 0) return kErrSyntax;
    } else {
      perms = kKeyAll;
    }
    std::string_view pattern = op.substr(std::min(offset, op.size()));
    if (HasSpaces(pattern)) return kErrSyntax;
    auto it = std::find_if(s.keys.begin(), s.keys.end(), [&](const KeyPattern& k) { return k.pattern == pattern; });
    if (it == s.keys.end()) s.keys.push_back({std::string(pattern), perms});
    else it->perms |= perms;
    s.all_keys = false;
  } else if (op[0] == '&') {
    if (s.all_channels) return kErrChannelsAfterAll;
    std::string_view pattern = op.substr(1);
    if (HasSpaces(pattern)) return kErrSyntax;
    if (std::find(s.channels.begin(), s.channels.end(), pattern) == s.channels.end())
      s.channels.emplace_back(pattern);
    s.all_channels = false;
  } else if (op[0] == '+' && (op.size() < 2 || op[1] != '@')) {
    const AclCommandIndex& index = AclCommandIndex::Get();
    std::string_view name = op.substr(1);
    size_t bar = name.rfind('|');
    if (bar == std::string_view::npos) {
      auto id = index.Find(name);
      if (!id) return kErrUnknown;
      ChangePerm(s, *id, true);
    } else {
      auto id = index.Find(name.substr(0, bar));
      if (!id) return kErrUnknown;
      if (index.at(*id).parent >= 0) return kErrFirstArgOfSub;
      std::string_view sub = name.substr(bar + 1);
      if (sub.empty()) return kErrSyntax;
      if (!index.at(*id).subs.empty()) {
        auto sid = index.Find(name);
        if (!sid) return kErrUnknown;
        ChangePerm(s, *sid, true);
      } else {
        auto it = std::find_if(s.firstargs.begin(), s.firstargs.end(), [&](const auto& e) { return e.first == *id; });
        if (it == s.firstargs.end()) it = s.firstargs.insert(s.firstargs.end(), {*id, {}});
        if (std::none_of(it->second.begin(), it->second.end(),
                         [&](const std::string& a) { return store::EqualsIgnoreCase(a, sub); }))
          it->second.emplace_back(sub);
      }
    }
  } else if (op[0] == '-' && (op.size() < 2 || op[1] != '@')) {
    auto id = AclCommandIndex::Get().Find(op.substr(1));
    if (!id) return kErrUnknown;
    ChangePerm(s, *id, false);
  } else if ((op[0] == '+' || op[0] == '-') && op[1] == '@') {
    uint32_t flag = CategoryFlag(op.substr(2));
    if (!flag) return kErrUnknown;
    ChangeCategory(s, flag, op[0] == '+');
  } else {
    return kErrSyntax;
  }
  return std::nullopt;
}

std::vector<std::string_view> SplitWords(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

std::string PatternString(const KeyPattern& k) {
  const char* prefix = k.perms == kKeyAll ? "~" : k.perms == kKeyRead ? "%R~" : "%W~";
  return prefix + k.pattern;
}

void CountCategory(const Selector& s, uint32_t flag, unsigned long* on, unsigned long* off) {
  const AclCommandIndex& index = AclCommandIndex::Get();
  *on = *off = 0;
  for (size_t id = 0; id < index.size(); ++id) {
    if (!(index.at(id).categories & flag)) continue;
    if (s.Bit(id)) ++*on;
    else ++*off;
  }
}

}  // namespace

void Selector::SetBit(size_t id, bool value) {
  if (id / 64 >= bits.size()) bits.resize(id / 64 + 1, rest ? ~uint64_t{0} : 0);
  if (value) {
    bits[id / 64] |= uint64_t{1} << (id % 64);
  } else {
    bits[id / 64] &= ~(uint64_t{1} << (id % 64));
    all_commands = false;
  }
}

void SetPubsubDefaultAllChannels(bool all) { g_pubsub_default_all.store(all, std::memory_order_relaxed); }
bool PubsubDefaultAllChannels() { return g_pubsub_default_all.load(std::memory_order_relaxed); }

User User::Fresh(std::string name, uint64_t identity) {
  User u;
  u.name = std::move(name);
  u.identity = identity;
  u.selectors.push_back(NewSelector(/*root=*/true));
  u.Finish();
  return u;
}

std::optional<std::string> User::Apply(std::string_view op) {
  using store::EqualsIgnoreCase;
  if (op.empty()) return std::nullopt;
  if (EqualsIgnoreCase(op, "on")) {
    enabled = true;
  } else if (EqualsIgnoreCase(op, "off")) {
    enabled = false;
  } else if (EqualsIgnoreCase(op, "skip-sanitize-payload")) {
    skip_sanitize_payload = true;
    sanitize_payload = false;
  } else if (EqualsIgnoreCase(op, "sanitize-payload")) {
    skip_sanitize_payload = false;
    sanitize_payload = true;
  } else if (EqualsIgnoreCase(op, "nopass")) {
    nopass = true;
    passwords.clear();
  } else if (EqualsIgnoreCase(op, "resetpass")) {
    nopass = false;
    passwords.clear();
  } else if (op[0] == '>' || op[0] == '#') {
    std::string hash;
    if (op[0] == '>') {
      hash = Sha256Hex(op.substr(1));
    } else {
      if (!ValidHash(op.substr(1))) return kErrBadHash;
      hash = op.substr(1);
    }
    if (std::find(passwords.begin(), passwords.end(), hash) == passwords.end()) passwords.push_back(hash);
    nopass = false;
  } else if (op[0] == '<' || op[0] == '!') {
    std::string hash;
    if (op[0] == '<') {
      hash = Sha256Hex(op.substr(1));
    } else {
      if (!ValidHash(op.substr(1))) return kErrBadHash;
      hash = op.substr(1);
    }
    auto it = std::find(passwords.begin(), passwords.end(), hash);
    if (it == passwords.end()) return kErrNoSuchPassword;
    passwords.erase(it);
  } else if (op[0] == '(' && op.back() == ')') {
    Selector s = NewSelector(/*root=*/false);
    for (std::string_view word : SplitWords(op.substr(1, op.size() - 2)))
      if (auto err = ApplyToSelector(s, word)) return err;
    selectors.push_back(std::move(s));
  } else if (EqualsIgnoreCase(op, "clearselectors")) {
    selectors.resize(1);
  } else if (EqualsIgnoreCase(op, "reset")) {
    for (std::string_view r : {"resetpass", "resetkeys", "resetchannels"}) Apply(r);
    if (PubsubDefaultAllChannels()) Apply("allchannels");
    for (std::string_view r : {"off", "sanitize-payload", "clearselectors", "-@all"}) Apply(r);
  } else {
    return ApplyToSelector(selectors[0], op);
  }
  return std::nullopt;
}

void User::Finish() {
  const Selector& root = selectors[0];
  allows_everything = root.all_commands && root.all_keys && root.all_channels;
}

bool User::PasswordMatches(std::string_view password) const {
  if (nopass) return true;
  const std::string hash = Sha256Hex(password);
  // Every stored hash is compared in full (fixed-size digests, no early exit), so the time
  // taken says nothing about which bytes matched.
  bool match = false;
  for (const std::string& p : passwords) {
    volatile uint8_t diff = 0;
    for (size_t i = 0; i < 64; ++i) diff = diff | static_cast<uint8_t>(p[i] ^ hash[i]);
    match = match || diff == 0;
  }
  return match;
}

std::string DescribeCommandRules(const Selector& s) {
  const AclCommandIndex& index = AclCommandIndex::Get();
  // Redis's ACLDescribeSelectorCommandRules: start from +@all or -@all, add the category
  // that best fits the remaining differences until none fits, then single commands. The
  // rules are applied to `fake` as they are emitted, so it tracks what they describe.
  const bool additive = !s.future_commands;
  std::string rules = additive ? "-@all " : "+@all ";
  Selector fake = NewSelector(false);
  AllCommands(fake, !additive);
  Selector temp = s;
  bool applied[std::size(kCategories)] = {};
  while (true) {
    int best = -1;
    unsigned long mindiff = INT_MAX, maxsame = 0;
    for (size_t j = 0; j < std::size(kCategories); ++j) {
      if (applied[j]) continue;
      unsigned long on, off;
      CountCategory(temp, kCategories[j].flag, &on, &off);
      unsigned long diff = additive ? off : on, same = additive ? on : off;
      if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
        best = static_cast<int>(j);
        mindiff = diff;
        maxsame = same;
      }
    }
    if (best == -1) break;
    ChangeCategory(fake, kCategories[best].flag, additive);
    ChangeCategory(temp, kCategories[best].flag, !additive);
    rules += additive ? "+@" : "-@";
    rules += kCategories[best].name;
    rules += ' ';
    applied[best] = true;
  }
  for (size_t id = 0; id < index.size(); ++id) {
    const bool userbit = s.Bit(id), fakebit = fake.Bit(id);
    if (userbit != fakebit) {
      rules += userbit ? '+' : '-';
      rules += index.at(id).fullname;
      rules += ' ';
      ChangePerm(fake, id, userbit);
    }
    if (userbit) continue;
    for (const auto& [fid, args] : s.firstargs) {
      if (fid != id) continue;
      for (const std::string& a : args) rules += "+" + index.at(id).fullname + "|" + a + " ";
    }
  }
  rules.pop_back();
  return rules;
}

std::string DescribeKeys(const Selector& s) {
  if (s.all_keys) return "~*";
  std::string out;
  for (const KeyPattern& k : s.keys) out += (out.empty() ? "" : " ") + PatternString(k);
  return out;
}

std::string DescribeChannels(const Selector& s) {
  if (s.all_channels) return "&*";
  std::string out;
  for (const std::string& c : s.channels) out += (out.empty() ? "&" : " &") + c;
  return out;
}

namespace {

std::string DescribeSelector(const Selector& s) {
  std::string out;
  if (s.all_keys) {
    out += "~* ";
  } else {
    for (const KeyPattern& k : s.keys) out += PatternString(k) + " ";
  }
  if (s.all_channels) {
    out += "&* ";
  } else {
    out += "resetchannels ";
    for (const std::string& c : s.channels) out += "&" + c + " ";
  }
  return out + DescribeCommandRules(s);
}

}  // namespace

std::string User::Describe() const {
  std::string out;
  out += enabled ? "on " : "off ";
  if (nopass) out += "nopass ";
  if (skip_sanitize_payload) out += "skip-sanitize-payload ";
  if (sanitize_payload) out += "sanitize-payload ";
  for (const std::string& p : passwords) out += "#" + p + " ";
  for (const Selector& s : selectors) {
    if (s.root) out += DescribeSelector(s);
    else out += " (" + DescribeSelector(s) + ")";
  }
  return out;
}

namespace {

bool KeyAllowed(const Selector& s, std::string_view key, uint8_t needed) {
  for (const KeyPattern& k : s.keys) {
    if ((k.perms & needed) != needed) continue;
    if (store::GlobMatch(k.pattern, key)) return true;
  }
  return false;
}

bool ChannelAllowed(const Selector& s, std::string_view channel, bool literal) {
  for (const std::string& p : s.channels)
    if (literal ? p == channel : store::GlobMatch(p, channel)) return true;
  return false;
}

// The access a command needs on its `nth` key. Redis 7.0 reads it from each key spec's
// flags; Darter's table has the command's write/read-only flags only, so a write command
// needs write access to every key and a read-only one read access, except the write
// commands below, whose keys other than the one written are only read (Redis's RO key
// specs): the *STORE family, BITOP and PFMERGE write their first key, COPY its second.
uint8_t KeyAccessOf(const store::CommandSpec& spec, size_t nth) {
  if (spec.flags & store::kCmdWrite) {
    const std::string& n = spec.name;
    if (n == "copy") return nth == 0 ? kKeyRead : kKeyWrite;
    if (n == "sinterstore" || n == "sunionstore" || n == "sdiffstore" || n == "zunionstore" ||
        n == "zinterstore" || n == "zdiffstore" || n == "zrangestore" || n == "geosearchstore" || n == "bitop" ||
        n == "pfmerge")
      return nth == 0 ? kKeyWrite : kKeyRead;
    return kKeyWrite;
  }
  if (spec.flags & store::kCmdReadOnly) return kKeyRead;
  return kKeyAll;
}

enum class ChannelArgs { kNone, kFirst, kAll, kAllLiteral };

ChannelArgs ChannelArgsOf(const store::CommandSpec& spec) {
  const std::string& n = spec.name;
  if (n == "publish" || n == "spublish") return ChannelArgs::kFirst;
  if (n == "subscribe" || n == "ssubscribe") return ChannelArgs::kAll;
  if (n == "psubscribe") return ChannelArgs::kAllLiteral;
  return ChannelArgs::kNone;
}

Denied CheckSelector(const Selector& s, const store::CommandSpec& spec, store::ArgList args, size_t id,
                     size_t* pos) {
  const AclCommandIndex& index = AclCommandIndex::Get();
  if (!s.all_commands && !(spec.flags & store::kCmdNoAuth) && !s.Bit(id)) {
    const size_t idx = index.at(id).parent >= 0 ? 2 : 1;
    bool allowed = false;
    for (const auto& [fid, fargs] : s.firstargs) {
      if (fid != id || idx >= args.size()) continue;
      for (const std::string& a : fargs) allowed = allowed || store::EqualsIgnoreCase(a, args[idx]);
    }
    if (!allowed) return Denied::kCommand;
  }
  if (!s.all_keys && !(spec.flags & store::kCmdPubSub)) {
    const std::vector<size_t> keys = spec.KeyIndices(args);
    for (size_t k = 0; k < keys.size(); ++k) {
      const size_t i = keys[k];
      if (i >= args.size() || KeyAllowed(s, args[i], KeyAccessOf(spec, k))) continue;
      *pos = i;
      return Denied::kKey;
    }
  }
  if (!s.all_channels) {
    ChannelArgs kind = ChannelArgsOf(spec);
    if (kind != ChannelArgs::kNone) {
      const size_t end = kind == ChannelArgs::kFirst ? std::min<size_t>(2, args.size()) : args.size();
      for (size_t i = 1; i < end; ++i) {
        if (ChannelAllowed(s, args[i], kind == ChannelArgs::kAllLiteral)) continue;
        *pos = i;
        return Denied::kChannel;
      }
    }
  }
  return Denied::kNone;
}

}  // namespace

CheckResult CheckCommand(const User& user, const store::CommandSpec& spec, store::ArgList args) {
  CheckResult r;
  r.command_id = AclCommandIndex::Get().IdOf(spec, args);
  if (user.allows_everything) return r;
  // Redis picks one error when no selector allows the command: the command unless some
  // selector got further, then the furthest key or channel.
  r.denied = Denied::kCommand;
  for (const Selector& s : user.selectors) {
    size_t pos = 0;
    Denied d = CheckSelector(s, spec, args, r.command_id, &pos);
    if (d == Denied::kNone) return CheckResult{Denied::kNone, 0, r.command_id};
    if (d > r.denied || (d == r.denied && pos > r.pos)) {
      r.denied = d;
      r.pos = pos;
    }
  }
  return r;
}

bool HasFullKeyAccess(const User& user) {
  for (const Selector& s : user.selectors) {
    if (s.all_keys) return true;
    for (const KeyPattern& k : s.keys)
      if ((k.perms & kKeyRead) && k.pattern == "*") return true;
  }
  return false;
}

}  // namespace darter::server::acl
