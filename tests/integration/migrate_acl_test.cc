// darter-migrate --copy-acl: Redis keeps users outside the dataset (neither the RDB nor
// the stream carries them). The tool replays the source's ACL LIST on the target; a rule
// the target refuses never widens a user; the users are saved next to the snapshot and a
// darter-server started with that aclfile lets the same clients in, and only them.
#include <doctest/doctest.h>

#include <filesystem>

#include "migrate/copy_acl.h"
#include "migrate_test_support.h"
#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace darter::test::migrate;
using namespace std::chrono_literals;

namespace {

// The JSON report's entry for `name` in acl.users (a null value when absent).
Json UserEntry(const Json& report, const std::string& name) {
  for (const Json& u : report["acl"]["users"].items)
    if (u["name"].s == name) return u;
  return Json{};
}

}  // namespace

TEST_CASE("--copy-acl replays the source's users; refused rules narrow or disable; the aclfile works") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0", "--requirepass", "srcpw"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client src(redis.port());
  REQUIRE(Format(src.Cmd({"AUTH", "srcpw"})) == "+OK");
  REQUIRE(Format(src.Cmd({"SET", "app:1", "v"})) == "+OK");
  // alice: everything Darter has. bob: disabled on the source too. carol: a grant of a
  // command Darter lacks (MODULE) -> enabled with less. dave: a denial of a command
  // Darter lacks -> nothing to deny there, enabled.
  for (const std::vector<std::string>& cmd :
       std::vector<std::vector<std::string>>{
           {"ACL", "SETUSER", "alice", "on", ">alicepw", "~app:*", "&news", "+@read", "+@write", "-flushall"},
           {"ACL", "SETUSER", "bob", "off", "nopass", "~*", "+get"},
           {"ACL", "SETUSER", "carol", "on", ">carolpw", "~*", "+get", "+module"},
           {"ACL", "SETUSER", "dave", "on", ">davepw", "~*", "+@all", "-module"}}) {
    std::string reply = Format(src.Cmd(cmd));
    REQUIRE_MESSAGE(reply == "+OK", reply);
  }

  auto dir = redis.process->dir() / "migrated";
  RunResult r = RunMigrate({"--source", "redis://:srcpw@127.0.0.1:" + std::to_string(redis.port()), "--port", "0",
                            "--dir", dir.string(), "--copy-acl", "--json"},
                           60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["acl"]["ran"].b);
  CHECK(j["acl"]["applied_last"].s == "default");
  CHECK(UserEntry(j, "alice")["copied"].b);
  CHECK(UserEntry(j, "bob")["copied"].b);
  CHECK(UserEntry(j, "default")["copied"].b);
  Json carol = UserEntry(j, "carol");
  CHECK_FALSE(carol["copied"].b);
  CHECK_FALSE(carol["disabled"].b);
  REQUIRE(carol["refusals"].items.size() == 1);
  CHECK(carol["refusals"].items[0]["rule"].s == "+module");
  Json dave = UserEntry(j, "dave");
  CHECK_FALSE(dave["disabled"].b);
  const std::string aclfile = (dir / "users.acl").string();
  CHECK(j["acl"]["saved_to"].s == aclfile);
  REQUIRE(std::filesystem::exists(aclfile));

  // A fresh darter-server on that aclfile: the same logins, the same refusals.
  StartedServer d = StartDarter(0, {"--aclfile", aclfile});
  REQUIRE_MESSAGE(d.status.ok, d.status.message);
  Client c(d.port());
  CHECK(Format(c.Cmd({"PING"})).rfind("-NOAUTH", 0) == 0);  // default got the source's password
  CHECK(Format(c.Cmd({"AUTH", "default", "srcpw"})) == "+OK");
  Client a(d.port());
  CHECK(Format(a.Cmd({"AUTH", "alice", "alicepw"})) == "+OK");
  CHECK(Format(a.Cmd({"SET", "app:2", "x"})) == "+OK");
  CHECK(Format(a.Cmd({"SET", "other", "x"})).rfind("-NOPERM", 0) == 0);
  CHECK(Format(a.Cmd({"FLUSHALL"})).rfind("-NOPERM", 0) == 0);
  CHECK(Format(a.Cmd({"AUTH", "alice", "wrong"})).rfind("-WRONGPASS", 0) == 0);
  Client b(d.port());
  CHECK(Format(b.Cmd({"AUTH", "bob", "anything"})).rfind("-WRONGPASS", 0) == 0);  // off, as on the source
  Client k(d.port());
  CHECK(Format(k.Cmd({"AUTH", "carol", "carolpw"})) == "+OK");
  CHECK(Format(k.Cmd({"GET", "app:1"})).rfind("-NOPERM", 0) != 0);
}

TEST_CASE("ACL LIST lines and which refused rules may be left out") {
  darter::migrate::AclUserRules u;
  REQUIRE(darter::migrate::ParseAclListLine("user alice on #ab12 ~a* %R~b* resetchannels -@all +get (~x* +set)", &u));
  CHECK(u.name == "alice");
  CHECK(u.rules == std::vector<std::string>{"on", "#ab12", "~a*", "%R~b*", "resetchannels", "-@all", "+get",
                                            "(~x* +set)"});
  CHECK_FALSE(darter::migrate::ParseAclListLine("alice on", &u));
  using darter::migrate::OmittingOnlyNarrows;
  const std::string unknown = "ERR Error in ACL SETUSER modifier 'x': Unknown command or category name in ACL";
  CHECK(OmittingOnlyNarrows("+function", unknown));
  CHECK(OmittingOnlyNarrows("~app:*", "ERR Syntax error"));
  CHECK(OmittingOnlyNarrows("(~x* +set)", "ERR Syntax error"));
  CHECK(OmittingOnlyNarrows("-function", unknown));  // nothing there to deny
  CHECK_FALSE(OmittingOnlyNarrows("-@newcategory", unknown));  // would widen
  CHECK_FALSE(OmittingOnlyNarrows("-flushall", "ERR some other reason"));
  CHECK_FALSE(OmittingOnlyNarrows("resetkeys", "ERR Syntax error"));
  CHECK_FALSE(OmittingOnlyNarrows("off", "ERR Syntax error"));
}

TEST_CASE("--copy-acl refuses an RDB source and fails clearly when the source refuses ACL LIST") {
  RunResult r = RunMigrate({"--rdb", "/nonexistent.rdb", "--copy-acl"}, 30s);
  CHECK(r.exit_code == 2);
  CHECK_MESSAGE(r.err.find("--copy-acl needs a live --source") != std::string::npos, r.err);

  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client src(redis.port());
  REQUIRE(Format(src.Cmd({"ACL", "SETUSER", "nolist", "on", ">pw", "~*", "&*", "+@all", "-acl|list"})) == "+OK");
  auto dir = redis.process->dir() / "m";
  r = RunMigrate({"--source", "redis://nolist:pw@127.0.0.1:" + std::to_string(redis.port()), "--port", "0", "--dir",
                  dir.string(), "--copy-acl", "--json"},
                 60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 3);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK_MESSAGE(j["error"].s.find("--copy-acl: the source refused ACL LIST: NOPERM") != std::string::npos, j["error"].s);
}
