// darter-server's configuration as redis-server's: a config file (Debian's redis.conf
// unchanged, includes, errors naming file and line), command-line options over it,
// daemonize and pidfile, the default save schedule, CONFIG REWRITE, --version.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "support/client.h"
#include "support/reply.h"
#include "support/run_program.h"
#include "support/server_process.h"

namespace fs = std::filesystem;
using namespace darter::test;
using namespace std::chrono_literals;

namespace {

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
}

fs::path TempDir() {
  char tmpl[] = "/tmp/darter-config-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  return tmpl;
}

std::string Value(Client& c, const std::string& param) {
  Reply r = c.Cmd({"CONFIG", "GET", param});
  REQUIRE_MESSAGE(r.elements.size() == 2, Format(r));
  return r.elements[1].str;
}

bool ProcessAlive(pid_t pid) { return kill(pid, 0) == 0; }

}  // namespace

TEST_CASE("Debian's redis.conf, unchanged, starts Darter: daemonized, pidfile, its values, warnings naming lines") {
  const fs::path conf = fs::path(DARTER_TEST_DATA_DIR) / "conf" / "redis-7.0.15-debian.conf";
  REQUIRE(fs::exists(conf));
  fs::path dir = TempDir();
  int port = FreePort();
  // The file's own port, dir, logfile and pidfile are the system's: the options put
  // them in the test's directory, as `redis-server /etc/redis/redis.conf --port ...` would.
  ProgramResult start = RunProgram(DarterServerBinary(), {conf.string(), "--port", std::to_string(port), "--dir", dir.string(),
                                               "--logfile", (dir / "darter.log").string(), "--pidfile",
                                               (dir / "darter.pid").string()});
  CHECK_MESSAGE(start.exit_code == 0, start.output);  // daemonize yes: the parent returns
  pid_t pid = -1;
  for (int i = 0; i < 100 && pid <= 0; ++i) {
    std::this_thread::sleep_for(50ms);
    std::string text = ReadFile(dir / "darter.pid");
    if (!text.empty()) pid = std::stoi(text);
  }
  REQUIRE_MESSAGE(pid > 0, ReadFile(dir / "darter.log"));
  CHECK(pid != 0);
  {
    Client c(port);
    for (int i = 0; i < 100 && !c.ok(); ++i) {
      std::this_thread::sleep_for(50ms);
      c = Client(port);
    }
    REQUIRE_MESSAGE(c.ok(), ReadFile(dir / "darter.log"));
    CHECK(Format(c.Cmd({"PING"})) == "+PONG");
    CHECK(Value(c, "daemonize") == "yes");
    CHECK(Value(c, "save") == "3600 1 300 100 60 10000");  // the file has no save line
    CHECK(Value(c, "databases") == "16");
    CHECK(Value(c, "bind") == "127.0.0.1 -::1");
    CHECK(Value(c, "timeout") == "0");
    CHECK(Value(c, "notify-keyspace-events") == "");
    CHECK(Value(c, "client-output-buffer-limit") ==
          "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60");
    CHECK(Value(c, "dir") == fs::canonical(dir).string());
    CHECK(Format(c.Cmd({"SET", "k", "v"})) == "+OK");
  }
  std::string log = ReadFile(dir / "darter.log");
  CHECK(log.find("Configuration loaded from " + fs::canonical(conf).string()) != std::string::npos);
  CHECK(log.find("redis-7.0.15-debian.conf:2097: 'hz 10': Darter does not implement 'hz'") != std::string::npos);
  // SIGTERM: the default schedule saves on the way out, and the pidfile goes.
  REQUIRE(kill(pid, SIGTERM) == 0);
  for (int i = 0; i < 200 && ProcessAlive(pid); ++i) std::this_thread::sleep_for(50ms);
  if (ProcessAlive(pid)) kill(pid, SIGKILL);
  CHECK(!fs::exists(dir / "darter.pid"));
  CHECK(fs::exists(dir / "dump.rdb"));
  fs::remove_all(dir);
}

TEST_CASE("no configuration: Redis's default save schedule, and a restart keeps the data") {
  fs::path dir = TempDir();
  for (int round = 0; round < 2; ++round) {
    int port = FreePort();
    ServerProcess server(DarterServerBinary(), {"--port", std::to_string(port), "--dir", dir.string()}, port,
                         dir / ("run" + std::to_string(round)));
    REQUIRE_MESSAGE(server.WaitUntilReady().ok, server.LogTail());
    Client c(port);
    CHECK(Value(c, "save") == "3600 1 300 100 60 10000");
    if (round == 0) CHECK(Format(c.Cmd({"SET", "kept", "1"})) == "+OK");
    else CHECK(Format(c.Cmd({"GET", "kept"})) == "\"1\"");
    server.Stop();
  }
  fs::remove_all(dir);
}

