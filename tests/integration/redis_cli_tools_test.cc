// redis-cli's operator tools against darter-server: --bigkeys, --memkeys, --stat,
// --latency-history, MONITOR through redis-cli. They read INFO, SCAN, TYPE, MEMORY
// USAGE, the size commands and MONITOR's stream, so this checks those together as the
// tools use them.
#include <doctest/doctest.h>

#include <string>

#include "support/client.h"
#include "support/reply.h"
#include "support/run_program.h"
#include "support/server_process.h"

using namespace darter::test;
using namespace std::chrono_literals;

namespace {

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("redis-cli --bigkeys, --memkeys, --stat and --latency-history work against Darter") {
  StartedServer s = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  Client c(s.port());
  for (int i = 0; i < 40; ++i) REQUIRE(Format(c.Cmd({"SET", "s" + std::to_string(i), "v"})) == "+OK");
  REQUIRE(Format(c.Cmd({"SET", "big", std::string(5000, 'x')})) == "+OK");
  REQUIRE(Format(c.Cmd({"RPUSH", "list", "a", "b", "c"})) == ":3");
  REQUIRE(Format(c.Cmd({"HSET", "hash", "f", "v", "g", "w"})) == ":2");
  REQUIRE(Format(c.Cmd({"SADD", "set", "m"})) == ":1");
  REQUIRE(Format(c.Cmd({"ZADD", "zset", "1", "a"})) == ":1");
  REQUIRE(Format(c.Cmd({"XADD", "stream", "*", "f", "v"})).size() > 0);
  const std::string port = std::to_string(s.port());

  ProgramResult big = RunProgram("/usr/bin/redis-cli", {"-p", port, "--bigkeys"}, 30s);
  CHECK_MESSAGE(big.exit_code == 0, big.output);
  CHECK_MESSAGE(Has(big.output, "Biggest string found '\"big\"' has 5000 bytes"), big.output);
  CHECK(Has(big.output, "Biggest   list found '\"list\"' has 3 items"));
  CHECK(Has(big.output, "Biggest   hash found '\"hash\"' has 2 fields"));
  CHECK(Has(big.output, "41 strings with 5040 bytes"));
  CHECK(Has(big.output, "1 streams with 1 entries"));

  ProgramResult mem = RunProgram("/usr/bin/redis-cli", {"-p", port, "--memkeys"}, 30s);
  CHECK_MESSAGE(mem.exit_code == 0, mem.output);
  CHECK_MESSAGE(Has(mem.output, "Biggest string found '\"big\"' has "), mem.output);
  CHECK(!Has(mem.output, "has 0 bytes"));  // MEMORY USAGE answers for every type

  // --stat and --latency-history run until stopped: a bounded run prints their lines
  // (line-buffered: their output is a pipe here).
  ProgramResult stat = RunProgram(
      "/usr/bin/timeout", {"2", "/usr/bin/stdbuf", "-oL", "/usr/bin/redis-cli", "-p", port, "--stat", "-i", "0.5"}, 10s);
  CHECK_MESSAGE(Has(stat.output, "------- data ------"), stat.output);
  CHECK_MESSAGE(Has(stat.output, "\n46 "), stat.output);  // the key count
  ProgramResult lat =
      RunProgram("/usr/bin/timeout",
                 {"2", "/usr/bin/stdbuf", "-oL", "/usr/bin/redis-cli", "-p", port, "--latency-history", "-i", "1"}, 10s);
  CHECK_MESSAGE(!lat.output.empty(), "no --latency-history line");
  CHECK_MESSAGE(!Has(lat.output, "ERR"), lat.output);
}
