// A redis-server and a darter-server started side by side for differential tests, and the
// check that both answer a command alike.
#pragma once

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test {

struct ServerPair {
  StartedServer redis, darter;
};

// Both started (REQUIREd): Debian's redis-server with the defaults of StartRedis, Darter
// with `darter_args`.
inline ServerPair StartRedisAndDarter(std::vector<std::string> darter_args) {
  ServerPair p{StartRedis(), StartDarter(0, std::move(darter_args))};
  REQUIRE_MESSAGE(p.redis.status.ok, p.redis.status.message);
  REQUIRE_MESSAGE(p.darter.status.ok, p.darter.status.message);
  return p;
}

// Runs `argv` on both and checks that Darter's reply is Redis's.
inline void SameReply(Client& redis, Client& darter, const std::vector<std::string>& argv) {
  CAPTURE(FormatCommand(argv));
  CHECK(Format(darter.Cmd(argv)) == Format(redis.Cmd(argv)));
}

}  // namespace darter::test
