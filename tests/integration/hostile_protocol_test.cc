// Hostile clients at the wire level: malformed and oversized requests, bulks declared
// huge and sent a byte at a time, query buffers past client-query-buffer-limit, clients
// that never read their replies or messages, and one client pipelining a million
// commands. Where Redis 7.0 defines the outcome, the same bytes go to redis-server and
// the replies must match. Every case ends with CheckServerHealthy.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>


#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/raw_conn.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Memory the server may hold beyond its RSS at the start of a case.
constexpr uint64_t kRssSlack = 128ull << 20;

std::string Encode(const std::vector<std::string>& argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return out;
}

// What a connection got for `input`: the bytes, then "<closed>" or "<open>".
std::string Exchange(int port, const std::string& input) {
  RawConn c(port);
  if (!c.ok()) return "<connect failed>";
  c.Send(input);
  RawConn::Received r = c.Read();
  return r.data + (r.closed ? "<closed>" : "<open>");
}

std::string ReadLogFile(const ServerProcess& server) {
  std::ifstream f(server.log_path());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

StartedServer StartDarterForTest(std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"--threads", "2"};
  args.insert(args.end(), extra.begin(), extra.end());
  StartedServer s = StartDarter(0, args);
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  return s;
}

void ExpectHealthy(ServerProcess& server, uint64_t rss_bound) {
  HealthReport h = CheckServerHealthy(server, rss_bound);
  CHECK_MESSAGE(h.ok, h.message);
}

// PING round trip on an open client, or 60 s when it failed.
std::chrono::milliseconds PingTime(Client& c) {
  auto t0 = Clock::now();
  Reply r = c.Cmd({"PING"});
  if (Format(r) != "+PONG") return 60s;
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
}

struct ProtocolCase {
  std::string name;
  std::string input;
  std::string expected;  // Exchange()'s result
  bool same_in_redis;    // Redis 7.0 answers the same
};

std::vector<ProtocolCase> ProtocolCases() {
  const std::string kBadCount = "-ERR Protocol error: invalid multibulk length\r\n<closed>";
  const std::string kBadLen = "-ERR Protocol error: invalid bulk length\r\n<closed>";
  return {
      // Redis 7.0 waits for 20 million arguments; Darter keeps Redis 6.2's cap.
      {"count over 1048576", "*20000000\r\n", kBadCount, false},
      {"count 1048577", "*1048577\r\n", kBadCount, false},
      {"count 1048576 waits", "*1048576\r\n$4\r\nPING\r\n", "<open>", true},
      {"count over INT_MAX", "*2147483648\r\n", kBadCount, true},
      {"count not a number", "*12x\r\n", kBadCount, true},
      {"negative count is an empty command", "*-5\r\n*1\r\n$4\r\nPING\r\n", "+PONG\r\n<open>", true},
      {"bulk over proto-max-bulk-len", "*1\r\n$536870913\r\n", kBadLen, true},
      {"negative bulk", "*1\r\n$-1\r\n", kBadLen, true},
      {"bulk 512mb waits", "*1\r\n$536870912\r\nab", "<open>", true},
      {"no dollar", "*1\r\nx4\r\nPING\r\n", "-ERR Protocol error: expected '$', got 'x'\r\n<closed>", true},
      {"inline over 64 KB without newline", std::string(70000, 'x'),
       "-ERR Protocol error: too big inline request\r\n<closed>", true},
      {"count line over 64 KB", "*" + std::string(70000, '1'),
       "-ERR Protocol error: too big mbulk count string\r\n<closed>", true},
      {"unbalanced quotes", "SET \"a b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n<closed>", true},
      {"unbalanced single quote", "SET 'a b\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n<closed>",
       true},
  };
}

TEST_CASE("malformed and oversized requests get Redis's errors and close the connection") {
  StartedServer darter = StartDarterForTest();
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  const uint64_t base = ResidentBytes(darter.process->pid());
  for (const ProtocolCase& c : ProtocolCases()) {
    CAPTURE(c.name);
    CHECK(Exchange(darter.port(), c.input) == c.expected);
    if (c.same_in_redis) CHECK(Exchange(redis.port(), c.input) == c.expected);
  }
  ExpectHealthy(*darter.process, base + kRssSlack);
}

