// Hostile arguments: a count, offset, length or pattern chosen by the client must not
// make darter-server allocate without bound, overflow, or stall other clients. Every
// case runs against darter-server --threads 2 and ends with CheckServerHealthy (alive,
// a fresh PING answered within 1 s, RSS back under a bound). Redis's exact replies for
// the same arguments are checked by the differential script diff/hostile_args.txt;
// here are the cases Redis itself cannot answer (it builds the reply or hangs) and the
// ones that need a second client or a changed proto-max-bulk-len.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kMaxRss = 512ull << 20;
constexpr std::string_view kPicksTooLarge = "-ERR count is out of range: the reply would exceed proto-max-bulk-len";

StartedServer Start() {
  StartedServer s = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  return s;
}

void CheckHealthy(StartedServer& s, uint64_t max_rss = kMaxRss) {
  HealthReport h = CheckServerHealthy(*s.process, max_rss);
  CHECK_MESSAGE(h.ok, h.message);
}

std::string Cmd(Client& c, const std::vector<std::string>& argv) { return Format(c.Cmd(argv)); }

TEST_CASE("ZRANDMEMBER with a huge negative count WITHSCORES is refused at once") {
  StartedServer s = Start();
  Client c(s.port(), 5s);
  CHECK(Cmd(c, {"ZADD", "z", "0", "a"}) == ":1");
  CHECK(Cmd(c, {"ZRANDMEMBER", "z", "-9223372036854770000", "WITHSCORES"}) == "-ERR value is out of range");
  CHECK(Cmd(c, {"ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"}) == "-ERR value is out of range");
  CheckHealthy(s);
}

TEST_CASE("Random picks with repetition are bounded by proto-max-bulk-len, not by the count") {
  StartedServer s = Start();
  Client c(s.port(), 5s);
  CHECK(Cmd(c, {"SADD", "s", "a"}) == ":1");
  CHECK(Cmd(c, {"HSET", "h", "f", "v"}) == ":1");
  CHECK(Cmd(c, {"ZADD", "z", "0", "a"}) == ":1");
  CHECK(Cmd(c, {"ZADD", "zbig", "0", "a"}) == ":1");
  CHECK(Cmd(c, {"CONFIG", "SET", "zset-max-listpack-entries", "0"}) == "+OK");
  CHECK(Cmd(c, {"ZADD", "zsl", "0", "a"}) == ":1");  // skiplist encoding
  for (std::string key : {"s", "h", "z", "zsl"}) {
    std::string cmd = key == "s" ? "SRANDMEMBER" : key == "h" ? "HRANDFIELD" : "ZRANDMEMBER";
    INFO(cmd, " ", key);
    // Redis would try to build a reply of 2^63 elements here.
    CHECK(Cmd(c, {cmd, key, "-9223372036854775807"}) == kPicksTooLarge);
    CHECK(Cmd(c, {cmd, key, "-1000000000000"}) == kPicksTooLarge);
  }
  CHECK(Cmd(c, {"HRANDFIELD", "h", "-1000000000000", "WITHVALUES"}) == kPicksTooLarge);
  CHECK(Cmd(c, {"ZRANDMEMBER", "z", "-1000000000000", "WITHSCORES"}) == kPicksTooLarge);
  // Missing keys answer an empty array, as in Redis, whatever the count.
  CHECK(Cmd(c, {"SRANDMEMBER", "nokey", "-9223372036854775807"}) == "[]");

  // With a 1 MB bound: 100000 picks of "a" (7 bytes each) fit, 200000 do not, and a
  // refused reply leaves the connection usable.
  CHECK(Cmd(c, {"CONFIG", "SET", "proto-max-bulk-len", "1mb"}) == "+OK");
  Reply ok = c.Cmd({"SRANDMEMBER", "s", "-100000"});
  REQUIRE(ok.type == Reply::Type::kArray);
  CHECK(ok.elements.size() == 100000);
  CHECK(Cmd(c, {"SRANDMEMBER", "s", "-200000"}) == kPicksTooLarge);
  CHECK(Cmd(c, {"ZRANDMEMBER", "zsl", "-200000"}) == kPicksTooLarge);
  CHECK(Cmd(c, {"HRANDFIELD", "h", "-100000", "WITHVALUES"}) == kPicksTooLarge);
  CHECK(Cmd(c, {"PING"}) == "+PONG");
  CheckHealthy(s);
}

