// The command table's registration builder (ACL categories derived from flags as Redis
// 7.0 does) and its case-insensitive lookup.
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "store/command_table.h"

namespace darter::store {
namespace {

void Noop(CommandContext&) {}

std::vector<std::string> Names(uint32_t categories) {
  std::vector<std::string> out;
  for (std::string_view n : AclCategoryNames(categories)) out.emplace_back(n);
  return out;
}

std::vector<std::string> Categories(const CommandTable& t, std::string_view name) {
  const CommandSpec* s = t.Find(name);
  REQUIRE(s != nullptr);
  return Names(s->acl_categories);
}

}  // namespace

TEST_CASE("A row's ACL categories are its family's plus those its flags imply, in Redis's order") {
  CommandTable t;
  CommandFamily(t, kAclString) << CommandRow("get", 2, kCmdReadOnly | kCmdFast, 1, 1, 1).Shard(Noop)
                               << CommandRow("set", -3, kCmdWrite | kCmdDenyOom, 1, 1, 1).Shard(Noop);
  CommandFamily(t, kAclKeyspace) << CommandRow("flushall", -1, kCmdWrite).Acl(kAclDangerous);
  CommandFamily(t, 0) << CommandRow("config", -2, kCmdAdmin | kCmdNoScript)
                      << CommandRow("subscribe", -2, kCmdPubSub | kCmdNoScript)
                      << CommandRow("lastsave", 1, kCmdFast).Acl(kAclAdmin | kAclDangerous);
  CommandFamily(t, kAclList) << CommandRow("blpop", -3, kCmdWrite | kCmdBlocking, 1, -2, 1);
  CommandFamily(t, kAclScripting) << CommandRow("eval_ro", -3, kCmdReadOnly | kCmdNoScript);
  CommandFamily(t, kAclStream) << CommandRow("xgroup", -2, kCmdWrite | kCmdDenyOom, 2, 2, 1).Container();

  CHECK(Categories(t, "get") == std::vector<std::string>{"@read", "@string", "@fast"});
  CHECK(Categories(t, "set") == std::vector<std::string>{"@write", "@string", "@slow"});
  CHECK(Categories(t, "flushall") == std::vector<std::string>{"@keyspace", "@write", "@slow", "@dangerous"});
  CHECK(Categories(t, "config") == std::vector<std::string>{"@admin", "@slow", "@dangerous"});
  CHECK(Categories(t, "subscribe") == std::vector<std::string>{"@pubsub", "@slow"});
  CHECK(Categories(t, "lastsave") == std::vector<std::string>{"@admin", "@fast", "@dangerous"});
  CHECK(Categories(t, "blpop") == std::vector<std::string>{"@write", "@list", "@slow", "@blocking"});
  // Redis keeps read-only scripts out of @read.
  CHECK(Categories(t, "eval_ro") == std::vector<std::string>{"@slow", "@scripting"});
  // A container's categories are its subcommands'; its own row says only @slow.
  CHECK(Categories(t, "xgroup") == std::vector<std::string>{"@slow"});

  const CommandSpec* set = t.Find("set");
  CHECK(set->arity == -3);
  CHECK(set->flags == (kCmdWrite | kCmdDenyOom));
  CHECK(set->first_key == 1);
  CHECK(set->last_key == 1);
  CHECK(set->key_step == 1);
  CHECK((set->shard_handler == Noop));
  CHECK(t.all().size() == 9);
  CHECK(t.all()[0]->name == "get");  // registration order is COMMAND's order
}

TEST_CASE("CommandTable::Find folds ASCII case and refuses names longer than every command") {
  CommandTable t;
  CommandFamily(t, 0) << CommandRow("GeoRadius_RO", -6, kCmdReadOnly) << CommandRow("get", 2, kCmdReadOnly);
  REQUIRE(t.Find("georadius_ro") != nullptr);
  CHECK(t.Find("georadius_ro")->name == "georadius_ro");  // stored lower case
  CHECK(t.Find("GEORADIUS_RO") == t.Find("georadius_ro"));
  CHECK(t.Find("GeT") == t.Find("get"));
  CHECK(t.Find("gets") == nullptr);
  CHECK(t.Find("ge") == nullptr);
  CHECK(t.Find("") == nullptr);
  CHECK(t.Find(std::string(1 << 20, 'g')) == nullptr);
  // Only A-Z fold: a fold by OR-ing 0x20 would make '_' equal DEL (0x7f), one
  // dropping the high bit would make 0xc5 equal 'e'.
  CHECK(t.Find("georadius\x7fro") == nullptr);
  CHECK(t.Find("g\xc5t") == nullptr);
}

}  // namespace darter::store
