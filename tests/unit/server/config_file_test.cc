// Redis's configuration syntax: quoting, comments, include, the command line.
#include "server/core/config_file.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

using darter::server::ConfigDirective;
using darter::server::IsRedisDirective;
using darter::server::ParseCommandLineDirectives;
using darter::server::ParseConfigText;
using darter::server::ReadConfigFile;
using darter::server::SplitConfigLine;
using Words = std::vector<std::string>;

TEST_CASE("SplitConfigLine follows sdssplitargs") {
  CHECK(*SplitConfigLine("save 3600 1  300 100") == Words{"save", "3600", "1", "300", "100"});
  CHECK(*SplitConfigLine("save \"\"") == Words{"save", ""});
  CHECK(*SplitConfigLine("save ''") == Words{"save", ""});
  CHECK(*SplitConfigLine("requirepass \"a b\\\"c\\n\\x41\"") == Words{"requirepass", "a b\"c\nA"});
  CHECK(*SplitConfigLine("requirepass 'it\\'s \\n'") == Words{"requirepass", "it's \\n"});
  CHECK(*SplitConfigLine("a foo\"bar baz\"") == Words{"a", "foobar baz"});
  CHECK(SplitConfigLine("   ")->empty());
  CHECK_FALSE(SplitConfigLine("requirepass \"open"));
  CHECK_FALSE(SplitConfigLine("requirepass 'open"));
  CHECK_FALSE(SplitConfigLine("requirepass \"closed\"junk"));
}

TEST_CASE("ParseConfigText skips comments, lower-cases names and names file and line") {
  std::vector<ConfigDirective> out;
  std::string err;
  REQUIRE(ParseConfigText("# a comment\n\n  Port 7000\r\nsave 900 1\n   # indented comment\nbind 127.0.0.1 ::1",
                          "r.conf", &out, &err));
  REQUIRE(out.size() == 3);
  CHECK(out[0].name == "port");
  CHECK(out[0].args == Words{"7000"});
  CHECK(out[0].origin == "r.conf:3");
  CHECK(out[1].args == Words{"900", "1"});
  CHECK(out[2].origin == "r.conf:6");
  CHECK(out[2].args == Words{"127.0.0.1", "::1"});

  out.clear();
  CHECK_FALSE(ParseConfigText("port 1\nrequirepass \"x\n", "bad.conf", &out, &err));
  CHECK(err.find("bad.conf:2") != std::string::npos);
  CHECK(err.find("unbalanced quotes") != std::string::npos);
}

TEST_CASE("include follows files and globs, and refuses a loop or a missing file") {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("darter-config-file-" + std::to_string(getpid()));
  fs::create_directories(dir / "conf.d");
  auto write = [](const fs::path& p, const std::string& text) { std::ofstream(p) << text; };
  write(dir / "main.conf", "port 1\ninclude " + (dir / "conf.d" / "*.conf").string() + "\nport 3\n");
  write(dir / "conf.d" / "b.conf", "maxmemory 2mb\n");
  write(dir / "conf.d" / "a.conf", "maxmemory 1mb\n");
  write(dir / "loop.conf", "include " + (dir / "loop.conf").string() + "\n");
  std::vector<ConfigDirective> out;
  std::string err;
  REQUIRE(ReadConfigFile((dir / "main.conf").string(), &out, &err));
  REQUIRE(out.size() == 4);
  CHECK(out[1].args == Words{"1mb"});
  CHECK(out[2].args == Words{"2mb"});
  CHECK(out[2].origin == (dir / "conf.d" / "b.conf").string() + ":1");
  CHECK(out[3].args == Words{"3"});

  out.clear();
  CHECK_FALSE(ReadConfigFile((dir / "loop.conf").string(), &out, &err));
  CHECK(err.find("nested too deep") != std::string::npos);
  CHECK_FALSE(ParseConfigText("include /nonexistent/darter-*.conf", "x.conf", &out, &err));
  CHECK(err.find("x.conf:1") != std::string::npos);
  CHECK_FALSE(ReadConfigFile((dir / "absent.conf").string(), &out, &err));
  fs::remove_all(dir);
}

TEST_CASE("command-line options become directives after the file's") {
  std::vector<ConfigDirective> out;
  std::string err;
  REQUIRE(ParseCommandLineDirectives({"--port", "7000", "--save", "", "--Replicaof", "h", "6379"}, &out, &err));
  REQUIRE(out.size() == 3);
  CHECK(out[0].name == "port");
  CHECK(out[1].args == Words{""});
  CHECK(out[2].name == "replicaof");
  CHECK(out[2].args == Words{"h", "6379"});
  CHECK_FALSE(ParseCommandLineDirectives({"7000"}, &out, &err));
}

TEST_CASE("IsRedisDirective knows Redis 7.0's names and no others") {
  CHECK(IsRedisDirective("maxmemory"));
  CHECK(IsRedisDirective("slaveof"));
  CHECK(IsRedisDirective("rename-command"));
  CHECK(IsRedisDirective("zset-max-ziplist-entries"));
  CHECK_FALSE(IsRedisDirective("maxmemroy"));
  CHECK_FALSE(IsRedisDirective("Maxmemory"));
}
