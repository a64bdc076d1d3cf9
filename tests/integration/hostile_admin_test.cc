// The admin surface a careless or hostile client must not reach: DEBUG is refused unless
// enable-debug-command allows it, dir/dbfilename unless enable-protected-configs does;
// both settings are immutable at run time, as in Redis 7.0. Each case ends with the
// hostile-clients health check.
#include <doctest/doctest.h>

#include <filesystem>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

using namespace darter::test;

namespace {

constexpr uint64_t kRssBound = 256ull << 20;

const char kDebugRefused[] =
    "-ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from "
    "a local connection, otherwise you need to set this option in the configuration file, and then restart the "
    "server.";

void CheckHealthy(StartedServer& s) {
  HealthReport h = CheckServerHealthy(*s.process, kRssBound);
  CHECK_MESSAGE(h.ok, h.message);
}

}  // namespace

TEST_CASE("DEBUG is refused by default, before AUTH and inside MULTI, as Redis 7.0") {
  StartedServer s = StartDarter(0, {"--threads", "2", "--enable-debug-command", "no", "--requirepass", "pw"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  CHECK(Format(c.Cmd({"DEBUG", "POPULATE", "10"})) == kDebugRefused);  // refused before NOAUTH
  CHECK(Format(c.Cmd({"AUTH", "pw"})) == "+OK");
  CHECK(Format(c.Cmd({"DEBUG", "SLEEP", "0"})) == kDebugRefused);
  CHECK(Format(c.Cmd({"MULTI"})) == "+OK");
  CHECK(Format(c.Cmd({"DEBUG", "SLEEP", "0"})) == kDebugRefused);
  CHECK(Format(c.Cmd({"EXEC"})) ==
        "-EXECABORT Transaction discarded because of previous errors.");
  CHECK(Format(c.Cmd({"CONFIG", "GET", "enable-debug-command"})) == "[\"enable-debug-command\", \"no\"]");
  CHECK(Format(c.Cmd({"CONFIG", "SET", "enable-debug-command", "yes"})) ==
        "-ERR CONFIG SET failed (possibly related to argument 'enable-debug-command') - can't set immutable config");
  CheckHealthy(s);
}

TEST_CASE("enable-debug-command local serves loopback clients") {
  StartedServer s = StartDarter(0, {"--threads", "2", "--enable-debug-command", "local"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  CHECK(Format(c.Cmd({"DEBUG", "SLEEP", "0"})) == "+OK");
  CheckHealthy(s);
}

TEST_CASE("dir and dbfilename are protected configs") {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("darter-protected-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    StartedServer s = StartDarter(0, {"--threads", "2"});
    REQUIRE_MESSAGE(s.status.ok, s.status.message);
    Client c(s.port());
    CHECK(Format(c.Cmd({"CONFIG", "SET", "dir", dir.string()})) ==
          "-ERR CONFIG SET failed (possibly related to argument 'dir') - can't set protected config");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "dbfilename", "x.rdb"})) ==
          "-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - can't set protected config");
    CheckHealthy(s);
  }
  {
    StartedServer s = StartDarter(0, {"--threads", "2", "--enable-protected-configs", "local"});
    REQUIRE_MESSAGE(s.status.ok, s.status.message);
    Client c(s.port());
    CHECK(Format(c.Cmd({"CONFIG", "SET", "dir", (dir / "missing").string()})) ==
          "-ERR CONFIG SET failed (possibly related to argument 'dir') - No such file or directory");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "dbfilename", "a/b.rdb"})) ==
          "-ERR CONFIG SET failed (possibly related to argument 'dbfilename') - dbfilename can't be a path, just a "
          "filename");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "dir", dir.string(), "dbfilename", "moved.rdb"})) == "+OK");
    c.Cmd({"SET", "k", "v"});
    CHECK(Format(c.Cmd({"SAVE"})) == "+OK");
    CHECK(std::filesystem::exists(dir / "moved.rdb"));  // the setting is used, not only stored
    CheckHealthy(s);
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("protected-mode is a setting a loopback client can read and change") {
  StartedServer s = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  CHECK(Format(c.Cmd({"CONFIG", "GET", "protected-mode"})) == "[\"protected-mode\", \"yes\"]");
  CHECK(Format(c.Cmd({"PING"})) == "+PONG");  // loopback clients are served
  CHECK(Format(c.Cmd({"CONFIG", "SET", "protected-mode", "no"})) == "+OK");
  CHECK(Format(c.Cmd({"CONFIG", "GET", "protected-mode"})) == "[\"protected-mode\", \"no\"]");
  CheckHealthy(s);
}
