// An ACL user and its rules, as Redis 7.0 models them: flags (on/off, nopass,
// sanitize-payload), passwords (SHA-256 hex only), and selectors — the root selector,
// which the plain rules change, and further "(...)" selectors. A selector holds the
// commands allowed (one bit per AclCommandIndex entry, plus allowed first arguments), key
// patterns with their read/write permissions, and channel patterns.
//
// A User is a value: ACL SETUSER copies one, applies the rules to the copy and publishes
// the copy (acl_registry.h), so a User once published is never changed and may be read by
// any thread that holds it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/command_table.h"

namespace darter::server::acl {

class AclCommandIndex;

enum KeyPerm : uint8_t { kKeyRead = 1, kKeyWrite = 2, kKeyAll = 3 };

struct KeyPattern {
  std::string pattern;
  uint8_t perms = kKeyAll;
  bool operator==(const KeyPattern&) const = default;
};

struct Selector {
  bool root = false;
  bool all_keys = false;
  bool all_channels = false;
  // Redis's ALLCOMMANDS flag: set by +@all, cleared when any command bit is cleared.
  bool all_commands = false;
  // Redis's reserved "future commands" bit: set by +@all, cleared by -@all only. It
  // decides whether the description starts from +@all or -@all.
  bool future_commands = false;
  // Allowed commands, by AclCommandIndex id; ids past the vector's end read as `rest`
  // (so +@all and -@all need not know how many commands there are).
  std::vector<uint64_t> bits;
  bool rest = false;
  // First arguments allowed for a command whose bit is clear (+select|0): id -> args.
  std::vector<std::pair<size_t, std::vector<std::string>>> firstargs;
  std::vector<KeyPattern> keys;
  std::vector<std::string> channels;

  bool Bit(size_t id) const { return id / 64 < bits.size() ? (bits[id / 64] >> (id % 64)) & 1 : rest; }
  void SetBit(size_t id, bool value);
  bool operator==(const Selector&) const = default;
};

struct User {
  std::string name;
  uint64_t identity = 0;  // stays across SETUSER; a deleted and re-created user gets a new one
  bool enabled = false;
  bool nopass = false;
  bool sanitize_payload = false, skip_sanitize_payload = false;
  std::vector<std::string> passwords;  // SHA-256 hex, in the order added
  std::vector<Selector> selectors;     // [0] is the root selector
  // True when the root selector allows every command on every key and channel: the
  // permission check is then skipped (the default user's common case).
  bool allows_everything = false;

  // A user as Redis's ACLCreateUser makes it: off, no passwords, -@all, no keys, channels
  // per acl-pubsub-default.
  static User Fresh(std::string name, uint64_t identity);
  // Applies one rule (ACLSetUser). On error returns Redis's reason ("Syntax error", ...)
  // and leaves the user in an unspecified state: callers apply rules to a copy.
  std::optional<std::string> Apply(std::string_view op);
  // Recomputes allows_everything; call after the last Apply.
  void Finish();
  // ACL LIST's description after "user <name> ".
  std::string Describe() const;
  // True when `password` is one of the user's (or the user is nopass).
  bool PasswordMatches(std::string_view password) const;
};

// acl-pubsub-default: whether new selectors start with allchannels (Redis 7.0: no,
// resetchannels).
void SetPubsubDefaultAllChannels(bool all);
bool PubsubDefaultAllChannels();

// The command part of a selector's description ("+@all -@dangerous", "-@all +get").
std::string DescribeCommandRules(const Selector& s);
// The keys / channels parts as ACL GETUSER shows them.
std::string DescribeKeys(const Selector& s);
std::string DescribeChannels(const Selector& s);

// ACL LOG reasons, in Redis's order of precedence when selectors disagree.
enum class Denied : uint8_t { kNone, kCommand, kKey, kChannel, kAuth };

struct CheckResult {
  Denied denied = Denied::kNone;
  size_t pos = 0;  // the argument refused (key or channel), or 0
  size_t command_id = 0;
};

// Whether `user` may run `spec` with `args` (Redis's ACLCheckAllUserCommandPerm): the
// command (or subcommand, or first argument), its keys with the access the command needs
// (write for write commands, read for read-only ones, both otherwise), and for
// PUBLISH/SPUBLISH/(S|P)SUBSCRIBE its channels. `args` must fit the command's arity.
CheckResult CheckCommand(const User& user, const store::CommandSpec& spec, store::ArgList args);

// True when some selector of `user` allows every key (SORT BY/GET needs it).
bool HasFullKeyAccess(const User& user);

}  // namespace darter::server::acl