TEST_CASE("DEBUG POPULATE refuses sizes and counts it cannot honour") {
  StartedServer s = Start();
  Client c(s.port(), 5s);
  CHECK(Cmd(c, {"DEBUG", "POPULATE", "1", "k", "1000000000000"}) ==
        "-ERR value size is out of range: it exceeds proto-max-bulk-len");
  CHECK(Cmd(c, {"DEBUG", "POPULATE", "9223372036854775807"}) ==
        "-ERR count is out of range: DEBUG POPULATE creates at most 100000000 keys");
  CHECK(Cmd(c, {"DEBUG", "POPULATE", "-1"}) == "-ERR value is out of range, must be positive");
  CHECK(Cmd(c, {"DEBUG", "POPULATE", "100", "k", "-1"}) == "-ERR value is out of range, must be positive");
  CHECK(Cmd(c, {"DEBUG", "POPULATE", "100000", "k", "536870912"}) ==
        "-ERR count x size is out of range: DEBUG POPULATE writes at most 8 GiB of values");
  CHECK(Cmd(c, {"DEBUG", "POPULATE", "1000", "k", "100"}) == "+OK");
  CHECK(Cmd(c, {"DBSIZE"}) == ":1000");
  CHECK(Cmd(c, {"STRLEN", "k:7"}) == ":100");
  CheckHealthy(s);
}

TEST_CASE("DEBUG POPULATE lets other clients' commands run while it works") {
  StartedServer s = Start();
  Client populate(s.port(), 60s);
  Client other(s.port(), 5s);
  CHECK(Cmd(other, {"SET", "probe", "1"}) == "+OK");
  constexpr int64_t kKeys = 3000000;
  populate.Append({"DEBUG", "POPULATE", std::to_string(kKeys)});
  REQUIRE(populate.Flush());
  // Wait until the population has visibly started, then expect shard-bound commands
  // from another client to be answered while it is still short of its count.
  bool started = false;
  std::string size;
  for (int i = 0; i < 2000 && !started; ++i) {
    size = Cmd(other, {"DBSIZE"});
    started = size != ":1";
  }
  REQUIRE_MESSAGE(started, "DBSIZE stayed at " << size);
  CHECK(Cmd(other, {"GET", "probe"}) == "\"1\"");
  Reply mid = other.Cmd({"DBSIZE"});
  REQUIRE(mid.type == Reply::Type::kInteger);
  CHECK(mid.integer < kKeys + 1);  // answered before the population finished
  CHECK(Format(populate.ReadReply()) == "+OK");
  CHECK(Cmd(other, {"DBSIZE"}) == ":" + std::to_string(kKeys + 1));
  CHECK(Cmd(other, {"FLUSHALL"}) == "+OK");
  CheckHealthy(s, 1536ull << 20);
}

