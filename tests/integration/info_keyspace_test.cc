// INFO keyspace: keys, expires and avg_ttl (the smoothed remaining TTL that active expiry
// samples), compared with redis-server given the same writes.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using namespace darter::test;
using namespace std::chrono_literals;

namespace {

// The db0 line's field `name`, or -1.
long long Db0Field(Client& c, const std::string& name) {
  std::string info = c.Cmd({"INFO", "keyspace"}).str;
  size_t line = info.find("db0:");
  if (line == std::string::npos) return -1;
  size_t at = info.find(name + "=", line);
  if (at == std::string::npos) return -1;
  return std::atoll(info.c_str() + at + name.size() + 1);
}

long long WaitForAvgTtl(Client& c) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  long long v = Db0Field(c, "avg_ttl");
  while (v <= 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
    v = Db0Field(c, "avg_ttl");
  }
  return v;
}

}  // namespace

TEST_CASE("INFO keyspace counts keys and expires, and avg_ttl follows Redis's estimate") {
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client r(redis.port()), d(darter.port());
  std::vector<std::vector<std::string>> writes;
  // One TTL for all: Redis estimates from a sample of a few keys, so TTLs that differ
  // would make its figure (and ours) depend on which keys were sampled.
  for (int i = 0; i < 300; ++i) writes.push_back({"SET", "k" + std::to_string(i), "v", "EX", "100"});
  writes.push_back({"SET", "persistent", "v"});
  const auto written = std::chrono::steady_clock::now();
  r.Pipeline(writes);
  d.Pipeline(writes);
  CHECK(Db0Field(d, "keys") == 301);
  CHECK(Db0Field(d, "expires") == 300);
  const long long redis_avg = WaitForAvgTtl(r);
  const long long darter_avg = WaitForAvgTtl(d);
  // Sampled at some moment after the writes: at most 100 s, and no less than 100 s minus
  // the time since. Redis, the control, must fall in the same window.
  const long long since =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - written).count();
  for (auto [who, avg] : {std::pair<const char*, long long>{"redis", redis_avg}, {"darter", darter_avg}}) {
    CAPTURE(who);
    CHECK_MESSAGE(avg <= 100'000, avg);
    CHECK_MESSAGE(avg >= 100'000 - since - 1000, avg << " after " << since << " ms");
  }
  // Without keys that have a TTL the estimate goes back to 0, as in Redis.
  std::vector<std::vector<std::string>> persist;
  for (int i = 0; i < 300; ++i) persist.push_back({"PERSIST", "k" + std::to_string(i)});
  d.Pipeline(persist);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (Db0Field(d, "avg_ttl") != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  CHECK(Db0Field(d, "avg_ttl") == 0);
  CHECK(Db0Field(d, "expires") == 0);
}
