// Start-up directives (config_directives.h) and CONFIG REWRITE's text (config_rewrite.h).
#include <doctest/doctest.h>

#include "server/core/config.h"
#include "server/core/config_directives.h"
#include "server/core/config_file.h"
#include "server/core/config_rewrite.h"

namespace darter::server {

namespace {

std::vector<ConfigDirective> Parse(const std::string& text) {
  std::vector<ConfigDirective> out;
  std::string error;
  REQUIRE_MESSAGE(ParseConfigText(text, "test.conf", &out, &error), error);
  return out;
}

std::string ValueOf(const ConfigRegistry& r, const std::string& name) {
  auto v = r.Get(name);
  REQUIRE(v.size() == 1);
  return v[0].second;
}

}  // namespace

TEST_CASE("directives: parameters, start-up-only ones, save lines, users, replicaof") {
  ConfigRegistry r(DefaultStartupOptions());
  ServerOptions given;
  std::vector<std::string> warnings;
  auto err = ApplyConfigDirectives(r,
                                   Parse("port 7001\nbind 127.0.0.1 -::1\ndatabases 4\nsave 900 1\nsave 60 100\n"
                                         "user app on >pw ~app:* +@read\nreplicaof 10.0.0.1 6380\n"
                                         "hz 10\nmaxmemory 100mb\nclient-output-buffer-limit pubsub 64mb 16mb 30\n"),
                                   &given, &warnings);
  REQUIRE_MESSAGE(!err, *err);
  CHECK(ValueOf(r, "port") == "7001");
  CHECK(ValueOf(r, "bind") == "127.0.0.1 -::1");
  CHECK(ValueOf(r, "databases") == "4");
  CHECK(ValueOf(r, "save") == "900 1 60 100");  // the first line replaced the default schedule
  CHECK(ValueOf(r, "maxmemory") == "104857600");
  CHECK(ValueOf(r, "client-output-buffer-limit").find("pubsub 67108864 16777216 30") != std::string::npos);
  REQUIRE(given.users.size() == 1);
  CHECK(given.users[0] == "app on >pw ~app:* +@read");
  CHECK(given.replicaof == "10.0.0.1 6380");
  REQUIRE(warnings.size() == 1);  // hz: Redis has it, Darter does not
  CHECK(warnings[0].find("test.conf:8") != std::string::npos);
  CHECK(warnings[0].find("'hz'") != std::string::npos);
}

TEST_CASE("list-compress-depth: 0 only (Darter never compresses list nodes); another value in a file warns") {
  ConfigRegistry r(DefaultStartupOptions());
  ServerOptions given;
  std::vector<std::string> warnings;
  REQUIRE(!ApplyConfigDirectives(r, Parse("list-compress-depth 0\nlist-compress-depth 2\n"), &given, &warnings));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("test.conf:2") != std::string::npos);
  CHECK(warnings[0].find("does not compress list nodes") != std::string::npos);
  CHECK(ValueOf(r, "list-compress-depth") == "0");
  CHECK(!r.Set("list-compress-depth", "0"));
  auto refused = r.Set("list-compress-depth", "1");
  REQUIRE(refused);
  CHECK(*refused == "Darter does not compress list nodes: list-compress-depth must be 0");
  CHECK(ValueOf(r, "list-compress-depth") == "0");
}

TEST_CASE("directives: no save line keeps Redis's schedule; save \"\" clears it") {
  {
    ConfigRegistry r(DefaultStartupOptions());
    ServerOptions given;
    std::vector<std::string> warnings;
    REQUIRE(!ApplyConfigDirectives(r, Parse("port 7001\n"), &given, &warnings));
    CHECK(ValueOf(r, "save") == kDefaultSaveSchedule);
  }
  ConfigRegistry r(DefaultStartupOptions());
  ServerOptions given;
  std::vector<std::string> warnings;
  REQUIRE(!ApplyConfigDirectives(r, Parse("save \"\"\n"), &given, &warnings));
  CHECK(ValueOf(r, "save") == "");
}