TEST_CASE("Glob patterns are matched in bounded time everywhere they are accepted") {
  StartedServer s = Start();
  Client c(s.port(), 5s);
  const std::string key(40, 'a');
  const std::string bad = "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b";
  CHECK(Cmd(c, {"SET", key, "1"}) == "+OK");
  CHECK(Cmd(c, {"KEYS", bad}) == "[]");
  CHECK(Cmd(c, {"SCAN", "0", "MATCH", bad, "COUNT", "1000"}) == "[\"0\", []]");
  CHECK(Cmd(c, {"SADD", "s", key}) == ":1");
  CHECK(Cmd(c, {"SSCAN", "s", "0", "MATCH", bad}) == "[\"0\", []]");
  CHECK(Cmd(c, {"HSET", "h", key, "v"}) == ":1");
  CHECK(Cmd(c, {"HSCAN", "h", "0", "MATCH", bad}) == "[\"0\", []]");
  CHECK(Cmd(c, {"ZADD", "z", "0", key}) == ":1");
  CHECK(Cmd(c, {"ZSCAN", "z", "0", "MATCH", bad}) == "[\"0\", []]");
  CHECK(Cmd(c, {"CONFIG", "GET", "m*a*x*m*e*m*o*r*y*m*a*x*m*e*m*o*r*y*z"}) == "[]");
  // A far longer key and pattern: quadratic, not exponential.
  const std::string long_key(20000, 'a');
  std::string long_bad;
  for (int i = 0; i < 900; ++i) long_bad += "*a";
  long_bad += "b";
  CHECK(Cmd(c, {"SET", long_key, "1"}) == "+OK");
  CHECK(Cmd(c, {"KEYS", long_bad}) == "[]");

  Client sub(s.port(), 5s);
  CHECK(Cmd(sub, {"PSUBSCRIBE", bad}) == "[\"psubscribe\", \"" + bad + "\", :1]");
  CHECK(Cmd(c, {"PUBLISH", key, "hi"}) == ":0");
  CHECK(Cmd(c, {"PUBLISH", std::string(39, 'a') + "b", "hi"}) == ":1");
  CHECK(Format(sub.ReadReply()) ==
        "[\"pmessage\", \"" + bad + "\", \"" + std::string(39, 'a') + "b\", \"hi\"]");
  CheckHealthy(s);
}

TEST_CASE("Bit offsets and string growth follow proto-max-bulk-len") {
  StartedServer s = Start();
  Client c(s.port(), 5s);
  const std::string kBadOffset = "-ERR bit offset is not an integer or out of range";
  const std::string kTooLong = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)";
  // 512 MB default: offsets stop at 2^32 - 1.
  CHECK(Cmd(c, {"GETBIT", "b", "4294967295"}) == ":0");
  CHECK(Cmd(c, {"GETBIT", "b", "4294967296"}) == kBadOffset);
  CHECK(Cmd(c, {"BITFIELD", "b", "GET", "u8", "4294967296"}) == kBadOffset);
  // Raised to 1 GB: 2^32 and up to 2^33 - 1 are valid offsets (reads allocate nothing).
  CHECK(Cmd(c, {"CONFIG", "SET", "proto-max-bulk-len", "1073741824"}) == "+OK");
  CHECK(Cmd(c, {"GETBIT", "b", "4294967296"}) == ":0");
  CHECK(Cmd(c, {"GETBIT", "b", "8589934591"}) == ":0");
  CHECK(Cmd(c, {"GETBIT", "b", "8589934592"}) == kBadOffset);
  CHECK(Cmd(c, {"BITFIELD_RO", "b", "GET", "u8", "4294967296"}) == "[:0]");
  CHECK(Cmd(c, {"BITFIELD", "b", "GET", "u8", "#1073741823"}) == "[:0]");
  CHECK(Cmd(c, {"BITFIELD", "b", "GET", "u8", "#1073741824"}) == kBadOffset);
  // Lowered to 1 MB: writes beyond it are refused, up to it accepted.
  CHECK(Cmd(c, {"CONFIG", "SET", "proto-max-bulk-len", "1mb"}) == "+OK");
  CHECK(Cmd(c, {"SETBIT", "b", "8388608", "1"}) == kBadOffset);
  CHECK(Cmd(c, {"SETBIT", "b", "8388607", "1"}) == ":0");
  CHECK(Cmd(c, {"STRLEN", "b"}) == ":1048576");
  CHECK(Cmd(c, {"SETRANGE", "r", "1048576", "x"}) == kTooLong);
  CHECK(Cmd(c, {"SETRANGE", "r", "1048575", "x"}) == ":1048576");
  CHECK(Cmd(c, {"APPEND", "r", "x"}) == kTooLong);
  CHECK(Cmd(c, {"SETRANGE", "r", "9223372036854775807", "x"}) == kTooLong);
  CheckHealthy(s);
}

