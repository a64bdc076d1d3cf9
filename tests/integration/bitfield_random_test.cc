// Randomized differential test: seeded random sequences of SETBIT GETBIT BITCOUNT
// BITPOS BITFIELD BITFIELD_RO BITOP (plus GET/SET/DEL/APPEND to shape the strings)
// and of PFADD PFCOUNT PFMERGE (plus GET of the HLL bytes), sent to redis-server and
// to darter-server (--threads 2, so multi-key commands straddle shards) and compared
// reply by reply.
//
// The seed comes from DARTER_RANDOM_SEED or the clock and is printed with any
// mismatch; rerun with DARTER_RANDOM_SEED=<seed> to replay. Bounded by a command
// count and a deadline.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using Clock = std::chrono::steady_clock;
using Command = std::vector<std::string>;

constexpr int kCommands = 40000;
constexpr int kBatch = 50;
constexpr auto kDeadline = std::chrono::seconds(15);

uint64_t SeedFromEnv() {
  if (const char* s = std::getenv("DARTER_RANDOM_SEED")) return std::strtoull(s, nullptr, 10);
  return static_cast<uint64_t>(Clock::now().time_since_epoch().count());
}

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  int Int(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  int64_t Int64(int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng_); }
  bool Chance(int percent) { return Int(1, 100) <= percent; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Int(0, static_cast<int>(v.size()) - 1)]; }

  // Keys spread over shards by name, plus one wrong-typed key.
  std::string Key() { return Pick(std::vector<std::string>{"b0", "b1", "b2", "bits:x", "bits:y", "{t}z", "lst"}); }

  std::string Bytes(int max_len) {
    std::string s(Int(0, max_len), '\0');
    for (char& c : s) {
      int kind = Int(0, 3);
      c = static_cast<char>(kind == 0 ? 0 : kind == 1 ? 0xFF : Int(0, 255));
    }
    return s;
  }

  // Small, negative, large, malformed: the ranges the commands must clamp or reject.
  std::string Index(int span) {
    int k = Int(0, 19);
    if (k == 0) return "x";
    if (k == 1) return std::to_string(Int64(-100000, 100000));
    return std::to_string(Int(-span, span));
  }

  std::string Offset() {
    int k = Int(0, 39);
    if (k == 0) return "-1";
    if (k == 1) return "4294967296";
    if (k == 2) return "abc";
    return std::to_string(Int(0, 400));
  }

  std::string Unit() {
    int k = Int(0, 9);
    return k < 4 ? "BIT" : k < 8 ? "BYTE" : k == 8 ? "bit" : "BITS";
  }

  std::string Type() {
    int k = Int(0, 29);
    if (k == 0) return "u64";
    if (k == 1) return "i0";
    bool sign = Chance(50);
    int bits = Chance(30) ? Pick(std::vector<int>{1, 8, 16, 32, 63, 64}) : Int(1, 64);
    if (!sign && bits == 64) bits = 63;
    return std::string(sign ? "i" : "u") + std::to_string(bits);
  }

  std::string FieldOffset() {
    if (Chance(25)) return "#" + std::to_string(Int(0, 20));
    return std::to_string(Int(0, 300));
  }

  std::string Value() {
    int k = Int(0, 9);
    if (k == 0) return std::to_string(Int64(INT64_MIN, INT64_MAX));
    if (k == 1) return Pick(std::vector<std::string>{"9223372036854775807", "-9223372036854775808", "-1", "0"});
    if (k == 2) return std::to_string(Int64(-70000, 70000));
    return std::to_string(Int(-300, 300));
  }

  Command BitCommand() {
    std::string key = Key();
    switch (Int(0, 13)) {
      case 0:
      case 1:
        return {"SETBIT", key, Offset(), Chance(95) ? std::to_string(Int(0, 1)) : "2"};
      case 2:
        return {"GETBIT", key, Offset()};
      case 3: {
        Command c{"BITCOUNT", key};
        int form = Int(0, 3);
        if (form >= 1) {
          c.push_back(Index(60));
          c.push_back(Index(60));
        }
        if (form >= 2) c.push_back(Unit());
        if (form == 3 && Chance(10)) c.push_back("extra");
        return c;
      }
      case 4:
      case 5: {
        Command c{"BITPOS", key, Chance(95) ? std::to_string(Int(0, 1)) : "3"};
        int form = Int(0, 3);
        if (form >= 1) c.push_back(Index(60));
        if (form >= 2) c.push_back(Index(60));
        if (form >= 3) c.push_back(Unit());
        return c;
      }
      case 6:
      case 7:
      case 8: {
        Command c{Chance(85) ? "BITFIELD" : "BITFIELD_RO", key};
        int n = Int(0, 4);
        for (int i = 0; i < n; ++i) {
          int op = Int(0, 9);
          if (op < 3) {
            c.insert(c.end(), {"GET", Type(), FieldOffset()});
          } else if (op < 6) {
            c.insert(c.end(), {"SET", Type(), FieldOffset(), Value()});
          } else if (op < 9) {
            c.insert(c.end(), {"INCRBY", Type(), FieldOffset(), Value()});
          } else {
            c.insert(c.end(), {"OVERFLOW", Pick(std::vector<std::string>{"WRAP", "SAT", "FAIL", "sat"})});
          }
        }
        return c;
      }
      case 9:
      case 10: {
        std::string op = Pick(std::vector<std::string>{"AND", "OR", "XOR", "NOT", "and"});
        Command c{"BITOP", op, Key()};
        int n = op == "NOT" && Chance(95) ? 1 : Int(1, 3);
        for (int i = 0; i < n; ++i) c.push_back(Key());
        return c;
      }
      case 11:
        return {"GET", key};
      case 12:
        if (Chance(50)) return {"SET", key, Bytes(40)};
        return {"APPEND", key, Bytes(10)};
      default:
        return Chance(30) ? Command{"DEL", key} : Command{"STRLEN", key};
    }
  }

  std::string HllKey() { return Pick(std::vector<std::string>{"h0", "h1", "hll:a", "hll:b", "{t}h", "lst"}); }

  Command HllCommand() {
    switch (Int(0, 9)) {
      case 0:
      case 1:
      case 2:
      case 3: {
        Command c{"PFADD", HllKey()};
        // Element pools of different sizes, so registers collide and sparse runs merge.
        int pool = Pick(std::vector<int>{20, 500, 100000});
        int n = Chance(10) ? Int(100, 400) : Int(0, 8);
        for (int i = 0; i < n; ++i) c.push_back("e" + std::to_string(Int(0, pool)));
        return c;
      }
      case 4:
      case 5: {
        Command c{"PFCOUNT", HllKey()};
        int n = Int(0, 2);
        for (int i = 0; i < n; ++i) c.push_back(HllKey());
        return c;
      }
      case 6: {
        Command c{"PFMERGE", HllKey()};
        int n = Int(0, 3);
        for (int i = 0; i < n; ++i) c.push_back(HllKey());
        return c;
      }
      case 7:
      case 8:
        return {"GET", HllKey()};
      default:
        return Chance(20) ? Command{"DEL", HllKey()} : Command{"SET", HllKey(), "not an hll"};
    }
  }

 private:
  std::mt19937_64 rng_;
};

