// ACL users, differential: the same sequences go to redis-server 7.0 and darter-server
// (--threads 2) and the replies must be identical — ACL SETUSER / GETUSER / LIST / USERS /
// CAT / DRYRUN, NOPERM on commands, subcommands, keys (%R / %W), channels, inside MULTI
// (at queue time and at EXEC after the rules changed), in scripts (redis.call and
// redis.pcall), ACL LOG entries (all fields but age-seconds and client-info), AUTH / HELLO
// AUTH failures, DELUSER disconnecting a client, requirepass and the default user, and an
// ACL SAVE / LOAD round trip with an aclfile. A failed AUTH (wrong password, unknown or
// disabled user) gets WRONGPASS and changes nothing.
#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using Cmd = std::vector<std::string>;
namespace fs = std::filesystem;

// ACL LOG with the fields that depend on timing or the connection (age-seconds,
// client-info) blanked.
std::string Normalize(const Reply& r) {
  if (r.type != Reply::Type::kArray && r.type != Reply::Type::kMap) return Format(r);
  Reply copy = r;
  for (auto& entry : copy.elements) {
    if (!entry.IsAggregate()) continue;
    for (size_t i = 0; i + 1 < entry.elements.size(); i += 2) {
      if (entry.elements[i].str == "age-seconds" || entry.elements[i].str == "client-info") {
        entry.elements[i + 1] = Reply{};
      }
    }
  }
  return Format(copy);
}

// A redis-server and a darter-server started alike, and a client to each.
struct Pair {
  StartedServer redis, darter;
  std::string redis_dir, darter_dir;

  explicit Pair(std::vector<std::string> redis_args = {}, std::vector<std::string> darter_args = {}) {
    redis = StartRedis(0, redis_args);
    darter_args.insert(darter_args.begin(), {"--threads", "2"});
    darter = StartDarter(0, darter_args);
    REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  }
  // Sends `cmd` on both clients; the replies (normalized) must be equal.
  std::string Both(Client& r, Client& d, const Cmd& cmd) {
    std::string a = Normalize(r.Cmd(cmd)), b = Normalize(d.Cmd(cmd));
    CHECK_MESSAGE(a == b, FormatCommand(cmd) << "\n  redis:  " << a << "\n  darter: " << b);
    return b;
  }
  void Healthy() {
    HealthReport h = CheckServerHealthy(*darter.process, 512ull << 20);
    CHECK_MESSAGE(h.ok, h.message);
  }
};