TEST_CASE("proto-max-bulk-len and client-query-buffer-limit: CONFIG like Redis, and enforced") {
  StartedServer darter = StartDarterForTest();
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  const uint64_t base = ResidentBytes(darter.process->pid());
  Client d(darter.port()), r(redis.port());
  for (const char* name : {"proto-max-bulk-len", "client-query-buffer-limit"}) {
    for (const char* value : {"1000", "1048575", "-1", "abc", "99999999999gb", "1mb", "2gb", "1048576"}) {
      CAPTURE(name);
      CAPTURE(value);
      CHECK(Format(d.Cmd({"CONFIG", "SET", name, value})) == Format(r.Cmd({"CONFIG", "SET", name, value})));
      CHECK(Format(d.Cmd({"CONFIG", "GET", name})) == Format(r.Cmd({"CONFIG", "GET", name})));
    }
  }
  // Both now 1 MB.
  CHECK(Exchange(darter.port(), "*1\r\n$1048577\r\n") == "-ERR Protocol error: invalid bulk length\r\n<closed>");
  CHECK(Exchange(darter.port(), "*1\r\n$1048576\r\n") == "<open>");
  CHECK(Format(d.Cmd({"CONFIG", "SET", "proto-max-bulk-len", "512mb"})) == "+OK");
  CHECK(Format(r.Cmd({"CONFIG", "SET", "proto-max-bulk-len", "512mb"})) == "+OK");

  // A bulk the parser accepts, but more of it than the query buffer may hold: closed
  // without a reply, and logged as Redis logs it; less of it stays open.
  for (int port : {darter.port(), redis.port()}) {
    CAPTURE(port);
    RawConn over(port);
    REQUIRE(over.ok());
    over.Send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n" + std::string(1500000, 'x'));
    RawConn::Received got = over.Read(1s);
    CHECK(got.closed);
    CHECK(got.data.empty());
    RawConn under(port);
    under.Send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n" + std::string(900000, 'x'));
    CHECK_FALSE(under.Read(300ms).closed);
  }
  CHECK(ReadLogFile(*darter.process).find("Closing client that reached max query buffer length: id=") !=
        std::string::npos);
  ExpectHealthy(*darter.process, base + kRssSlack);
}

TEST_CASE("bulks declared huge and sent a byte at a time hold no memory and stall nobody") {
  StartedServer darter = StartDarterForTest();
  const uint64_t base = ResidentBytes(darter.process->pid());
  std::vector<std::unique_ptr<RawConn>> slow;
  for (int i = 0; i < 8; ++i) {
    slow.push_back(std::make_unique<RawConn>(darter.port()));
    REQUIRE(slow.back()->ok());
    REQUIRE(slow.back()->Send("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n"));
  }
  Client pinger(darter.port(), 5s);
  std::chrono::milliseconds worst{0};
  uint64_t peak = 0;
  for (int round = 0; round < 12; ++round) {
    for (auto& c : slow) REQUIRE(c->Send("x"));
    worst = std::max(worst, PingTime(pinger));
    peak = std::max(peak, ResidentBytes(darter.process->pid()));
    std::this_thread::sleep_for(250ms);
  }
  CHECK_MESSAGE(worst < 1000ms, "slowest PING took " << worst.count() << " ms");
  CHECK_MESSAGE(peak < base + (64ull << 20), "RSS peaked at " << (peak >> 20) << " MB, started at " << (base >> 20));
  // The eight partial commands are still pending, not refused.
  for (auto& c : slow) CHECK_FALSE(c->Read(50ms).closed);
  slow.clear();
  ExpectHealthy(*darter.process, base + kRssSlack);
}