// Runs `kCommands` generated commands on both servers, batch by batch; returns the
// first mismatch as text, or "" when every reply matched.
template <typename Next>
std::string RunDifferential(uint64_t seed, Next next) {
  StartedServer redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client rc(redis.port()), dc(darter.port());
  REQUIRE(rc.ok());
  REQUIRE(dc.ok());
  rc.Cmd({"RPUSH", "lst", "x"});
  dc.Cmd({"RPUSH", "lst", "x"});

  auto start = Clock::now();
  int sent = 0;
  while (sent < kCommands && Clock::now() - start < kDeadline) {
    std::vector<Command> batch;
    for (int i = 0; i < kBatch; ++i) batch.push_back(next());
    std::vector<Reply> rr = rc.Pipeline(batch), dr = dc.Pipeline(batch);
    for (size_t i = 0; i < batch.size(); ++i) {
      std::string a = Format(rr[i]), b = Format(dr[i]);
      if (a != b) {
        return "seed " + std::to_string(seed) + ", command #" + std::to_string(sent + i) + ": " +
               FormatCommand(batch[i]) + "\n  redis:  " + a.substr(0, 600) + "\n  darter: " + b.substr(0, 600) +
               "\n  replay with DARTER_RANDOM_SEED=" + std::to_string(seed);
      }
    }
    sent += static_cast<int>(batch.size());
  }
  MESSAGE("seed " << seed << ": " << sent << " commands matched");
  return {};
}

TEST_CASE("Random bitmap command sequences reply as redis-server does") {
  uint64_t seed = SeedFromEnv();
  Gen gen(seed);
  std::string mismatch = RunDifferential(seed, [&] { return gen.BitCommand(); });
  CHECK_MESSAGE(mismatch.empty(), mismatch);
}

TEST_CASE("Random HyperLogLog command sequences reply (and store bytes) as redis-server does") {
  uint64_t seed = SeedFromEnv() + 1;
  Gen gen(seed);
  std::string mismatch = RunDifferential(seed, [&] { return gen.HllCommand(); });
  CHECK_MESSAGE(mismatch.empty(), mismatch);
}

}  // namespace
}  // namespace darter::test
