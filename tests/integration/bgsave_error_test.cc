// stop-writes-on-bgsave-error: once a save fails (its directory is gone), a server with a
// save schedule refuses writes, PING, MULTI's queued writes and scripts that may write
// with Redis's -MISCONF, reads go on, and the first good save lifts it. Each reply is
// compared with redis-server's in the same state.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "replication_support.h"
#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

using Command = std::vector<std::string>;

std::string BgsaveStatus(Client& c) {
  std::string info = c.Cmd({"INFO", "persistence"}).str;
  size_t at = info.find("rdb_last_bgsave_status:");
  return at == std::string::npos ? "" : info.substr(at + 23, info.find('\r', at) - at - 23);
}

std::vector<std::string> Replies(Client& c, const std::vector<Command>& commands) {
  std::vector<std::string> out;
  for (const Command& cmd : commands) out.push_back(Format(c.Cmd(cmd)));
  return out;
}

}  // namespace

TEST_CASE("a failed save stops writes with MISCONF until a save succeeds, as in Redis") {
  namespace fs = std::filesystem;
  const fs::path base = fs::temp_directory_path() / ("darter-bgsave-error-" + std::to_string(getpid()));
  const fs::path redis_dir = base / "redis", darter_dir = base / "darter";
  fs::create_directories(redis_dir);
  fs::create_directories(darter_dir);
  // The way back is CONFIG SET dir (the process's working directory went with the old
  // one), a protected parameter.
  StartedServer redis =
      StartRedis(0, {"--save", "3600 1", "--dir", redis_dir.string(), "--enable-protected-configs", "yes"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter =
      StartDarter(0, {"--save", "3600 1", "--dir", darter_dir.string(), "--enable-protected-configs", "yes"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client r(redis.port()), d(darter.port());
  for (Client* c : {&r, &d}) REQUIRE(Format(c->Cmd({"SET", "a", "1"})) == "+OK");

  fs::remove_all(base);
  for (Client* c : {&r, &d}) REQUIRE(Format(c->Cmd({"BGSAVE"})) == "+Background saving started");
  REQUIRE(WaitFor([&] { return BgsaveStatus(r) == "err"; }, 10s));
  REQUIRE(WaitFor([&] { return BgsaveStatus(d) == "err"; }, 10s));

  const std::vector<Command> stopped = {
      {"SET", "a", "2"},
      {"GET", "a"},
      {"PING"},
      {"DEL", "a"},
      {"MULTI"},
      {"SET", "a", "3"},
      {"EXEC"},
      {"MULTI"},
      {"GET", "a"},
      {"EXEC"},
      {"EVAL", "return redis.pcall('set','a','4')", "0"},
      {"EVAL", "return redis.call('get','a')", "0"},
      {"EVAL", "#!lua\nreturn 1", "0"},
      {"EVAL", "#!lua flags=no-writes\nreturn redis.call('get','a')", "0"},
      {"CONFIG", "SET", "stop-writes-on-bgsave-error", "no"},
      {"SET", "a", "5"},
      {"PING"},
      {"CONFIG", "SET", "stop-writes-on-bgsave-error", "yes"},
      {"INCR", "n"},
      {"CONFIG", "GET", "stop-writes-on-bgsave-error"},
      {"CONFIG", "SET", "stop-writes-on-bgsave-error", "maybe"},
  };
  std::vector<std::string> want = Replies(r, stopped), got = Replies(d, stopped);
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("command " << i << ": " << stopped[i][0]);
    CHECK(got[i] == want[i]);
  }
  CHECK(got[0].rfind("-MISCONF ", 0) == 0);

  // The directory is back: the next save succeeds and writes resume.
  fs::create_directories(redis_dir);
  fs::create_directories(darter_dir);
  REQUIRE(Format(r.Cmd({"CONFIG", "SET", "dir", redis_dir.string()})) == "+OK");
  REQUIRE(Format(d.Cmd({"CONFIG", "SET", "dir", darter_dir.string()})) == "+OK");
  for (Client* c : {&r, &d}) {
    REQUIRE(Format(c->Cmd({"BGSAVE"})) == "+Background saving started");
    REQUIRE(WaitFor([&] { return BgsaveStatus(*c) == "ok"; }, 10s));
    CHECK(Format(c->Cmd({"SET", "a", "6"})) == "+OK");
  }
  darter.process->Stop();
  redis.process->Stop();
  fs::remove_all(base);
}
