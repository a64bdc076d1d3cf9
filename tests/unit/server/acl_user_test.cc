// ACL users: SHA-256, rule parsing and its errors, the description Redis 7.0 gives for a
// sequence of rules, and the permission check (commands, subcommands, first args, keys
// with read/write permissions, channels, selectors). Expected texts are redis-server
// 7.0.15's for the same rules.
#include <doctest/doctest.h>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "server/acl/acl_commands.h"
#include "server/acl/acl_registry.h"
#include "server/acl/acl_user.h"
#include "server/acl/sha256.h"
#include "store/command_table.h"

using namespace darter::server::acl;

namespace {

User Make(std::initializer_list<std::string_view> ops, std::string* error = nullptr) {
  User u = User::Fresh("u", 1);
  for (std::string_view op : ops) {
    if (auto err = u.Apply(op)) {
      if (error) *error = *err;
      break;
    }
  }
  u.Finish();
  return u;
}

std::string ErrorOf(std::initializer_list<std::string_view> ops) {
  std::string err;
  Make(ops, &err);
  return err;
}

std::vector<std::string> CategoriesOf(std::string_view fullname) {
  const AclCommandIndex& index = AclCommandIndex::Get();
  auto id = index.Find(fullname);
  REQUIRE_MESSAGE(id.has_value(), fullname);
  std::vector<std::string> out;
  for (std::string_view n : darter::store::AclCategoryNames(index.at(*id).categories)) out.emplace_back(n);
  return out;
}

Denied Check(const User& u, std::vector<std::string_view> args, size_t* pos = nullptr) {
  const darter::store::CommandSpec* spec = darter::store::CommandTable::Global().Find(args[0]);
  REQUIRE(spec != nullptr);
  CheckResult r = CheckCommand(u, *spec, args);
  if (pos) *pos = r.pos;
  return r.denied;
}

}  // namespace

