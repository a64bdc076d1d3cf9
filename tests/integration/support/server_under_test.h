// Pieces shared by the concurrency tests (atomicity, transactions, blocking, scripting):
// which server they run against, and how worker threads report failures.
#pragma once

#include <cstdlib>
#include <mutex>
#include <string>

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

}  // namespace darter::test
