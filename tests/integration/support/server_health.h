// The check every hostile-client test case ends with: the server process is alive, a
// fresh client's PING is answered within a second, and the server's resident memory has
// come back under a bound (a case that made it allocate must also have made it let go).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>
#include <thread>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test {

// Resident set size of `pid` in bytes (from /proc), or 0 when it cannot be read.
inline uint64_t ResidentBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  uint64_t pages = 0, resident = 0;
  if (!(f >> pages >> resident)) return 0;
  return resident * 4096;
}

struct HealthReport {
  bool ok = false;
  std::string message;  // what failed, for the test's message
};

// Under AddressSanitizer (the test and the server it starts are built alike) freed
// memory waits in ASan's quarantine (256 MB by default) before it is reused, and shadow
// memory adds an eighth: the bound is widened by that much, not dropped.
inline uint64_t RssBoundForThisBuild(uint64_t bound) {
#if defined(__SANITIZE_ADDRESS__)
  return bound + bound / 8 + (320ull << 20);
#else
  return bound;
#endif
}

// Waits up to `settle` for RSS to come back under `max_rss_bytes` (freed memory can take
// a moment to be returned); PING must answer within 1 s on a new connection.
inline HealthReport CheckServerHealthy(ServerProcess& server, uint64_t max_rss_bytes,
                                       std::chrono::milliseconds settle = std::chrono::seconds(5)) {
  HealthReport r;
  max_rss_bytes = RssBoundForThisBuild(max_rss_bytes);
  if (!server.Running()) {
    r.message = "server process exited";
    return r;
  }
  {
    Client c(server.port(), std::chrono::seconds(1));
    std::string pong = Format(c.Cmd({"PING"}));
    if (pong != "+PONG" && pong.rfind("-NOAUTH", 0) != 0) {  // NOAUTH: answered, a password is set
      r.message = "fresh client's PING got " + pong;
      return r;
    }
  }
  auto deadline = std::chrono::steady_clock::now() + settle;
  uint64_t rss = ResidentBytes(server.pid());
  while (rss > max_rss_bytes && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    rss = ResidentBytes(server.pid());
  }
  if (rss > max_rss_bytes) {
    r.message = "RSS " + std::to_string(rss >> 20) + " MB over the bound of " +
                std::to_string(max_rss_bytes >> 20) + " MB";
    return r;
  }
  r.ok = true;
  return r;
}

}  // namespace darter::test
