#include "server/acl/acl_commands.h"

#include <initializer_list>

#include "store/string_util.h"

namespace darter::server::acl {

namespace {

struct ContainerSubcommands {
  const char* name;
  std::initializer_list<const char*> subs;
};

// Redis 7.0's subcommands of the container commands (COMMAND's "subcommands"). Only names:
// their categories come from the command table (see the header).
const ContainerSubcommands kContainers[] = {
    {"command", {"count", "docs", "getkeys", "getkeysandflags", "help", "info", "list"}},
    {"object", {"encoding", "freq", "help", "idletime", "refcount"}},
    {"script", {"debug", "exists", "flush", "help", "kill", "load"}},
    {"config", {"get", "help", "resetstat", "rewrite", "set"}},
    {"pubsub", {"channels", "help", "numpat", "numsub", "shardchannels", "shardnumsub"}},
    {"memory", {"doctor", "help", "malloc-stats", "purge", "stats", "usage"}},
    {"xinfo", {"consumers", "groups", "help", "stream"}},
    {"xgroup", {"create", "createconsumer", "delconsumer", "destroy", "help", "setid"}},
    {"slowlog", {"get", "help", "len", "reset"}},
    {"acl", {"cat", "deluser", "dryrun", "genpass", "getuser", "help", "list", "load", "log", "save", "setuser",
             "users", "whoami"}},
    {"function", {"delete", "dump", "flush", "help", "kill", "list", "load", "restore", "stats"}},
    {"latency", {"doctor", "graph", "help", "histogram", "history", "latest", "reset"}},
    {"client", {"caching", "getname", "getredir", "help", "id", "info", "kill", "list", "no-evict", "pause", "reply",
                "setname", "tracking", "trackinginfo", "unblock", "unpause"}},
};

const ContainerSubcommands* ContainerOf(std::string_view name) {
  for (const auto& c : kContainers)
    if (name == c.name) return &c;
  return nullptr;
}

}  // namespace

AclCommandIndex::AclCommandIndex(const store::CommandTable& table) {
  for (const auto& spec : table.all()) {
    const ContainerSubcommands* container = ContainerOf(spec->name);
    const size_t id = entries_.size();
    AclCommand row;
    row.fullname = spec->name;
    row.spec = spec.get();
    row.categories = container ? uint32_t{store::kAclSlow} : spec->acl_categories;
    entries_.push_back(std::move(row));
    by_name_[spec->name] = id;
    by_spec_[spec.get()] = id;
    if (!container) continue;
    const uint32_t sub_categories = store::ImpliedAclCategories(spec->flags, spec->acl_categories);
    for (const char* sub : container->subs) {
      const size_t sid = entries_.size();
      AclCommand s;
      s.fullname = spec->name + "|" + sub;
      s.spec = spec.get();
      s.categories = sub_categories;
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
  for (size_t sid : row.subs) {
    std::string_view sub = std::string_view(entries_[sid].fullname).substr(row.fullname.size() + 1);
    if (store::EqualsIgnoreCase(sub, args[1])) return sid;
  }
  return it->second;
}

}  // namespace darter::server::acl
