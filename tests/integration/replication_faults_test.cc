// A primary that misbehaves: a fake one (a TCP server in this test) answers the
// handshake, replies +FULLRESYNC and sends a corrupt or a truncated RDB. Darter must
// log a clear error, expose it as master_last_error, retry (a second connection
// arrives), and keep serving clients.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;

namespace {

// "REDIS0010", one string key, EOF opcode, 8-byte checksum 0 (= not checked).
std::string SmallRdb() {
  std::string r = "REDIS0010";
  r += '\xfe';
  r += '\x00';               // SELECTDB 0
  r += '\x00';               // type string
  r += "\x03key\x05value";  // key, value
  r += '\xff';
  r += std::string(8, '\0');
  return r;
}

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void ExpectErrorAndRetry(const std::string& payload, const std::string& expect_in_error) {
  FakePrimary primary(payload);
  REQUIRE(primary.port() > 0);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client c(darter.port());
  CHECK(Format(c.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(primary.port())})) == "+OK");
  // A retry: a second PSYNC arrives after the first transfer failed.
  CHECK_MESSAGE(WaitFor([&] { return primary.psyncs() >= 2; }, 20s),
                "darter did not retry; connections " << primary.connections() << "\n" << darter.process->LogTail());
  std::string err = InfoStr(c, "replication", "master_last_error");
  MESSAGE("master_last_error: " << err);
  CHECK_MESSAGE(err.find(expect_in_error) != std::string::npos, "master_last_error: " << err);
  CHECK(ReadFile(darter.process->log_path()).find(expect_in_error) != std::string::npos);
  // Still alive and serving.
  CHECK(Format(c.Cmd({"PING"})) == "+PONG");
  CHECK(InfoStr(c, "replication", "master_link_status") == "down");
  CHECK(darter.process->Running());
}

}  // namespace

TEST_CASE("a corrupt RDB from the primary: clear error, retry, no crash") {
  std::string rdb = "REDIS0010";
  rdb += '\xfe';
  rdb += '\x00';
  rdb += '\x63';  // type 99: no such value type
  rdb += "\x03key\x05value";
  rdb += '\xff';
  rdb += std::string(8, '\0');
  ExpectErrorAndRetry("$" + std::to_string(rdb.size()) + "\r\n" + rdb, "invalid");
}

TEST_CASE("garbage instead of an RDB: clear error, retry, no crash") {
  std::string junk = "this is not an RDB file at all, just bytes";
  ExpectErrorAndRetry("$" + std::to_string(junk.size()) + "\r\n" + junk, "invalid");
}

TEST_CASE("a truncated RDB (length covers no EOF record): clear error, retry, no crash") {
  std::string rdb = SmallRdb();
  std::string cut = rdb.substr(0, rdb.size() - 10);  // stops before the EOF opcode
  ExpectErrorAndRetry("$" + std::to_string(cut.size()) + "\r\n" + cut, "truncated");
}

TEST_CASE("a diskless transfer whose EOF mark never matches: clear error, retry, no crash") {
  std::string mark(40, 'a');
  std::string rdb = SmallRdb();
  std::string other(40, 'b');
  ExpectErrorAndRetry("$EOF:" + mark + "\r\n" + rdb + other, "EOF mark");
}