TEST_CASE("SHA-256 of passwords: the FIPS 180-4 test vectors") {
  CHECK(Sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // 55, 56 and 64 bytes: the padding's one-block and two-block cases.
  CHECK(Sha256Hex(std::string(55, 'a')) == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  CHECK(Sha256Hex(std::string(56, 'a')) == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
  CHECK(Sha256Hex(std::string(64, 'a')) == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST_CASE("ACL rules: descriptions as Redis 7.0 gives them") {
  CHECK(Make({}).Describe() == "off resetchannels -@all");
  CHECK(Make({"on", ">p1", "+get", "+@list", "-lpush", "~foo*", "%R~bar", "&ch*"}).Describe() ==
        "on #f64551fcd6f07823cb87971cfb91446425da18286b3ab1ef935e0cbd7a69f68a ~foo* %R~bar resetchannels &ch* "
        "-@all +@list +get -lpush");
  CHECK(Make({"+@all", "-@dangerous", "+config|get"}).Describe() == "off resetchannels +@all -@dangerous +config|get");
  CHECK(Make({"+@all", "-@dangerous", "-@admin", "+get", "-set"}).Describe() ==
        "off resetchannels +@all -@dangerous -set");
  CHECK(Make({"-@all", "+select|0", "+select|1"}).Describe() == "off resetchannels -@all +select|0 +select|1");
  CHECK(Make({"+select|0", "-select"}).Describe() == "off resetchannels -@all");
  CHECK(Make({"reset"}).Describe() == "off sanitize-payload resetchannels -@all");
  CHECK(Make({"~a", "%W~b", "%R~c", "%RW~d", "%R~b"}).Describe() == "off ~a ~b %R~c ~d resetchannels -@all");
  CHECK(Make({"allkeys", "allchannels", "allcommands", "on", "nopass"}).Describe() == "on nopass ~* &* +@all");
  CHECK(Make({"(+get ~x)", "(+set ~y &c)", "on"}).Describe() ==
        "on resetchannels -@all (~x resetchannels -@all +get) (~y resetchannels &c -@all +set)");
  CHECK(Make({">a", ">b", "<a", ">b"}).passwords == std::vector<std::string>{Sha256Hex("b")});
  CHECK(Make({">a", "nopass"}).Describe() == "off nopass resetchannels -@all");
  CHECK(Make({"nopass", ">a"}).Describe() == "off #" + Sha256Hex("a") + " resetchannels -@all");
}

TEST_CASE("ACL rules: errors as Redis 7.0 words them") {
  CHECK(ErrorOf({"+nosuch"}) == "Unknown command or category name in ACL");
  CHECK(ErrorOf({"+@nosuch"}) == "Unknown command or category name in ACL");
  CHECK(ErrorOf({"+config|nosuch"}) == "Unknown command or category name in ACL");
  CHECK(ErrorOf({"-select|0"}) == "Unknown command or category name in ACL");
  CHECK(ErrorOf({"+config|get|x"}) == "Allowing first-arg of a subcommand is not supported");
  CHECK(ErrorOf({"+get|"}) == "Syntax error");
  CHECK(ErrorOf({"bogus"}) == "Syntax error");
  CHECK(ErrorOf({"~a b"}) == "Syntax error");
  CHECK(ErrorOf({"%~a"}) == "Syntax error");
  CHECK(ErrorOf({"%RR~a"}) == "Syntax error");
  CHECK(ErrorOf({"<nope"}) == "The password you are trying to remove from the user does not exist");
  CHECK(ErrorOf({"#abc"}) ==
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
  CHECK(ErrorOf({"#" + std::string(64, 'A')}) ==
        "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters");
  CHECK(ErrorOf({"~*", "~x"}).starts_with("Adding a pattern after the * pattern (or the 'allkeys' flag)"));
  CHECK(ErrorOf({"&*", "&x"}).starts_with("Adding a pattern after the * pattern (or the 'allchannels' flag)"));
  CHECK(ErrorOf({"(+get ~x bogus)"}) == "Syntax error");
}

TEST_CASE("ACL check: commands, subcommands and first arguments") {
  User u = Make({"on", "allkeys", "allchannels", "-@all", "+get", "+config|get", "+select|0"});
  CHECK(Check(u, {"get", "k"}) == Denied::kNone);
  CHECK(Check(u, {"set", "k", "v"}) == Denied::kCommand);
  CHECK(Check(u, {"config", "get", "x"}) == Denied::kNone);
  CHECK(Check(u, {"CONFIG", "GET", "x"}) == Denied::kNone);
  CHECK(Check(u, {"config", "set", "x", "y"}) == Denied::kCommand);
  CHECK(Check(u, {"select", "0"}) == Denied::kNone);
  CHECK(Check(u, {"select", "1"}) == Denied::kCommand);
  // AUTH and the other no-auth commands are always allowed.
  CHECK(Check(u, {"auth", "x"}) == Denied::kNone);
  User all = Make({"+@all", "-config|set", "~*", "&*"});
  CHECK(Check(all, {"config", "get", "x"}) == Denied::kNone);
  CHECK(Check(all, {"config", "set", "x", "y"}) == Denied::kCommand);
  CHECK_FALSE(all.allows_everything);
  CHECK(Make({"+@all", "~*", "&*"}).allows_everything);
  CHECK_FALSE(Make({"+@all", "~*"}).allows_everything);
}

// Expected: redis-server 7.0.15's COMMAND INFO for each subcommand.
TEST_CASE("ACL command index: each subcommand has its own categories, derived from its flags") {
  using V = std::vector<std::string>;
  CHECK(CategoriesOf("client") == V{"@slow"});
  CHECK(CategoriesOf("client|id") == V{"@slow", "@connection"});
  CHECK(CategoriesOf("client|kill") == V{"@admin", "@slow", "@dangerous", "@connection"});
  CHECK(CategoriesOf("CLIENT|Kill") == V{"@admin", "@slow", "@dangerous", "@connection"});
  CHECK(CategoriesOf("config|get") == V{"@admin", "@slow", "@dangerous"});
  CHECK(CategoriesOf("config|help") == V{"@slow"});
  CHECK(CategoriesOf("object|freq") == V{"@keyspace", "@read", "@slow"});
  CHECK(CategoriesOf("object|help") == V{"@keyspace", "@slow"});
  CHECK(CategoriesOf("xgroup|create") == V{"@write", "@stream", "@slow"});
  CHECK(CategoriesOf("xinfo|help") == V{"@stream", "@slow"});
  CHECK(CategoriesOf("memory|usage") == V{"@read", "@slow"});
  CHECK(CategoriesOf("pubsub|numpat") == V{"@pubsub", "@slow"});
  CHECK(CategoriesOf("script|load") == V{"@slow", "@scripting"});
  CHECK(CategoriesOf("acl|whoami") == V{"@slow"});
  CHECK(CategoriesOf("acl|setuser") == V{"@admin", "@slow", "@dangerous"});
  // COMMAND runs without a subcommand as well: it keeps its own categories.
  CHECK(CategoriesOf("command") == V{"@slow", "@connection"});
  CHECK(CategoriesOf("command|info") == V{"@slow", "@connection"});
  // Subcommands Darter does not implement are unknown, as unknown commands are.
  CHECK_FALSE(AclCommandIndex::Get().Find("module|list").has_value());
  CHECK_FALSE(AclCommandIndex::Get().Find("script|debug").has_value());

  User no_dangerous = Make({"+@all", "-@dangerous", "~*", "&*"});
  CHECK(Check(no_dangerous, {"client", "id"}) == Denied::kNone);
  CHECK(Check(no_dangerous, {"client", "setname", "x"}) == Denied::kNone);
  CHECK(Check(no_dangerous, {"client", "kill", "id", "9"}) == Denied::kCommand);
  CHECK(Check(no_dangerous, {"config", "set", "x", "y"}) == Denied::kCommand);
  CHECK(Check(no_dangerous, {"acl", "whoami"}) == Denied::kNone);
  User connection = Make({"-@all", "+@connection"});
  CHECK(Check(connection, {"client", "kill", "id", "9"}) == Denied::kNone);
  CHECK(Check(connection, {"config", "get", "x"}) == Denied::kCommand);
}

TEST_CASE("ACL check: keys by pattern, with read and write permissions") {
  User u = Make({"+@all", "%R~r*", "%W~w*", "~k*"});
  size_t pos = 0;
  CHECK(Check(u, {"get", "r1"}) == Denied::kNone);
  CHECK(Check(u, {"set", "r1", "v"}) == Denied::kKey);
  CHECK(Check(u, {"lpush", "w1", "v"}) == Denied::kNone);
  CHECK(Check(u, {"get", "w1"}) == Denied::kKey);
  CHECK(Check(u, {"mget", "k1", "r1", "zz"}, &pos) == Denied::kKey);
  CHECK(pos == 3);
  // COPY reads its source and writes its destination; SINTERSTORE reads its sources.
  CHECK(Check(u, {"copy", "r1", "w1"}) == Denied::kNone);
  CHECK(Check(u, {"copy", "w1", "r1"}) == Denied::kKey);
  CHECK(Check(u, {"sinterstore", "w1", "r1", "r2"}) == Denied::kNone);
  CHECK(Check(u, {"sinterstore", "r1", "r2"}) == Denied::kKey);
}

TEST_CASE("ACL check: channels, PSUBSCRIBE literally, and selectors") {
  User u = Make({"+@all", "allkeys", "resetchannels", "&news.*", "&c*"});
  size_t pos = 0;
  CHECK(Check(u, {"publish", "news.1", "m"}) == Denied::kNone);
  CHECK(Check(u, {"publish", "other", "m"}) == Denied::kChannel);
  CHECK(Check(u, {"subscribe", "news.x", "cat", "dog"}, &pos) == Denied::kChannel);
  CHECK(pos == 3);
  CHECK(Check(u, {"psubscribe", "c*"}) == Denied::kNone);
  CHECK(Check(u, {"psubscribe", "ca*"}) == Denied::kChannel);
  // A command is allowed when any selector allows it; otherwise the error that got
  // furthest is reported.
  User s = Make({"-@all", "(+get ~a*)", "(+set ~b*)"});
  CHECK(Check(s, {"get", "a1"}) == Denied::kNone);
  CHECK(Check(s, {"set", "b1", "v"}) == Denied::kNone);
  CHECK(Check(s, {"get", "b1"}) == Denied::kKey);
  CHECK(Check(s, {"del", "a1"}) == Denied::kCommand);
}

TEST_CASE("ACL registry: SETUSER stages every rule, AUTH, DELUSER, and the version clients watch") {
  Registry& reg = Registry::Global();
  const uint64_t v0 = g_version.load();
  std::vector<std::string> ops = {"on", ">pw", "+get"};
  REQUIRE_FALSE(reg.SetUser("unit_alice", ops).has_value());
  CHECK(g_version.load() > v0);
  CHECK(reg.Authenticate("unit_alice", "pw") != nullptr);
  CHECK(reg.Authenticate("unit_alice", "nope") == nullptr);
  CHECK(reg.Authenticate("unit_nobody", "pw") == nullptr);
  std::vector<std::string> bad = {"+set", "bogus"};
  CHECK(reg.SetUser("unit_alice", bad) == "Error in ACL SETUSER modifier 'bogus': Syntax error");
  CHECK(reg.Find("unit_alice")->Describe() == "on #" + Sha256Hex("pw") + " resetchannels -@all +get");
  std::vector<std::string> off = {"off"};
  REQUIRE_FALSE(reg.SetUser("unit_alice", off).has_value());
  CHECK(reg.Authenticate("unit_alice", "pw") == nullptr);
  // A connection's cached user follows SETUSER, and a deleted user leaves it nothing.
  ClientAcl client;
  client.Set(reg.Find("unit_alice"));
  std::vector<std::string> more = {"+set"};
  REQUIRE_FALSE(reg.SetUser("unit_alice", more).has_value());
  CHECK(client.Current().Describe() == "off #" + Sha256Hex("pw") + " resetchannels -@all +get +set");
  std::vector<std::string_view> names = {"unit_alice"};
  CHECK(reg.DelUsers(names).size() == 1);
  CHECK(client.Current().Describe() == "off resetchannels -@all");
  CHECK(client.name() == "unit_alice");
}
