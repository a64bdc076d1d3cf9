// darter-migrate and Redis 7.0 function libraries: the target is a replica of the
// source, so the libraries come with the full sync (FUNCTION2 records) and later
// FUNCTION commands with the stream. The tool's --verify compares keys only; the
// libraries are checked here with FUNCTION LIST.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "migrate_test_support.h"
#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace darter::test::migrate;
using namespace std::chrono_literals;

namespace {

const std::string kLib =
    "#!lua name=mig\n"
    "redis.register_function{function_name='mig_get', callback=function(keys) return redis.call('get', keys[1]) "
    "end, flags={'no-writes'}, description='reads one key'}\n"
    "redis.register_function('mig_set', function(keys, args) return redis.call('set', keys[1], args[1]) end)\n";

// FUNCTION LIST with its libraries and functions sorted (Redis shows hash-table order).
std::string SortedList(Client& c) {
  Reply r = c.Cmd({"FUNCTION", "LIST", "WITHCODE"});
  for (Reply& lib : r.elements)
    for (size_t i = 0; i + 1 < lib.elements.size(); i += 2)
      if (lib.elements[i].str == "functions")
        std::sort(lib.elements[i + 1].elements.begin(), lib.elements[i + 1].elements.end(),
                  [](const Reply& a, const Reply& b) { return Format(a) < Format(b); });
  std::sort(r.elements.begin(), r.elements.end(), [](const Reply& a, const Reply& b) { return Format(a) < Format(b); });
  return Format(r);
}

}  // namespace

TEST_CASE("darter-migrate --target carries the source's function libraries") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"FUNCTION", "LOAD", kLib})) == "\"mig\"");
  REQUIRE(Format(src.Cmd({"SET", "k", "v"})) == "+OK");
  RunResult r = RunMigrate({"--source", "redis://127.0.0.1:" + std::to_string(redis.port()), "--target",
                            "127.0.0.1:" + std::to_string(darter.port()), "--verify", "--no-save"},
                           60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(SortedList(dst) == SortedList(src));
  CHECK(Format(dst.Cmd({"FCALL_RO", "mig_get", "1", "k"})) == "\"v\"");
}

TEST_CASE("darter-migrate --rdb FILE carries the file's function libraries") {
  StartedServer redis = StartRedis(0);
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client src(redis.port());
  REQUIRE(Format(src.Cmd({"FUNCTION", "LOAD", kLib})) == "\"mig\"");
  REQUIRE(Format(src.Cmd({"SET", "k", "v"})) == "+OK");
  REQUIRE(Format(src.Cmd({"SAVE"})) == "+OK");
  std::filesystem::path rdb = redis.process->dir() / "dump.rdb";
  REQUIRE(std::filesystem::exists(rdb));
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client dst(darter.port());
  RunResult r = RunMigrate({"--rdb", rdb.string(), "--target", "127.0.0.1:" + std::to_string(darter.port()),
                            "--no-save", "--detach"},
                           60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(SortedList(dst) == SortedList(src));
  CHECK(Format(dst.Cmd({"FCALL", "mig_set", "1", "k", "w"})) == "+OK");
}