TEST_CASE("unauthenticated clients are capped as in Redis, only while a password is required") {
  StartedServer darter = StartDarterForTest({"--requirepass", "pw"});
  StartedServer redis = StartRedis(0, {"--requirepass", "pw"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  const uint64_t base = ResidentBytes(darter.process->pid());
  const std::string auth = Encode({"AUTH", "pw"});
  const std::vector<std::string> inputs = {
      "*11\r\n",
      "*10\r\n",
      "*1\r\n$16385\r\n",
      "*1\r\n$16384\r\n",
      "*-5\r\n",
      std::string(70000, 'x'),
      auth + "*11\r\n",
      auth + "*1\r\n$16385\r\n",
      "AUTH pw\r\n*100\r\n",
  };
  for (const std::string& in : inputs) {
    CAPTURE(in.substr(0, 40));
    std::string want = Exchange(redis.port(), in);
    CHECK(Exchange(darter.port(), in) == want);
  }
  CHECK(Exchange(darter.port(), "*11\r\n") == "-ERR Protocol error: unauthenticated multibulk length\r\n<closed>");
  CHECK(Exchange(darter.port(), "*1\r\n$16385\r\n") == "-ERR Protocol error: unauthenticated bulk length\r\n<closed>");

  // Once no password is required, a connection that never authenticated is not capped.
  for (int port : {darter.port(), redis.port()}) {
    CAPTURE(port);
    RawConn waiting(port);
    REQUIRE(waiting.Send("PING\r\n"));
    CHECK(waiting.Read().data == "-NOAUTH Authentication required.\r\n");
    Client admin(port);
    REQUIRE(Format(admin.Cmd({"AUTH", "pw"})) == "+OK");
    REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "requirepass", ""})) == "+OK");
    REQUIRE(waiting.Send("*11\r\n"));
    CHECK_FALSE(waiting.Read().closed);
  }
  // And without a password nobody is capped.
  CHECK(Exchange(darter.port(), "*11\r\n$1\r\n") == "<open>");
  CHECK(Exchange(darter.port(), "*1\r\n$16385\r\n") == "<open>");
  ExpectHealthy(*darter.process, base + kRssSlack);
}

TEST_CASE("client-output-buffer-limit for normal clients closes them as Redis does") {
  StartedServer darter = StartDarterForTest();
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  const uint64_t base = ResidentBytes(darter.process->pid());
  for (int port : {darter.port(), redis.port()}) {
    Client c(port);
    REQUIRE(Format(c.Cmd({"SET", "big", std::string(200000, 'x')})) == "+OK");
    REQUIRE(Format(c.Cmd({"SET", "mid", std::string(110000, 'x')})) == "+OK");
    REQUIRE(Format(c.Cmd({"SET", "small", std::string(90000, 'x')})) == "+OK");
  }
  const std::string ping = Encode({"PING"});
  const std::string get_big = Encode({"GET", "big"});
  const std::string get_mid = Encode({"GET", "mid"});
  const std::string get_small = Encode({"GET", "small"});
  const std::vector<std::string> inputs = {ping + get_big, get_mid, get_small + ping, get_small + get_small};
  // Redis's default (normal 0 0 0) serves everything; a 100000-byte hard limit cuts off
  // the client whose replies pass it (past Redis's uncounted 16 KB), with no reply at all.
  for (const char* limit : {"normal 0 0 0", "normal 100000 0 0"}) {
    for (int port : {darter.port(), redis.port()})
      REQUIRE(Format(Client(port).Cmd({"CONFIG", "SET", "client-output-buffer-limit", limit})) == "+OK");
    for (const std::string& in : inputs) {
      CAPTURE(limit);
      CAPTURE(in.substr(0, 40));
      std::string want = Exchange(redis.port(), in);
      std::string got = Exchange(darter.port(), in);
      CHECK_MESSAGE(got == want, "darter: " << got.size() << " bytes ending " << got.substr(got.size() - std::min<size_t>(got.size(), 30))
                                            << "; redis: " << want.size() << " bytes ending "
                                            << want.substr(want.size() - std::min<size_t>(want.size(), 30)));
    }
  }
  CHECK(Exchange(darter.port(), ping + get_big) == "<closed>");
  CHECK(ReadLogFile(*darter.process).find("scheduled to be closed ASAP for overcoming of output buffer limits") !=
        std::string::npos);
  ExpectHealthy(*darter.process, base + kRssSlack);
}

