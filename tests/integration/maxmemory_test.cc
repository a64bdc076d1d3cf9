// maxmemory as implemented: writes over the limit get -OOM (the noeviction policy). Keys
// are never evicted yet, so an evicting policy together with a limit is refused at start
// and by CONFIG SET, instead of being accepted and doing nothing.
#include <doctest/doctest.h>

#include <string>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using namespace darter::test;

namespace {

constexpr char kRefusal[] = "key eviction is not implemented yet";

std::string ConfigGet(Client& c, const std::string& name) {
  Reply r = c.Cmd({"CONFIG", "GET", name});
  return r.elements.size() == 2 ? r.elements[1].str : "<missing>";
}

}  // namespace

TEST_CASE("an evicting policy is refused together with a limit, by CONFIG SET and at start") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client c(darter.port());

  SUBCASE("without a limit every policy is taken (it chooses what OBJECT FREQ/IDLETIME track)") {
    CHECK(Format(c.Cmd({"CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"})) == "+OK");
    CHECK(ConfigGet(c, "maxmemory-policy") == "allkeys-lfu");
    // ... but then no limit can be set.
    Reply r = c.Cmd({"CONFIG", "SET", "maxmemory", "10mb"});
    CHECK(r.IsError());
    CHECK(r.str.find(kRefusal) != std::string::npos);
    CHECK(ConfigGet(c, "maxmemory") == "0");
  }
  SUBCASE("with a limit only noeviction is taken") {
    CHECK(Format(c.Cmd({"CONFIG", "SET", "maxmemory", "10mb"})) == "+OK");
    for (const char* policy : {"allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-random",
                               "volatile-random", "volatile-ttl"}) {
      CAPTURE(policy);
      Reply r = c.Cmd({"CONFIG", "SET", "maxmemory-policy", policy});
      CHECK(r.IsError());
      CHECK(r.str.find(kRefusal) != std::string::npos);
    }
    CHECK(ConfigGet(c, "maxmemory-policy") == "noeviction");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "maxmemory-policy", "NOEVICTION"})) == "+OK");
    CHECK(Format(c.Cmd({"CONFIG", "SET", "maxmemory", "0"})) == "+OK");
  }
  SUBCASE("at start") {
    StartedServer refused = StartDarter(0, {"--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru"});
    CHECK_FALSE(refused.status.ok);
    CHECK_MESSAGE(refused.status.message.find(kRefusal) != std::string::npos, refused.status.message);
    StartedServer unknown = StartDarter(0, {"--maxmemory-policy", "most-recent"});
    CHECK_FALSE(unknown.status.ok);
    CHECK_MESSAGE(unknown.status.message.find("must be one of the following") != std::string::npos,
                  unknown.status.message);
    StartedServer lfu = StartDarter(0, {"--maxmemory-policy", "allkeys-lfu"});
    REQUIRE_MESSAGE(lfu.status.ok, lfu.status.message);
    Client l(lfu.port());
    CHECK(ConfigGet(l, "maxmemory-policy") == "allkeys-lfu");
  }
}
