#include "server/acl/acl_commands.h"

#include "store/string_util.h"

namespace darter::server::acl {

AclCommandIndex::AclCommandIndex(const store::CommandTable& table) {
  for (const auto& spec : table.all()) {
    const size_t id = entries_.size();
    AclCommand row;
    row.fullname = spec->name;
    row.spec = spec.get();
    row.categories = spec->acl_categories;
    entries_.push_back(std::move(row));
    by_name_[spec->name] = id;
    by_spec_[spec.get()] = id;
    for (const store::SubcommandSpec& sub : spec->subcommands) {
      const size_t sid = entries_.size();
      AclCommand s;
      s.fullname = spec->name + "|" + sub.name;
      s.spec = spec.get();
      s.categories = sub.acl_categories;
      s.parent = static_cast<int>(id);
      by_name_[s.fullname] = sid;
      entries_.push_back(std::move(s));
      entries_[id].subs.push_back(sid);
    }
  }
}

const AclCommandIndex& AclCommandIndex::Get() {
  static const AclCommandIndex index(store::CommandTable::Global());
  return index;
}

std::optional<size_t> AclCommandIndex::Find(std::string_view fullname) const {
  auto it = by_name_.find(store::ToLower(fullname));
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

size_t AclCommandIndex::IdOf(const store::CommandSpec& spec, store::ArgList args) const {
  auto it = by_spec_.find(&spec);
  if (it == by_spec_.end()) return SIZE_MAX;
  const AclCommand& row = entries_[it->second];
  if (row.subs.empty() || args.size() < 2) return it->second;
  // A container's subcommand entries follow the order of its spec's subcommands.
  const store::SubcommandSpec* sub = spec.FindSubcommand(args[1]);
  return sub ? row.subs[static_cast<size_t>(sub - spec.subcommands.data())] : it->second;
}

}  // namespace darter::server::acl