TEST_CASE("directives: errors name the line; refused Redis directives say why") {
  struct Case {
    const char* text;
    const char* expect;
  } cases[] = {
      {"port 7001\nnot-a-directive 1\n", "test.conf:2"},
      {"port 70000\n", "argument must be between 0 and 65535 inclusive"},
      {"port 1 2\n", "wrong number of arguments"},
      {"maxmemory-policy sometimes\n", "must be one of the following"},
      {"rename-command FLUSHALL \"\"\n", "rename-command is not supported"},
      {"loadmodule /x.so\n", "modules are not supported"},
      {"cluster-enabled yes\n", "cluster mode is not supported"},
      {"min-replicas-to-write 1\n", "min-replicas-to-write is not supported"},
      {"appendonly yes\n", "appendonly yes is not supported"},
      {"save 60\n", "Invalid save parameters"},
      {"replicaof onlyhost\n", "wrong number of arguments"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.text);
    ConfigRegistry r(DefaultStartupOptions());
    ServerOptions given;
    std::vector<std::string> warnings;
    auto err = ApplyConfigDirectives(r, Parse(c.text), &given, &warnings);
    REQUIRE(err);
    CHECK_MESSAGE(err->find(c.expect) != std::string::npos, *err);
    CHECK(err->find("FATAL CONFIG FILE ERROR") != std::string::npos);
  }
  // Accepted because they ask for what Darter does.
  ConfigRegistry r(DefaultStartupOptions());
  ServerOptions given;
  std::vector<std::string> warnings;
  CHECK(!ApplyConfigDirectives(r, Parse("appendonly no\ncluster-enabled no\nmin-replicas-to-write 0\n"), &given,
                               &warnings));
}

TEST_CASE("directives: only the directory that wins must exist") {
  {
    ConfigRegistry r(DefaultStartupOptions());
    ServerOptions given;
    std::vector<std::string> warnings;
    auto err = ApplyConfigDirectives(r, Parse("dir /nonexistent/darter\ndir /tmp\n"), &given, &warnings);
    CHECK_MESSAGE(!err, *err);
    CHECK(ValueOf(r, "dir") == "/tmp");
  }
  ConfigRegistry r(DefaultStartupOptions());
  ServerOptions given;
  std::vector<std::string> warnings;
  auto err = ApplyConfigDirectives(r, Parse("dir /tmp\ndir /nonexistent/darter\n"), &given, &warnings);
  REQUIRE(err);
  CHECK(err->find("test.conf:2") != std::string::npos);
  CHECK(err->find("No such file or directory") != std::string::npos);
}

TEST_CASE("CONFIG REWRITE text: in place, comments kept, defaults not added, extra lines dropped") {
  ConfigRewriteInput in;
  in.defaults = {{"port", "6379"}, {"maxmemory", "0"}, {"save", kDefaultSaveSchedule}, {"timeout", "0"},
                 {"hash-max-listpack-entries", "128"}};
  in.values = {{"port", "7001"},
               {"maxmemory", "1048576"},
               {"save", "900 1"},
               {"timeout", "0"},
               {"hash-max-listpack-entries", "64"},
               {"hash-max-ziplist-entries", "64"}};
  const std::string old_text =
      "# my settings\n"
      "port 6379\n"
      "\n"
      "# snapshots\n"
      "save 3600 1\n"
      "save 300 100\n"
      "hash-max-ziplist-entries 128\n"
      "include /etc/other.conf\n"
      "hz 10\n";
  std::string text = RewriteConfigText(old_text, in);
  CHECK(text ==
        "# my settings\n"
        "port 7001\n"
        "\n"
        "# snapshots\n"
        "save 900 1\n"
        "hash-max-listpack-entries 64\n"
        "include /etc/other.conf\n"
        "hz 10\n"
        "\n"
        "# Generated by CONFIG REWRITE\n"
        "maxmemory 1048576\n");
  // Rewriting the result again changes nothing; a later addition goes under the marker.
  CHECK(RewriteConfigText(text, in) == text);
  in.values[3] = {"timeout", "30"};
  CHECK(RewriteConfigText(text, in) == text + "timeout 30\n");
}

TEST_CASE("CONFIG REWRITE text: quoting, empty save, users and replicaof") {
  ConfigRewriteInput in;
  in.defaults = {{"save", kDefaultSaveSchedule}, {"requirepass", ""}};
  in.values = {{"save", ""}, {"requirepass", "a b\"c"}};
  in.users = std::vector<std::string>{"default on nopass ~* &* +@all", "app on #abc ~app:* resetchannels -@all +get"};
  in.replicaof = "10.0.0.1 6380";
  std::string text = RewriteConfigText("user default on nopass ~* &* +@all\n", in);
  CHECK(text ==
        "user default on nopass ~* &* +@all\n"
        "user app on #abc ~app:* resetchannels -@all +get\n"
        "\n"
        "# Generated by CONFIG REWRITE\n"
        "save \"\"\n"
        "requirepass \"a b\\\"c\"\n"
        "replicaof 10.0.0.1 6380\n");
  // What was written reads back as the same values.
  auto directives = Parse(text);
  REQUIRE(directives.size() == 5);
  CHECK(directives[3].args == std::vector<std::string>{"a b\"c"});
  CHECK(directives[2].args == std::vector<std::string>{""});
}

}  // namespace darter::server
