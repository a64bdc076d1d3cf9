// Multi-key commands are atomic across shards: concurrent clients of a
// multi-threaded darter-server never observe half of an MSET, both winners
// of two conflicting MSETNX, or half of a DEL.
//
// Which shard a key lands on is the server's business, so every check uses
// several key groups (plain names and {hashtag} names); with --threads 2 or 4
// some of them straddle shards. Load is bounded by a count and a deadline;
// no assertion depends on timing.
//
// DARTER_IT_USE_REDIS=1 runs the same checks against redis-server (single
// threaded, trivially atomic): a self-check of the test's own logic.
#include <doctest/doctest.h>

#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/server_process.h"
#include "support/server_under_test.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr auto kLoadDuration = 2s;
constexpr int kMaxOpsPerThread = 20000;
constexpr int kPipelineDepth = 8;

// Key groups written and read as a unit. Some share a hashtag (one shard),
// the others are spread by name.
std::vector<std::vector<std::string>> KeyGroups() {
  return {
      {"a", "b"},
      {"x1", "y1"},
      {"user:1", "user:2"},
      {"k17", "k42"},
      {"alpha", "omega"},
      {"{t}a", "{t}b"},
      {"p", "q", "r", "s"},
      {"w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"},
  };
}

std::vector<std::string> MsetArgs(const std::vector<std::string>& keys, const std::string& value) {
  std::vector<std::string> argv = {"MSET"};
  for (const auto& key : keys) {
    argv.push_back(key);
    argv.push_back(value);
  }
  return argv;
}

std::vector<std::string> MgetArgs(const std::vector<std::string>& keys) {
  std::vector<std::string> argv = {"MGET"};
  argv.insert(argv.end(), keys.begin(), keys.end());
  return argv;
}

// All elements of an MGET reply are the same string.
bool Uniform(const Reply& reply, size_t expected_size) {
  if (reply.type != Reply::Type::kArray || reply.elements.size() != expected_size) return false;
  for (const auto& element : reply.elements) {
    if (element.type != Reply::Type::kString || element.str != reply.elements[0].str) return false;
  }
  return true;
}

void RunMsetAgainstMget(int threads) {
  StartedServer server = StartServerUnderTest(threads);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  const auto groups = KeyGroups();
  {
    Client setup(port);
    REQUIRE(setup.ok());
    for (const auto& keys : groups) REQUIRE(Format(setup.Cmd(MsetArgs(keys, "init"))) == "+OK");
  }

  Failures failures;
  std::atomic<long> writes{0}, reads{0};
  const auto deadline = Clock::now() + kLoadDuration;
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      Client client(port);
      if (!client.ok()) return failures.Add("writer connect: " + client.error());
      const bool pipelined = w % 2 == 1;
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline;) {
        std::vector<std::vector<std::string>> batch;
        for (int i = 0; i < (pipelined ? kPipelineDepth : 1); ++i, ++n) {
          const std::string value = std::to_string(w) + ":" + std::to_string(n);
          batch.push_back(MsetArgs(groups[n % groups.size()], value));
        }
        for (const auto& reply : client.Pipeline(batch)) {
          if (Format(reply) != "+OK") return failures.Add("MSET replied " + Format(reply));
        }
        writes += static_cast<long>(batch.size());
      }
    });
  }
  for (int r = 0; r < 4; ++r) {
    workers.emplace_back([&, r] {
      Client client(port);
      if (!client.ok()) return failures.Add("reader connect: " + client.error());
      const bool pipelined = r % 2 == 0;
      for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline;) {
        std::vector<std::vector<std::string>> batch;
        std::vector<size_t> sizes;
        for (int i = 0; i < (pipelined ? kPipelineDepth : 1); ++i, ++n) {
          const auto& keys = groups[(n + r) % groups.size()];
          batch.push_back(MgetArgs(keys));
          sizes.push_back(keys.size());
        }
        auto replies = client.Pipeline(batch);
        for (size_t i = 0; i < replies.size(); ++i) {
          if (!Uniform(replies[i], sizes[i])) {
            failures.Add(FormatCommand(batch[i]) + " saw a torn MSET: " + Format(replies[i]));
            if (replies[i].IsIoError()) return;
          }
        }
        reads += static_cast<long>(batch.size());
      }
    });
  }
  for (auto& t : workers) t.join();

  INFO("threads=" << threads << " writes=" << writes.load() << " reads=" << reads.load());
  CHECK_MESSAGE(failures.count() == 0, failures.count() << " failures, first:\n" << failures.first());
  CHECK(writes > 0);
  CHECK(reads > 0);
  CHECK_MESSAGE(server.process->Running(), server.process->Describe() << "\n"
                                                                      << server.process->LogTail());
}

