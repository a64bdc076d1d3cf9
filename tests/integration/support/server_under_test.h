// Pieces shared by the concurrency tests (atomicity, transactions, blocking, scripting):
// which server they run against, and how worker threads report failures.
#pragma once

#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"

#include "support/server_process.h"

namespace darter::test {

// DARTER_IT_USE_REDIS=1 runs the same test against redis-server (to check the test).
inline bool UseRedis() {
  const char* v = std::getenv("DARTER_IT_USE_REDIS");
  return v != nullptr && std::string(v) == "1";
}

inline StartedServer StartServerUnderTest(int threads) {
  if (UseRedis()) return StartRedis();
  return StartDarter(0, {"--threads", std::to_string(threads)});
}

// Failures seen by worker threads (doctest assertions stay on the test's thread): a
// count and the first five, for the test's message.
class Failures {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (count_++ < 5) first_ += what + "\n";
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  std::string first() const {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  mutable std::mutex mu_;
  int count_ = 0;
  std::string first_;
};

// blocked_clients from INFO clients, or -1.
inline long long BlockedClients(Client& admin) {
  Reply r = admin.Cmd({"INFO", "clients"});
  size_t p = r.str.find("blocked_clients:");
  if (p == std::string::npos) return -1;
  return std::atoll(r.str.c_str() + p + 16);
}

// Polls until `n` clients are blocked, at most `limit`.
inline bool WaitBlocked(Client& admin, long long n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (BlockedClients(admin) == n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

// Sends a command without reading its reply.
inline void Send(Client& c, const std::vector<std::string>& argv) {
  c.Append(argv);
  c.Flush();
}

// Polls `client` with PING until it answers BUSY (bounded by a count and a deadline).
// PING touches no key: a key command sent before the script turned busy would wait
// behind the script's locks instead (Darter serves it when the script ends).
inline bool WaitForBusy(Client& client) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int i = 0; i < 2000 && std::chrono::steady_clock::now() < deadline; ++i) {
    Reply r = client.Cmd({"PING"});
    if (r.type == Reply::Type::kError && r.str.rfind("BUSY", 0) == 0) return true;
    if (r.type == Reply::Type::kIoError) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

}  // namespace darter::test
