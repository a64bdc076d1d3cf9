// INFO keyspace: keys, expires and avg_ttl (the smoothed remaining TTL that active expiry
// samples), compared with redis-server given the same writes.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
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
  for (int i = 0; i < 300; ++i)  // remaining TTLs of 50 s and 150 s: 100 s on average
    writes.push_back({"SET", "k" + std::to_string(i), "v", "EX", i % 2 ? "150" : "50"});
  writes.push_back({"SET", "persistent", "v"});
  r.Pipeline(writes);
  d.Pipeline(writes);
  CHECK(Db0Field(d, "keys") == 301);
  CHECK(Db0Field(d, "expires") == 300);
  const long long redis_avg = WaitForAvgTtl(r);
  const long long darter_avg = WaitForAvgTtl(d);
  REQUIRE(redis_avg > 0);
  CHECK_MESSAGE(std::llabs(darter_avg - redis_avg) < 5000, "redis " << redis_avg << " darter " << darter_avg);
  // Without keys that have a TTL the estimate goes back to 0, as in Redis.
  std::vector<std::vector<std::string>> persist;
  for (int i = 0; i < 300; ++i) persist.push_back({"PERSIST", "k" + std::to_string(i)});
  d.Pipeline(persist);
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (Db0Field(d, "avg_ttl") != 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(50ms);
  CHECK(Db0Field(d, "avg_ttl") == 0);
  CHECK(Db0Field(d, "expires") == 0);
}