void RunMsetnxRace(int threads) {
  StartedServer server = StartServerUnderTest(threads);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();

  constexpr int kMaxRounds = 3000;
  Failures failures;
  std::atomic<bool> stop{false};
  std::barrier sync(2);
  // Written by each racer before the second barrier, read after it.
  long long result_a = -1, result_b = -1;
  int rounds = 0;
  const auto deadline = Clock::now() + kLoadDuration;

  auto keys_for = [](int round) {
    // Vary names so different rounds hit different shard pairs; every
    // fourth round co-locates all three keys with a hashtag.
    const std::string tag = round % 4 == 0 ? "{tag" + std::to_string(round % 3) + "}" : "";
    return std::vector<std::string>{tag + "x" + std::to_string(round % 13),
                                    tag + "k" + std::to_string(round % 17),
                                    tag + "y" + std::to_string(round % 19)};
  };

  std::thread racer_a([&] {
    Client client(port);
    Client checker(port);
    for (int round = 0;; ++round) {
      // Phase 1: a clean database, then decide whether to go on.
      std::string flushed = Format(client.Cmd({"FLUSHDB"}));
      if (flushed != "+OK") failures.Add("FLUSHDB replied " + flushed);
      if (round >= kMaxRounds || Clock::now() >= deadline || failures.count() > 0) stop = true;
      sync.arrive_and_wait();
      if (stop) return;
      // Phase 2: race.
      const auto keys = keys_for(round);
      Reply reply = client.Cmd({"MSETNX", keys[0], "v", keys[1], "v"});
      result_a = reply.type == Reply::Type::kInteger ? reply.integer : -1;
      if (result_a < 0) failures.Add("MSETNX (a) replied " + Format(reply));
      sync.arrive_and_wait();
      // Phase 3: exactly one winner, and the loser wrote nothing.
      rounds = round + 1;
      Reply state = checker.Cmd({"MGET", keys[0], keys[1], keys[2]});
      const std::string seen = Format(state);
      const std::string where = "round " + std::to_string(round) + " keys " +
                                FormatCommand(keys) + ": a=" + std::to_string(result_a) +
                                " b=" + std::to_string(result_b) + " state " + seen;
      if (result_a == 1 && result_b == 1) {
        failures.Add("both MSETNX won, " + where);
      } else if (result_a == 0 && result_b == 0) {
        failures.Add("neither MSETNX won on an empty db, " + where);
      } else if (result_a == 1 && seen != R"(["v", "v", (nil)])") {
        failures.Add("a won but state is wrong, " + where);
      } else if (result_b == 1 && seen != R"([(nil), "w", "w"])") {
        failures.Add("b won but state is wrong, " + where);
      }
    }
  });
  std::thread racer_b([&] {
    Client client(port);
    for (int round = 0;; ++round) {
      sync.arrive_and_wait();
      if (stop) return;
      const auto keys = keys_for(round);
      Reply reply = client.Cmd({"MSETNX", keys[1], "w", keys[2], "w"});
      result_b = reply.type == Reply::Type::kInteger ? reply.integer : -1;
      if (result_b < 0) failures.Add("MSETNX (b) replied " + Format(reply));
      sync.arrive_and_wait();
    }
  });
  racer_a.join();
  racer_b.join();

  INFO("threads=" << threads << " rounds=" << rounds);
  CHECK_MESSAGE(failures.count() == 0, failures.count() << " failures, first:\n" << failures.first());
  CHECK(rounds > 0);
  CHECK_MESSAGE(server.process->Running(), server.process->Describe() << "\n"
                                                                      << server.process->LogTail());
}

void RunDelAgainstExists(int threads) {
  StartedServer server = StartServerUnderTest(threads);
  REQUIRE_MESSAGE(server.status.ok, server.status.message);
  const int port = server.port();
  const auto groups = KeyGroups();

  Failures failures;
  std::atomic<bool> done{false};
  std::atomic<long> checks{0};
  const auto deadline = Clock::now() + kLoadDuration;
  std::thread writer([&] {
    Client client(port);
    for (int n = 0; n < kMaxOpsPerThread && Clock::now() < deadline && failures.count() == 0; ++n) {
      const auto& keys = groups[n % groups.size()];
      std::vector<std::string> del = {"DEL"};
      del.insert(del.end(), keys.begin(), keys.end());
      const auto replies = client.Pipeline({MsetArgs(keys, "1"), del});
      const std::string deleted = Format(replies[1]);
      if (Format(replies[0]) != "+OK" || deleted != ":" + std::to_string(keys.size())) {
        failures.Add("MSET+DEL replied " + Format(replies[0]) + " " + deleted);
      }
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      Client client(port);
      for (int n = 0; !done && n < kMaxOpsPerThread; ++n) {
        const auto& keys = groups[(n + r) % groups.size()];
        std::vector<std::string> exists = {"EXISTS"};
        exists.insert(exists.end(), keys.begin(), keys.end());
        Reply reply = client.Cmd(exists);
        if (reply.type != Reply::Type::kInteger ||
            (reply.integer != 0 && reply.integer != static_cast<long long>(keys.size()))) {
          failures.Add(FormatCommand(exists) + " saw a torn MSET/DEL: " + Format(reply));
          if (reply.IsIoError()) return;
        }
        ++checks;
      }
    });
  }
  writer.join();
  for (auto& t : readers) t.join();

  INFO("threads=" << threads << " checks=" << checks.load());
  CHECK_MESSAGE(failures.count() == 0, failures.count() << " failures, first:\n" << failures.first());
  CHECK_MESSAGE(server.process->Running(), server.process->Describe() << "\n"
                                                                      << server.process->LogTail());
}

TEST_CASE("MGET never sees half of a concurrent MSET (--threads 2)") { RunMsetAgainstMget(2); }
TEST_CASE("MGET never sees half of a concurrent MSET (--threads 4)") { RunMsetAgainstMget(4); }
TEST_CASE("two conflicting MSETNX never both win (--threads 2)") { RunMsetnxRace(2); }
TEST_CASE("two conflicting MSETNX never both win (--threads 4)") { RunMsetnxRace(4); }
TEST_CASE("EXISTS never sees half of a multi-key DEL (--threads 2)") { RunDelAgainstExists(2); }
TEST_CASE("EXISTS never sees half of a multi-key DEL (--threads 4)") { RunDelAgainstExists(4); }

}  // namespace
}  // namespace darter::test