TEST_CASE("include, options over the file, and errors that name the file and line") {
  fs::path dir = TempDir();
  fs::create_directories(dir / "conf.d");
  WriteFile(dir / "main.conf", "# main\nmaxmemory 10mb\ninclude " + (dir / "conf.d" / "*.conf").string() + "\n");
  WriteFile(dir / "conf.d" / "a.conf", "maxmemory-policy allkeys-lru\nsave 120 5\nsave 60 50\n");
  WriteFile(dir / "conf.d" / "b.conf", "timeout 30\n");
  int port = FreePort();
  {
    ServerProcess server(DarterServerBinary(),
                         {(dir / "main.conf").string(), "--port", std::to_string(port), "--dir", dir.string(),
                          "--maxmemory", "20mb"},
                         port, dir / "run");
    REQUIRE_MESSAGE(server.WaitUntilReady().ok, server.LogTail());
    Client c(port);
    CHECK(Value(c, "maxmemory") == "20971520");  // the option wins over the file
    CHECK(Value(c, "maxmemory-policy") == "allkeys-lru");
    CHECK(Value(c, "save") == "120 5 60 50");
    CHECK(Value(c, "timeout") == "30");
  }
  // A directive no Redis has: the start stops, naming the file and line.
  WriteFile(dir / "conf.d" / "b.conf", "timeout 30\n\nmaxmemroy 1gb\n");
  ProgramResult bad = RunProgram(DarterServerBinary(), {(dir / "main.conf").string(), "--port", std::to_string(port)});
  CHECK(bad.exit_code == 2);
  CHECK_MESSAGE(bad.output.find("b.conf:3") != std::string::npos, bad.output);
  CHECK(bad.output.find(">>> 'maxmemroy 1gb'") != std::string::npos);
  CHECK(bad.output.find("Bad directive or wrong number of arguments") != std::string::npos);
  // A bad value: CONFIG SET's reason.
  ProgramResult bad_value = RunProgram(DarterServerBinary(), {"--port", std::to_string(port), "--maxmemory-policy", "often"});
  CHECK(bad_value.exit_code == 2);
  CHECK(bad_value.output.find("argument(s) must be one of the following") != std::string::npos);
  // A missing include.
  WriteFile(dir / "main.conf", "include " + (dir / "missing.conf").string() + "\n");
  ProgramResult missing = RunProgram(DarterServerBinary(), {(dir / "main.conf").string()});
  CHECK(missing.exit_code == 2);
  CHECK(missing.output.find("main.conf:1") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("CONFIG REWRITE keeps comments and order, and the rewritten file restarts to the same values") {
  fs::path dir = TempDir();
  const std::string original =
      "# Darter test configuration\n"
      "port 0\n"
      "\n"
      "# memory\n"
      "maxmemory 10mb\n"
      "maxmemory-policy noeviction\n"
      "hash-max-ziplist-entries 128\n"
      "tcp-keepalive 300\n"
      "save 900 1\n"
      "save 300 10\n";
  WriteFile(dir / "darter.conf", original);
  int port = FreePort();
  {
    ServerProcess server(DarterServerBinary(),
                         {(dir / "darter.conf").string(), "--port", std::to_string(port), "--dir", dir.string()}, port,
                         dir / "run1");
    REQUIRE_MESSAGE(server.WaitUntilReady().ok, server.LogTail());
    Client c(port);
    CHECK(Format(c.Cmd({"CONFIG", "SET", "maxmemory", "5mb", "maxmemory-policy", "allkeys-lfu"})) == "+OK");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "save", "100 10"})) == "+OK");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "hash-max-listpack-entries", "64"})) == "+OK");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "notify-keyspace-events", "KEA"})) == "+OK");
    CHECK(Format(c.Cmd({"ACL", "SETUSER", "app", "on", ">secret", "~app:*", "+@read"})) == "+OK");
    CHECK(Format(c.Cmd({"CONFIG", "REWRITE"})) == "+OK");
  }
  std::string text = ReadFile(dir / "darter.conf");
  CAPTURE(text);
  CHECK(text.rfind("# Darter test configuration\nport " + std::to_string(port) + "\n\n# memory\nmaxmemory 5242880\n"
                   "maxmemory-policy allkeys-lfu\nhash-max-listpack-entries 64\ntcp-keepalive 300\nsave 100 10\n",
                   0) == 0);
  CHECK(text.find("# Generated by CONFIG REWRITE\n") != std::string::npos);
  CHECK(text.find("notify-keyspace-events AKE\n") != std::string::npos);
  CHECK(text.find("user app on #") != std::string::npos);
  CHECK(text.find("save 300 10") == std::string::npos);
  // The file alone brings the same values back (the port is the one the options gave).
  ServerProcess again(DarterServerBinary(), {(dir / "darter.conf").string(), "--dir", dir.string()}, port,
                      dir / "run2");
  REQUIRE_MESSAGE(again.WaitUntilReady().ok, again.LogTail());
  Client c(port);
  CHECK(Value(c, "maxmemory") == "5242880");
  CHECK(Value(c, "maxmemory-policy") == "allkeys-lfu");
  CHECK(Value(c, "save") == "100 10");
  CHECK(Value(c, "hash-max-listpack-entries") == "64");
  CHECK(Value(c, "notify-keyspace-events") == "AKE");
  CHECK(Format(c.Cmd({"AUTH", "app", "secret"})) == "+OK");
  again.Stop();
  fs::remove_all(dir);
}

TEST_CASE("CONFIG REWRITE without a config file, and every binary's --version") {
  StartedServer s = StartDarter();
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  CHECK(Format(c.Cmd({"CONFIG", "REWRITE"})) == "-ERR The server is running without a config file");
  for (const char* flag : {"-v", "--version"}) {
    ProgramResult v = RunProgram(DarterServerBinary(), {flag});
    CHECK(v.exit_code == 0);
    CHECK_MESSAGE(v.output.rfind("Darter server v=", 0) == 0, v.output);
  }
  for (auto [binary, name] : {std::pair<const char*, const char*>{DARTER_MIGRATE_BIN, "darter-migrate "},
                               {DARTER_RDB_BIN, "darter-rdb "}}) {
    ProgramResult v = RunProgram(binary, {"--version"});
    CHECK(v.exit_code == 0);
    CHECK_MESSAGE(v.output.rfind(name, 0) == 0, v.output);
  }
  ProgramResult help = RunProgram(DarterServerBinary(), {"--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.output.find("maxmemory-policy") != std::string::npos);
}
