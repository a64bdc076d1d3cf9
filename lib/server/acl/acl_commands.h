// The commands ACL rules name: every row of the command table, and for the rows that
// Redis 7.0 splits into subcommands (CONFIG, CLIENT, OBJECT, ...) one entry per
// subcommand ("config|get"), so that +config|get and -client|kill mean what they mean in
// Redis. An entry's id indexes a selector's command bits (acl_user.h).
//
// Categories: a row's are its CommandSpec::acl_categories, a subcommand's its
// SubcommandSpec::acl_categories (both derived from flags by the command table), so that
// CLIENT KILL is @admin @dangerous while CLIENT ID is not, as in Redis. A container's
// subcommands that Darter does not implement are not declared and so not known, like
// unknown commands.
//
// Thread-safety: built once, on first use after the command table is complete; read-only
// afterwards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/command_table.h"

namespace darter::server::acl {

struct AclCommand {
  std::string fullname;  // "get", "config|get"
  const store::CommandSpec* spec = nullptr;
  uint32_t categories = 0;
  int parent = -1;            // the container's id, for a subcommand
  std::vector<size_t> subs;   // a container's subcommands' ids
};

class AclCommandIndex {
 public:
  explicit AclCommandIndex(const store::CommandTable& table);
  // The process's index over CommandTable::Global().
  static const AclCommandIndex& Get();

  size_t size() const { return entries_.size(); }
  const AclCommand& at(size_t id) const { return entries_[id]; }
  // "name" or "container|sub", case-insensitive; nullopt when unknown.
  std::optional<size_t> Find(std::string_view fullname) const;
  // The entry a call `args` of `spec` is checked against: the subcommand's when `spec` is
  // a container and args[1] names one of its subcommands, else the row's.
  size_t IdOf(const store::CommandSpec& spec, store::ArgList args) const;

 private:
  std::vector<AclCommand> entries_;  // rows in table order, each container followed by its subs
  std::unordered_map<std::string, size_t> by_name_;  // lower-case fullname
  std::unordered_map<const store::CommandSpec*, size_t> by_spec_;
};

}  // namespace darter::server::acl