TEST_CASE("Huge counts answer from the data present") {
  StartedServer s = Start();
  Client c(s.port(), 5s);
  const std::string kMax = "9223372036854775807";
  CHECK(Cmd(c, {"RPUSH", "l", "a", "b", "a"}) == ":3");
  CHECK(Cmd(c, {"SADD", "s", "a", "b"}) == ":2");
  CHECK(Cmd(c, {"XADD", "x", "1-1", "f", "v"}) == "\"1-1\"");
  CHECK(Cmd(c, {"SET", "k", "v"}) == "+OK");
  CHECK(Cmd(c, {"LPOS", "l", "a", "COUNT", kMax, "MAXLEN", kMax}) == "[:0, :2]");
  CHECK(Cmd(c, {"LPOS", "l", "a", "RANK", "-9223372036854775808"}) == ":2");
  CHECK(Cmd(c, {"LRANGE", "l", "-9223372036854775808", kMax}) == "[\"a\", \"b\", \"a\"]");
  CHECK(Cmd(c, {"LPOP", "l", kMax}) == "[\"a\", \"b\", \"a\"]");
  CHECK(c.Cmd({"SPOP", "s", kMax}).elements.size() == 2);
  CHECK(Cmd(c, {"EXISTS", "s"}) == ":0");
  CHECK(Cmd(c, {"XRANGE", "x", "-", "+", "COUNT", kMax}) == "[[\"1-1\", [\"f\", \"v\"]]]");
  Reply scan = c.Cmd({"SCAN", "0", "COUNT", kMax});
  REQUIRE(scan.elements.size() == 2);
  CHECK(Format(scan.elements[0]) == "\"0\"");
  CHECK(scan.elements[1].elements.size() == 2);  // x and k
  CHECK(Cmd(c, {"SORT", "nolist", "LIMIT", kMax, kMax}) == "[]");
  CheckHealthy(s);
}

// Peak resident set size (VmHWM) of `pid` in bytes, or 0 when it cannot be read.
uint64_t PeakResidentBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // in kB
  return 0;
}

TEST_CASE("LCS refuses tables past proto-max-bulk-len and computes the largest in little memory") {
  StartedServer s = Start();
  Client c(s.port(), 10s);
  const std::string kTooLarge = "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
  // Two 100000-byte values: 40 GB of Redis table, refused before any work, whatever
  // the options (Redis replies the same).
  CHECK(Cmd(c, {"SETRANGE", "big1", "99999", "x"}) == ":100000");
  CHECK(Cmd(c, {"SETRANGE", "big2", "99999", "y"}) == ":100000");
  CHECK(Cmd(c, {"LCS", "big1", "big2"}) == kTooLarge);
  CHECK(Cmd(c, {"LCS", "big1", "big2", "LEN"}) == kTooLarge);
  CHECK(Cmd(c, {"LCS", "big2", "big1", "IDX", "WITHMATCHLEN"}) == kTooLarge);
  // The largest accepted table at the default 512 MB: 4 * 11585^2 bytes fit, 4 * 11586^2
  // do not. Redis allocates those 512 MB; Darter's one bit per cell needs ~16 MB.
  const uint64_t peak_before = PeakResidentBytes(s.process->pid());
  REQUIRE(peak_before > 0);
  CHECK(Cmd(c, {"SET", "a", std::string(11584, 'q')}) == "+OK");
  CHECK(Cmd(c, {"SET", "b", std::string(11584, 'q')}) == "+OK");
  CHECK(Cmd(c, {"SET", "c", std::string(11585, 'q')}) == "+OK");
  CHECK(Cmd(c, {"LCS", "a", "b", "IDX", "WITHMATCHLEN"}) ==
        "[\"matches\", [[[:0, :11583], [:0, :11583], :11584]], \"len\", :11584]");
  CHECK(Cmd(c, {"LCS", "a", "b", "LEN"}) == ":11584");
  CHECK(Cmd(c, {"LCS", "a", "c", "LEN"}) == kTooLarge);
  const uint64_t peak_growth = PeakResidentBytes(s.process->pid()) - peak_before;
  CHECK_MESSAGE(peak_growth < RssBoundForThisBuild(96ull << 20), "peak RSS grew by ", peak_growth);
  CheckHealthy(s);
}

}  // namespace
}  // namespace darter::test