// Sends `count` GET big without reading a byte; returns how many were sent before the
// server stopped taking them (it stops reading, or closes).
size_t FloodWithoutReading(RawConn& c, size_t count, std::chrono::milliseconds limit) {
  const std::string get = Encode({"GET", "big"});
  std::string chunk;
  for (int i = 0; i < 100; ++i) chunk += get;
  size_t sent = 0;
  fcntl(c.fd(), F_SETFL, fcntl(c.fd(), F_GETFL) | O_NONBLOCK);
  auto deadline = Clock::now() + limit;
  size_t offset = 0;
  while (sent < count && Clock::now() < deadline) {
    ssize_t n = send(c.fd(), chunk.data() + offset, chunk.size() - offset, MSG_NOSIGNAL);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      std::this_thread::sleep_for(10ms);
      continue;
    }
    if (n <= 0) break;
    offset += static_cast<size_t>(n);
    if (offset == chunk.size()) {
      offset = 0;
      sent += 100;
    }
  }
  return sent;
}

int64_t ConnectedClients(Client& admin) {
  std::string info = admin.Cmd({"INFO", "clients"}).str;
  size_t at = info.find("connected_clients:");
  if (at == std::string::npos) return -1;
  return std::stoll(info.substr(at + 18));
}

// Polls until the server counts `n` clients, at most `limit`: a connection is counted
// once the server has accepted it, which a loaded machine may do well after connect()
// returned, and a closed one once the server noticed.
bool ClientsCounted(Client& admin, int64_t n, std::chrono::milliseconds limit) {
  auto deadline = Clock::now() + limit;
  while (ConnectedClients(admin) != n) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

bool OnlyAdminLeft(Client& admin, std::chrono::milliseconds limit) { return ClientsCounted(admin, 1, limit); }

TEST_CASE("a client that never reads its replies holds bounded memory, and its limit closes it") {
  StartedServer darter = StartDarterForTest();
  const uint64_t base = ResidentBytes(darter.process->pid());
  Client admin(darter.port(), 5s);
  REQUIRE(Format(admin.Cmd({"SET", "big", std::string(200000, 'x')})) == "+OK");
  SUBCASE("default limits: the server stops reading it, memory stays bounded") {
    RawConn flood(darter.port(), 4096);
    // 20000 replies of 200 KB would be 4 GB if buffered.
    FloodWithoutReading(flood, 20000, 3s);
    uint64_t rss = ResidentBytes(darter.process->pid());
    CHECK_MESSAGE(rss < base + kRssSlack, "RSS " << (rss >> 20) << " MB");
    Client pinger(darter.port(), 5s);
    CHECK(PingTime(pinger) < 1000ms);
  }
  SUBCASE("hard limit") {
    REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0"})) == "+OK");
    RawConn flood(darter.port(), 4096);
    REQUIRE(ClientsCounted(admin, 2, 5s));  // else the check below would pass at once
    FloodWithoutReading(flood, 20000, 2s);
    CHECK(OnlyAdminLeft(admin, 5s));
  }
  SUBCASE("soft limit expires while the client is stuck, with no new output") {
    // 3 soft-seconds: long enough that a loaded (or sanitizer) run still checks inside them.
    REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "client-output-buffer-limit", "normal 0 100kb 3"})) == "+OK");
    // The soft clock cannot start before the flood does, so the close is seen no earlier
    // than 3 s after `started`: a bound that holds on a loaded machine, where a check of
    // "still connected" at some moment inside the window would not.
    const auto started = Clock::now();
    RawConn flood(darter.port(), 4096);
    REQUIRE(ClientsCounted(admin, 2, 5s));  // else the close below would be seen at once
    // One batch of replies, far more than the socket buffers take; then nothing new.
    FloodWithoutReading(flood, 200, 1s);
    CHECK(OnlyAdminLeft(admin, 15s));
    CHECK(Clock::now() - started >= 3s);
  }
  ExpectHealthy(*darter.process, base + kRssSlack);
}