// Rule sequences whose descriptions are deterministic in Redis (at most one single
// command differs from the categories: Redis lists several in its hash table's order) and
// name commands and categories both servers have alike.
const std::vector<Cmd> kRuleSequences = {
    {"on", ">p1", "+get", "~foo*", "%R~bar", "&ch*"},
    {"+@all", "-@dangerous", "+config|get"},
    {"+@all", "-@dangerous", "-@admin", "+get", "-set"},
    {"+@all", "-@write"},
    {"-@all", "+@read"},
    {"-@all", "+@hash"},
    {"-@all", "+@hash", "-hget"},
    {"-@all", "+@set", "+@sortedset"},
    {"+@all", "-@keyspace", "-@pubsub"},
    {"allcommands", "-@scripting", "+eval"},
    {"nocommands", "+@list", "-lpush"},
    {"+@all", "-@all", "+get"},
    {"-@all", "+select|0"},
    {"-@all", "+select|0", "+select|1"},
    {"+@all", "-select", "+select|0"},
    {"-@all", "+config|get"},
    {"+@all", "-config|set"},
    {"-@all", "+client", "-client|kill"},
    {"reset"},
    {"on", "nopass"},
    {"on", ">a", ">b", "<a"},
    {"on", ">a", "#4a60bf7d4bc1e485744cf7e8d0860524752fca1ce42331be7c439fd23043f151"},
    {"on", ">a", "!ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
    {"on", ">a", "resetpass"},
    {"allkeys", "resetkeys", "~a", "%W~b", "%R~c", "%RW~d", "%R~b"},
    {"allchannels", "resetchannels", "&a", "&b", "&a"},
    {"~*", "&*", "+@all", "off"},
    {"skip-sanitize-payload"},
    {"sanitize-payload"},
    {"(+get ~x)", "(+set ~y &c)", "on"},
    {"(+get", "~x)", "clearselectors", "(+@read %R~r*)"},
    {"", "on"},
};

const std::vector<Cmd> kBadRules = {
    {"+config|foo"}, {"-select|0"},  {"+config|get|bar"}, {"+foo"}, {"+@foo"}, {"-@foo"}, {"~a b"},
    {"bogus"},       {">a", "<b"},   {"#abc"},            {"!abc"}, {"~*", "~x"}, {"&*", "&x"},
    {"+get|"},       {"%~x"},        {"%X~x"},            {"(+get ~x", "bogus)"}, {"(+nosuch)"},
    {"(+get"},       {"on", "(", "+get"},
};

TEST_CASE("ACL SETUSER, GETUSER, LIST, USERS, CAT and DRYRUN reply as Redis 7.0") {
  Pair p;
  Client r(p.redis.port()), d(p.darter.port());
  int n = 0;
  for (const Cmd& rules : kRuleSequences) {
    const std::string name = "u" + std::to_string(n++);
    Cmd setuser = {"ACL", "SETUSER", name};
    setuser.insert(setuser.end(), rules.begin(), rules.end());
    p.Both(r, d, setuser);
    p.Both(r, d, {"ACL", "GETUSER", name});
  }
  p.Both(r, d, {"ACL", "LIST"});
  p.Both(r, d, {"ACL", "USERS"});
  // Applying rules to an existing user, and a failed SETUSER changes nothing.
  p.Both(r, d, {"ACL", "SETUSER", "u0", "-get", "+set", "resetkeys", "~k"});
  p.Both(r, d, {"ACL", "GETUSER", "u0"});
  for (const Cmd& rules : kBadRules) {
    Cmd setuser = {"ACL", "SETUSER", "u0"};
    setuser.insert(setuser.end(), rules.begin(), rules.end());
    p.Both(r, d, setuser);
  }
  p.Both(r, d, {"ACL", "GETUSER", "u0"});
  for (const Cmd& cmd : std::vector<Cmd>{
           {"ACL", "SETUSER", "a b"}, {"ACL", "GETUSER", "nosuch"}, {"ACL", "GETUSER"}, {"ACL", "FOO"},
           {"ACL", "CAT"}, {"ACL", "CAT", "a", "b"}, {"ACL", "CAT", "nosuch"}, {"ACL", "GENPASS", "0"},
           {"ACL", "GENPASS", "4097"}, {"ACL", "GENPASS", "abc"}, {"ACL", "LOG", "abc"}, {"ACL", "LOG", "-5"},
           {"ACL", "LOAD"}, {"ACL", "SAVE"}, {"ACL", "LOAD", "x"}, {"ACL", "DELUSER", "default", "u1"},
           {"ACL", "DELUSER"}, {"ACL", "WHOAMI"}, {"ACL", "WHOAMI", "x"}, {"ACL", "HELP"},
           {"ACL", "DRYRUN", "nosuch", "get", "x"}, {"ACL", "DRYRUN", "default", "nosuchcmd"},
           {"ACL", "DRYRUN", "default", "get"}, {"ACL", "DRYRUN", "u0", "get", "k"},
           {"ACL", "DRYRUN", "u0", "get", "zz"}, {"ACL", "DRYRUN", "u0", "lpush", "k", "v"},
           {"ACL", "DRYRUN", "u1", "config", "set", "a", "b"}, {"ACL", "DRYRUN", "u1", "config", "get", "a"},
           {"ACL", "DRYRUN", "u26", "publish", "x", "m"}, {"ACL", "DRYRUN", "u26", "publish", "a", "m"},
           {"ACL", "DELUSER", "u1", "u2", "nosuch"}, {"ACL", "USERS"}}) {
    p.Both(r, d, cmd);
  }
  // The ACL settings.
  for (const Cmd& cmd : std::vector<Cmd>{
           {"CONFIG", "GET", "acllog-max-len"}, {"CONFIG", "GET", "acl-pubsub-default"},
           {"CONFIG", "SET", "acllog-max-len", "-1"}, {"CONFIG", "SET", "acllog-max-len", "abc"},
           {"CONFIG", "SET", "acl-pubsub-default", "foo"}, {"CONFIG", "SET", "aclfile", "/tmp/x"},
           {"CONFIG", "SET", "acl-pubsub-default", "allchannels"}, {"ACL", "SETUSER", "pubdef", "on"},
           {"ACL", "SETUSER", "pubdef2", "reset"}, {"ACL", "GETUSER", "pubdef"}, {"ACL", "GETUSER", "pubdef2"},
           {"CONFIG", "SET", "acl-pubsub-default", "RESETCHANNELS"}, {"CONFIG", "GET", "acl-pubsub-default"},
           {"ACL", "SETUSER", "pubdef3", "on"}, {"ACL", "GETUSER", "pubdef3"}}) {
    p.Both(r, d, cmd);
  }
  // GENPASS: hex of the asked length.
  for (auto [bits, len] : {std::pair{"", 64}, {"5", 2}, {"128", 32}, {"4096", 1024}}) {
    Cmd cmd = {"ACL", "GENPASS"};
    if (*bits) cmd.push_back(bits);
    Reply g = d.Cmd(cmd);
    CHECK(g.str.size() == static_cast<size_t>(len));
    CHECK(g.str.find_first_not_of("0123456789abcdef") == std::string::npos);
  }
  // Membership of a few commands in a few categories.
  for (auto [cat, cmd] : {std::pair{"hash", "hset"}, {"read", "get"}, {"dangerous", "flushall"},
                          {"admin", "config|get"}, {"connection", "client|id"}, {"pubsub", "publish"}}) {
    Reply list = d.Cmd({"ACL", "CAT", cat});
    bool found = false;
    for (auto& e : list.elements) found = found || e.str == cmd;
    CHECK_MESSAGE(found, cmd << " in @" << cat);
  }
  p.Healthy();
}

// The commands a server names in COMMAND LIST ("get", "client|kill", ...).
std::vector<std::string> CommandNames(Client& c) {
  std::vector<std::string> out;
  for (const Reply& e : c.Cmd({"COMMAND", "LIST"}).elements) out.push_back(e.str);
  std::sort(out.begin(), out.end());
  return out;
}

// The members of `list` that are in `known` (sorted), sorted.
std::vector<std::string> Known(const Reply& list, const std::vector<std::string>& known) {
  std::vector<std::string> out;
  for (const Reply& e : list.elements)
    if (std::binary_search(known.begin(), known.end(), e.str)) out.push_back(e.str);
  std::sort(out.begin(), out.end());
  return out;
}

// Redis 7.0 gives each subcommand its own flags and categories (CLIENT KILL is @admin
// @dangerous, CLIENT ID is not); category rules, ACL CAT, DRYRUN and NOPERM follow them.
TEST_CASE("Subcommands have their own ACL categories, as in Redis 7.0") {
  Pair p;
  Client ra(p.redis.port()), da(p.darter.port());
  const std::vector<std::string> redis_names = CommandNames(ra), darter_names = CommandNames(da);
  std::vector<std::string> shared;
  std::set_intersection(redis_names.begin(), redis_names.end(), darter_names.begin(), darter_names.end(),
                        std::back_inserter(shared));
  std::vector<std::string> subs;
  for (const std::string& n : darter_names)
    if (n.find('|') != std::string::npos) subs.push_back(n);
  // Every subcommand Darter declares is one of Redis's.
  for (const std::string& sub : subs) CHECK_MESSAGE(std::binary_search(shared.begin(), shared.end(), sub), sub);
  REQUIRE(subs.size() > 50);

  // ACL CAT <category>: the same members, among the commands both servers have.
  for (const Reply& cat : ra.Cmd({"ACL", "CAT"}).elements) {
    INFO(cat.str);
    CHECK(Known(ra.Cmd({"ACL", "CAT", cat.str}), shared) == Known(da.Cmd({"ACL", "CAT", cat.str}), shared));
  }
  Reply dangerous = da.Cmd({"ACL", "CAT", "dangerous"});
  CHECK(std::any_of(dangerous.elements.begin(), dangerous.elements.end(),
                    [](const Reply& e) { return e.str == "client|kill"; }));

  const std::vector<Cmd> users = {
      {"+@all", "-@dangerous"}, {"-@all", "+@connection"}, {"-@all", "+@admin"},  {"+@all", "-@admin"},
      {"-@all", "+@stream"},    {"-@all", "+@pubsub"},     {"-@all", "+@scripting"}, {"-@all", "+@read"},
      {"-@all", "+@write"},     {"-@all", "+@keyspace"},   {"-@all", "+@slow"},   {"+@all", "-client", "+client|id"}};
  // (Not "+client -@admin": Redis describes it with the CLIENT subcommands Darter lacks.)
  for (size_t i = 0; i < users.size(); ++i) {
    Cmd setuser = {"ACL", "SETUSER", "s" + std::to_string(i), "on", ">pw", "~*", "&*"};
    setuser.insert(setuser.end(), users[i].begin(), users[i].end());
    p.Both(ra, da, setuser);
    p.Both(ra, da, {"ACL", "GETUSER", "s" + std::to_string(i)});
  }
  // DRYRUN of every subcommand Darter has, with as many arguments as its arity asks.
  for (const std::string& sub : subs) {
    const size_t bar = sub.find('|');
    Cmd call = {sub.substr(0, bar), sub.substr(bar + 1)};
    Reply info = da.Cmd({"COMMAND", "INFO", call[0]});
    REQUIRE(info.elements.size() == 1);
    long long arity = 0;
    for (const Reply& row : info.elements[0].elements[9].elements)
      if (row.elements[0].str == sub) arity = row.elements[1].integer;
    REQUIRE_MESSAGE(arity != 0, sub);
    while (call.size() < static_cast<size_t>(arity < 0 ? -arity : arity)) call.push_back("k");
    for (size_t i = 0; i < users.size(); ++i) {
      Cmd dryrun = {"ACL", "DRYRUN", "s" + std::to_string(i)};
      dryrun.insert(dryrun.end(), call.begin(), call.end());
      p.Both(ra, da, dryrun);
    }
  }

  // The calls themselves, as a user without @dangerous and as one with only @connection.
  Client r(p.redis.port()), d(p.darter.port());
  p.Both(r, d, {"AUTH", "s0", "pw"});
  CHECK(r.Cmd({"CLIENT", "ID"}).type == Reply::Type::kInteger);
  CHECK(d.Cmd({"CLIENT", "ID"}).type == Reply::Type::kInteger);
  for (const Cmd& cmd : std::vector<Cmd>{{"CLIENT", "SETNAME", "n0"}, {"CLIENT", "GETNAME"},
                                         {"CLIENT", "KILL", "ID", "999999"}, {"CLIENT", "LIST"},
                                         {"CONFIG", "SET", "maxmemory", "0"}, {"CONFIG", "GET", "maxmemory"},
                                         {"ACL", "WHOAMI"}, {"ACL", "USERS"}, {"OBJECT", "ENCODING", "nosuch"},
                                         {"PUBSUB", "NUMPAT"}, {"XINFO", "STREAM", "nosuch"}}) {
    p.Both(r, d, cmd);
  }
  Client rc(p.redis.port()), dc(p.darter.port());
  p.Both(rc, dc, {"AUTH", "s1", "pw"});
  for (const Cmd& cmd : std::vector<Cmd>{{"CLIENT", "SETNAME", "n1"}, {"CLIENT", "GETNAME"},
                                         {"CLIENT", "KILL", "ID", "999999"}, {"CONFIG", "GET", "maxmemory"},
                                         {"GET", "k"}, {"ECHO", "x"}, {"ACL", "WHOAMI"}}) {
    p.Both(rc, dc, cmd);
  }
  p.Both(ra, da, {"ACL", "LOG", "4"});
  p.Healthy();
}

// A COMMAND INFO row without what Darter does not report (tips, key specs, the
// movablekeys and allow_busy flags), its subcommands (of which only `known` are kept)
// sorted by name, since Redis lists them in its hash table's order.
std::string CommandRowText(const Reply& row, const std::vector<std::string>& known) {
  Reply r = row;
  REQUIRE(r.elements.size() == 10);
  std::vector<Reply> flags;
  for (const Reply& f : r.elements[2].elements)
    if (f.str != "movablekeys" && f.str != "allow_busy") flags.push_back(f);
  r.elements[2].elements = flags;
  r.elements[7] = Reply{};
  r.elements[8] = Reply{};
  std::vector<std::string> subs;
  for (const Reply& sub : row.elements[9].elements)
    if (std::binary_search(known.begin(), known.end(), sub.elements[0].str)) subs.push_back(CommandRowText(sub, known));
  std::sort(subs.begin(), subs.end());
  r.elements[9] = Reply{};
  std::string out = Format(r);
  for (const std::string& sub : subs) out += "\n  " + sub;
  return out;
}

TEST_CASE("COMMAND INFO lists a container's subcommands as Redis 7.0; COMMAND LIST names them") {
  Pair p;
  Client r(p.redis.port()), d(p.darter.port());
  const std::vector<std::string> darter_names = CommandNames(d);
  for (const char* container :
       {"client", "config", "command", "object", "script", "pubsub", "memory", "xinfo", "xgroup", "acl"}) {
    INFO(container);
    Reply rr = r.Cmd({"COMMAND", "INFO", container}), dr = d.Cmd({"COMMAND", "INFO", container});
    REQUIRE(rr.elements.size() == 1);
    REQUIRE(dr.elements.size() == 1);
    CHECK(dr.elements[0].elements[9].elements.size() > 1);
    CHECK(CommandRowText(rr.elements[0], darter_names) == CommandRowText(dr.elements[0], darter_names));
  }
  // COMMAND COUNT counts the commands only; COMMAND LIST adds "container|sub" names.
  size_t subs = 0;
  for (const std::string& n : darter_names) subs += n.find('|') != std::string::npos;
  CHECK(static_cast<size_t>(d.Cmd({"COMMAND", "COUNT"}).integer) + subs == darter_names.size());
  p.Both(r, d, {"COMMAND", "GETKEYS", "ping"});
  p.Healthy();
}

// Logs in as `user` on both servers.
void Login(Pair& p, Client& r, Client& d, const std::string& user) {
  p.Both(r, d, {"AUTH", user, "pw"});
  p.Both(r, d, {"ACL", "WHOAMI"});
}

TEST_CASE("NOPERM for commands, subcommands, keys, channels, in MULTI and in scripts, with ACL LOG entries") {
  Pair p;
  Client ra(p.redis.port()), da(p.darter.port());
  Client r(p.redis.port()), d(p.darter.port());
  p.Both(ra, da, {"ACL", "SETUSER", "t", "on", ">pw", "+@all", "-set", "%R~r*", "%W~w*", "~k*", "&ch", "-config|set",
                  "-sort", "+sort"});
  Login(p, r, d, "t");
  for (const Cmd& cmd : std::vector<Cmd>{
           {"SET", "k", "1"}, {"GET", "r1"}, {"INCR", "r1"}, {"LPUSH", "w1", "a"}, {"GET", "w1"}, {"GET", "k1"},
           {"COPY", "r1", "w2"}, {"COPY", "w2", "r1"}, {"MGET", "k1", "r1", "zz"}, {"DEL", "k1", "zz"},
           {"SINTERSTORE", "w9", "r1", "r2"}, {"SINTERSTORE", "r9", "r1"}, {"CONFIG", "SET", "maxmemory", "0"},
           {"CONFIG", "GET", "maxmemory"}, {"PUBLISH", "ch2", "x"}, {"PUBLISH", "ch", "x"},
           {"SORT", "k1", "BY", "w*"}, {"SORT", "k1", "BY", "nosort"}, {"SORT", "k1", "GET", "#"},
           {"EVAL", "return redis.call('set','k','v')", "0"}, {"EVAL", "return redis.call('get','zz')", "0"},
           {"EVAL", "return redis.pcall('get','zz')", "0"}, {"EVAL", "return redis.pcall('publish','nope','m')", "0"},
           {"EVAL", "return redis.call('get',KEYS[1])", "1", "zz"}, {"EVAL", "return 1", "1", "k1"},
           {"EVAL", "return 1", "abc"}, {"EVAL", "return 1", "-5"}, {"EVAL", "return 1", "99999", "k"},
           {"EVAL", "return 1", "2", "k1", "zz"}, {"XREAD", "STREAMS", "k1", "zz", "0", "0"},
           {"OBJECT", "ENCODING", "zz"}, {"ECHO", "x"},
           {"MULTI"}, {"SET", "k", "1"}, {"GET", "zz"}, {"INCR", "k"}, {"EXEC"},
           {"MULTI"}, {"INCR", "k2"}, {"GET", "k2"}, {"EXEC"}}) {
    p.Both(r, d, cmd);
  }
  // Channels for SUBSCRIBE (each channel matched as a pattern) and PSUBSCRIBE (literally).
  for (const Cmd& cmd : std::vector<Cmd>{{"SUBSCRIBE", "ch", "other"}, {"PSUBSCRIBE", "c*"}}) {
    Client rs(p.redis.port()), ds(p.darter.port());
    Login(p, rs, ds, "t");
    p.Both(rs, ds, cmd);
  }
  p.Both(ra, da, {"ACL", "LOG"});
  p.Both(ra, da, {"ACL", "LOG", "2"});
  // The rules change between queueing and EXEC: EXEC refuses each command no longer
  // allowed, in its place, and runs the others.
  p.Both(r, d, {"MULTI"});
  p.Both(r, d, {"SET", "k3", "1"});
  p.Both(r, d, {"GET", "k3"});
  p.Both(r, d, {"PUBLISH", "ch", "m"});
  p.Both(r, d, {"GET", "k4"});
  p.Both(ra, da, {"ACL", "SETUSER", "t", "-set", "resetkeys", "~k3", "resetchannels"});
  p.Both(r, d, {"EXEC"});
  // EXEC itself refused: the transaction aborts.
  p.Both(ra, da, {"ACL", "SETUSER", "t", "-exec"});
  p.Both(r, d, {"MULTI"});
  p.Both(r, d, {"PING"});
  p.Both(r, d, {"EXEC"});
  p.Both(ra, da, {"ACL", "LOG", "3"});
  p.Both(ra, da, {"ACL", "LOG", "RESET"});
  p.Both(ra, da, {"ACL", "LOG"});
  // A change applies at once to a client already logged in as the user.
  p.Both(ra, da, {"ACL", "SETUSER", "t", "+@all", "allkeys"});
  p.Both(r, d, {"SET", "k5", "v"});
  p.Both(ra, da, {"ACL", "SETUSER", "t", "-@string"});
  p.Both(r, d, {"GET", "k5"});
  p.Both(ra, da, {"CLIENT", "KILL", "USER", "nosuch"});
  p.Healthy();
}

TEST_CASE("AUTH, HELLO AUTH and RESET: WRONGPASS changes nothing; the client runs as its user") {
  Pair p;
  Client ra(p.redis.port()), da(p.darter.port());
  Client r(p.redis.port()), d(p.darter.port());
  p.Both(ra, da, {"ACL", "SETUSER", "alice", "on", ">pw", "-@all", "+get", "+acl|whoami", "~a*"});
  p.Both(ra, da, {"ACL", "SETUSER", "bob", "off", ">pw", "+@all"});
  for (const Cmd& cmd : std::vector<Cmd>{
           {"AUTH", "pw"}, {"AUTH", "alice", "nope"}, {"ACL", "WHOAMI"}, {"AUTH", "nosuch", "pw"},
           {"AUTH", "bob", "pw"}, {"ACL", "WHOAMI"}, {"AUTH", "a", "b", "c"}, {"HELLO", "2", "AUTH", "alice", "bad"},
           {"ACL", "WHOAMI"}, {"AUTH", "alice", "pw"}, {"ACL", "WHOAMI"}, {"GET", "a1"}, {"GET", "b1"},
           {"SET", "a1", "v"}, {"RESET"}, {"ACL", "WHOAMI"}, {"SET", "a1", "v"}}) {
    p.Both(r, d, cmd);
  }
  // HELLO AUTH logs in too (the HELLO reply itself differs: server name and version).
  CHECK(d.Cmd({"HELLO", "2", "AUTH", "alice", "pw"}).type == Reply::Type::kArray);
  CHECK(r.Cmd({"HELLO", "2", "AUTH", "alice", "pw"}).type == Reply::Type::kArray);
  p.Both(r, d, {"ACL", "WHOAMI"});
  p.Both(ra, da, {"ACL", "LOG"});
  // CLIENT LIST / INFO name the user.
  CHECK(da.Cmd({"CLIENT", "LIST"}).str.find(" user=alice ") != std::string::npos);
  // requirepass: the default user's password; CONFIG GET reads back what was set.
  p.Both(ra, da, {"CONFIG", "SET", "requirepass", "s3cret"});
  p.Both(ra, da, {"CONFIG", "GET", "requirepass"});
  p.Both(ra, da, {"ACL", "GETUSER", "default"});
  {
    Client r2(p.redis.port()), d2(p.darter.port());
    for (const Cmd& cmd : std::vector<Cmd>{{"GET", "x"}, {"AUTH", "wrong"}, {"GET", "x"}, {"AUTH", "s3cret"},
                                           {"GET", "x"}, {"ACL", "WHOAMI"}}) {
      p.Both(r2, d2, cmd);
    }
  }
  p.Both(ra, da, {"ACL", "SETUSER", "default", ">other"});
  p.Both(ra, da, {"CONFIG", "GET", "requirepass"});
  p.Both(ra, da, {"CONFIG", "SET", "requirepass", ""});
  p.Both(ra, da, {"ACL", "GETUSER", "default"});
  {
    Client r2(p.redis.port()), d2(p.darter.port());
    p.Both(r2, d2, {"PING"});
  }
  p.Healthy();
}

TEST_CASE("ACL DELUSER and CLIENT KILL USER disconnect the user's clients") {
  Pair p;
  Client ra(p.redis.port()), da(p.darter.port());
  p.Both(ra, da, {"ACL", "SETUSER", "gone", "on", ">pw", "+@all", "~*"});
  p.Both(ra, da, {"ACL", "SETUSER", "kept", "on", ">pw", "+@all", "~*"});
  Client r1(p.redis.port()), d1(p.darter.port()), r2(p.redis.port()), d2(p.darter.port());
  Login(p, r1, d1, "gone");
  Login(p, r2, d2, "kept");
  p.Both(ra, da, {"ACL", "DELUSER", "gone"});
  CHECK(r1.Cmd({"PING"}).IsIoError());
  CHECK(d1.Cmd({"PING"}).IsIoError());
  p.Both(r2, d2, {"PING"});
  // A user deleted and created again is another user: the old clients are gone.
  p.Both(ra, da, {"ACL", "SETUSER", "gone", "on", ">pw", "+@all"});
  // A client deleting its own user gets the reply, then is closed.
  Client r3(p.redis.port()), d3(p.darter.port());
  Login(p, r3, d3, "gone");
  p.Both(r3, d3, {"ACL", "DELUSER", "gone"});
  CHECK(r3.Cmd({"PING"}).IsIoError());
  CHECK(d3.Cmd({"PING"}).IsIoError());
  p.Both(ra, da, {"CLIENT", "KILL", "USER", "kept"});
  CHECK(d2.Cmd({"PING"}).IsIoError());
  // SETUSER that takes channels away disconnects the user's subscribers whose channels
  // are no longer allowed, and only them.
  p.Both(ra, da, {"ACL", "SETUSER", "sub", "on", ">pw", "+@all", "~*", "resetchannels", "&news.*", "&alerts"});
  Client rs1(p.redis.port()), ds1(p.darter.port()), rs2(p.redis.port()), ds2(p.darter.port());
  Login(p, rs1, ds1, "sub");
  Login(p, rs2, ds2, "sub");
  p.Both(rs1, ds1, {"SUBSCRIBE", "news.today"});
  p.Both(rs2, ds2, {"SUBSCRIBE", "alerts"});
  p.Both(ra, da, {"ACL", "SETUSER", "sub", "&more"});  // adds: nobody loses anything
  p.Both(ra, da, {"ACL", "SETUSER", "sub", "resetchannels", "&news.*"});
  p.Both(rs1, ds1, {"PING"});
  CHECK(rs2.Cmd({"PING"}).IsIoError());
  CHECK(ds2.Cmd({"PING"}).IsIoError());
  p.Healthy();
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
}

// The reply with each server's own file path replaced by <file>.
std::string WithoutPath(std::string s, const std::string& path) {
  for (size_t at; (at = s.find(path)) != std::string::npos;) s.replace(at, path.size(), "<file>");
  return s;
}

TEST_CASE("ACL SAVE and ACL LOAD round-trip through the aclfile; a bad file changes nothing") {
  const fs::path dir = fs::temp_directory_path() / ("darter_acl_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const fs::path rfile = dir / "redis.acl", dfile = dir / "darter.acl";
  const std::string initial = "user default on nopass ~* &* +@all\nuser alice on >pw ~a* -@all +get\n";
  WriteFile(rfile, initial);
  WriteFile(dfile, initial);
  {
    Pair p({"--aclfile", rfile.string()}, {"--aclfile", dfile.string()});
    Client ra(p.redis.port()), da(p.darter.port());
    p.Both(ra, da, {"ACL", "LIST"});
    p.Both(ra, da, {"CONFIG", "SET", "aclfile", "x"});
    p.Both(ra, da, {"ACL", "SETUSER", "bob", "on", ">pw2", "+@read", "~b*", "&news"});
    p.Both(ra, da, {"ACL", "SAVE"});
    CHECK(ReadFile(rfile) == ReadFile(dfile));
    // A client of a user the load replaces is disconnected.
    Client r1(p.redis.port()), d1(p.darter.port());
    p.Both(r1, d1, {"AUTH", "alice", "pw"});
    const std::string edited = "user default on nopass ~* &* +@all\nuser carol on >pw ~c* +@hash\n";
    WriteFile(rfile, edited);
    WriteFile(dfile, edited);
    p.Both(ra, da, {"ACL", "LOAD"});
    p.Both(ra, da, {"ACL", "LIST"});
    CHECK(r1.Cmd({"PING"}).IsIoError());
    CHECK(d1.Cmd({"PING"}).IsIoError());
    const std::string bad = "user default on nopass ~* &* +@all\nuser dave on +nosuch\nnotuser x\n\nuser dave on\n";
    WriteFile(rfile, bad);
    WriteFile(dfile, bad);
    std::string re = WithoutPath(Format(ra.Cmd({"ACL", "LOAD"})), rfile.string());
    std::string de = WithoutPath(Format(da.Cmd({"ACL", "LOAD"})), dfile.string());
    CHECK(re == de);
    p.Both(ra, da, {"ACL", "LIST"});
    fs::remove(rfile);
    fs::remove(dfile);
    re = WithoutPath(Format(ra.Cmd({"ACL", "LOAD"})), rfile.string());
    de = WithoutPath(Format(da.Cmd({"ACL", "LOAD"})), dfile.string());
    CHECK(re == de);
    p.Healthy();
  }
  // An aclfile with an error stops the start, naming file:line and the reason.
  WriteFile(dfile, "user default on nopass ~* &* +@all\nuser eve on +nosuch\n");
  StartedServer bad = StartDarter(0, {"--aclfile", dfile.string()});
  CHECK_FALSE(bad.status.ok);
  CHECK(bad.status.message.find("Aborting Redis startup because of ACL errors: " + dfile.string() +
                                ":2: Error in applying operation '+nosuch': Unknown command or category name in "
                                "ACL.") != std::string::npos);
  // Users from --user, and a bad one stops the start.
  {
    StartedServer s = StartDarter(0, {"--user", "frank on >pw ~f* +get", "--user", "default on nopass +@all ~* &*"});
    REQUIRE_MESSAGE(s.status.ok, s.status.message);
    Client c(s.port());
    CHECK(Format(c.Cmd({"ACL", "LIST"})) ==
          "[\"user default on nopass sanitize-payload ~* &* +@all\", \"user frank on "
          "#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~f* resetchannels -@all +get\"]");
  }
  StartedServer s2 = StartDarter(0, {"--user", "frank on +nosuch"});
  CHECK_FALSE(s2.status.ok);
  CHECK(s2.status.message.find(
            "Error loading ACL rule '+nosuch' for the user named 'frank': Unknown command or category name in ACL") !=
        std::string::npos);
  StartedServer s3 = StartDarter(0, {"--user", "frank on bogus"});
  CHECK_FALSE(s3.status.ok);
  CHECK(s3.status.message.find("Error in user declaration 'bogus': Syntax error") != std::string::npos);
  StartedServer s4 = StartDarter(0, {"--user", "frank on", "--aclfile", dfile.string()});
  CHECK_FALSE(s4.status.ok);
  CHECK(s4.status.message.find("please define either an ACL file or declare users directly") != std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace darter::test

namespace darter::test {

TEST_CASE("replication as an ACL user: the user Redis documents (+psync +replconf +ping) serves Darter and Redis replicas") {
  StartedServer primary =
      StartDarter(0, {"--threads", "2", "--requirepass", "adminpw", "--user", "repl on >rpw +psync +replconf +ping",
                      "--user", "norepl on >npw +ping +replconf"});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  const std::string port = std::to_string(primary.port());
  // A Darter replica (multi-flow: its DARTER handshake counts as PSYNC) and a stock one.
  StartedServer darter = StartDarter(0, {"--threads", "2", "--replicaof", "127.0.0.1:" + port, "--masteruser", "repl",
                                         "--masterauth", "rpw"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis(0, {"--replicaof", "127.0.0.1", port, "--masteruser", "repl", "--masterauth", "rpw"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  // A replica whose user may not run PSYNC is refused, with the reason in its INFO.
  StartedServer refused = StartDarter(0, {"--threads", "1", "--replicaof", "127.0.0.1:" + port, "--masteruser",
                                          "norepl", "--masterauth", "npw"});
  REQUIRE_MESSAGE(refused.status.ok, refused.status.message);

  Client p(primary.port());
  REQUIRE(Format(p.Cmd({"AUTH", "adminpw"})) == "+OK");
  REQUIRE(Format(p.Cmd({"SET", "k", "v"})) == "+OK");
  Client d(darter.port()), r(redis.port()), x(refused.port());
  auto info = [](Client& c, const std::string& field) {
    std::string text = c.Cmd({"INFO", "replication"}).str;
    size_t at = text.find(field + ":");
    if (at == std::string::npos) return std::string();
    size_t end = text.find_first_of("\r\n", at);
    return text.substr(at + field.size() + 1, end - at - field.size() - 1);
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline &&
         (Format(d.Cmd({"GET", "k"})) != "\"v\"" || Format(r.Cmd({"GET", "k"})) != "\"v\"" ||
          info(x, "master_last_error").find("NOPERM") == std::string::npos))
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(Format(d.Cmd({"GET", "k"})) == "\"v\"");
  CHECK(info(d, "master_link_status") == "up");
  CHECK(Format(r.Cmd({"GET", "k"})) == "\"v\"");
  CHECK(info(x, "master_link_status") == "down");
  CHECK_MESSAGE(info(x, "master_last_error").find("NOPERM") != std::string::npos, info(x, "master_last_error"));
  CHECK(Format(x.Cmd({"GET", "k"})) == "(nil)");
}

}  // namespace darter::test