int64_t NumSub(Client& c, const std::string& channel) {
  Reply r = c.Cmd({"PUBSUB", "NUMSUB", channel});
  if (r.elements.size() != 2) return -1;
  return r.elements[1].integer;
}

TEST_CASE("a subscriber over its pubsub soft limit is closed once soft-seconds pass, messages or not") {
  StartedServer darter = StartDarterForTest();
  const uint64_t base = ResidentBytes(darter.process->pid());
  Client admin(darter.port(), 5s);
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 256kb 1"})) == "+OK");
  RawConn sub(darter.port(), 4096);
  REQUIRE(sub.Send(Encode({"SUBSCRIBE", "flood"})));
  REQUIRE(sub.Read(200ms).data.find("subscribe") != std::string::npos);
  // A burst well past what the kernel buffers hold, pipelined so it takes well under
  // soft-seconds; then silence, so no new message can trigger the check.
  const std::string payload(100000, 'm');
  std::vector<std::vector<std::string>> burst(100, {"PUBLISH", "flood", payload});
  const auto started = Clock::now();  // the soft clock starts after this
  admin.Pipeline(burst);
  auto deadline = Clock::now() + 10s;
  while (NumSub(admin, "flood") != 0 && Clock::now() < deadline) std::this_thread::sleep_for(50ms);
  CHECK(NumSub(admin, "flood") == 0);
  CHECK(Clock::now() - started >= 1s);  // not closed before soft-seconds
  ExpectHealthy(*darter.process, base + kRssSlack);
}

TEST_CASE("one client pipelining a million commands does not starve the others") {
  StartedServer darter = StartDarterForTest();
  const uint64_t base = ResidentBytes(darter.process->pid());
#if defined(__SANITIZE_ADDRESS__)
  constexpr size_t kCommands = 250000;  // the sanitizer build's server is several times slower
#else
  constexpr size_t kCommands = 1000000;
#endif
  // Acceptance is round-robin over the two threads: the pipeliner and the two pingers
  // opened right after it cover both.
  RawConn pipe(darter.port());
  REQUIRE(pipe.ok());
  Client ping_a(darter.port(), 5s), ping_b(darter.port(), 5s);
  std::atomic<bool> done{false};
  std::atomic<size_t> replies{0};
  const auto stop_at = Clock::now() + 40s;
  std::thread writer([&] {
    std::string chunk;
    for (int i = 0; i < 1000; ++i) chunk += Encode({"SET", "k" + std::to_string(i), "v"});
    for (size_t sent = 0; sent < kCommands && !done && Clock::now() < stop_at; sent += 1000) {
      if (!pipe.Send(chunk)) break;
    }
  });
  std::thread reader([&] {
    char buf[65536];
    size_t oks = 0;
    while (oks < kCommands && Clock::now() < stop_at) {
      pollfd p{pipe.fd(), POLLIN, 0};
      if (poll(&p, 1, 500) <= 0) continue;
      ssize_t n = recv(pipe.fd(), buf, sizeof buf, 0);
      if (n <= 0) break;
      oks += static_cast<size_t>(std::count(buf, buf + n, '\n'));
      replies = oks;
    }
    done = true;
  });
  std::chrono::milliseconds worst{0};
  int pings = 0;
  while (!done) {
    worst = std::max({worst, PingTime(ping_a), PingTime(ping_b)});
    ++pings;
    std::this_thread::sleep_for(20ms);
  }
  writer.join();
  reader.join();
  MESSAGE("pipelined replies: " << replies.load() << ", pings: " << pings << ", slowest: " << worst.count() << " ms");
  CHECK(replies.load() == kCommands);
  CHECK(pings > 5);
  CHECK_MESSAGE(worst < 1000ms, "slowest PING took " << worst.count() << " ms");
  ExpectHealthy(*darter.process, base + kRssSlack);
}

}  // namespace
}  // namespace darter::test
