// Pins down ReplyBuilder's RESP2/RESP3 encodings (checked against redis-server 7.0.15).
#include "resp/reply_builder.h"

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace darter::resp {
namespace {

// Encodes with `fn` in the given protocol and returns the bytes.
template <typename Fn>
std::string Encode(int protocol, Fn fn) {
  std::string out;
  ReplyBuilder b(&out);
  b.SetProtocol(protocol);
  fn(b);
  return out;
}

template <typename Fn>
void CheckBoth(Fn fn, std::string_view resp2, std::string_view resp3) {
  CHECK(Encode(2, fn) == resp2);
  CHECK(Encode(3, fn) == resp3);
}

TEST_CASE("protocol defaults to 2 and accepts only 2 or 3") {
  std::string out;
  ReplyBuilder b(&out);
  CHECK(b.protocol() == 2);
  b.SetProtocol(3);
  CHECK(b.protocol() == 3);
  b.SetProtocol(4);
  CHECK(b.protocol() == 3);
  b.SetProtocol(2);
  CHECK(b.protocol() == 2);
  CHECK(b.out() == &out);
}

TEST_CASE("builder appends to the existing buffer") {
  std::string out = "prefix";
  ReplyBuilder b(&out);
  b.Ok();
  b.Integer(5);
  CHECK(out == "prefix+OK\r\n:5\r\n");
}

TEST_CASE("scalar encodings in RESP2 and RESP3") {
  CheckBoth([](ReplyBuilder& b) { b.SimpleString("PONG"); }, "+PONG\r\n", "+PONG\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Ok(); }, "+OK\r\n", "+OK\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Error("ERR no"); }, "-ERR no\r\n", "-ERR no\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Integer(0); }, ":0\r\n", ":0\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Integer(-42); }, ":-42\r\n", ":-42\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Integer(INT64_MAX); }, ":9223372036854775807\r\n",
            ":9223372036854775807\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Integer(INT64_MIN); }, ":-9223372036854775808\r\n",
            ":-9223372036854775808\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Bulk("hello"); }, "$5\r\nhello\r\n", "$5\r\nhello\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Bulk(""); }, "$0\r\n\r\n", "$0\r\n\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Bulk(std::string_view("a\r\n\0", 4)); },
            std::string_view("$4\r\na\r\n\0\r\n", 10), std::string_view("$4\r\na\r\n\0\r\n", 10));
  CheckBoth([](ReplyBuilder& b) { b.Null(); }, "$-1\r\n", "_\r\n");
  CheckBoth([](ReplyBuilder& b) { b.NullArray(); }, "*-1\r\n", "_\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Bool(true); }, ":1\r\n", "#t\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Bool(false); }, ":0\r\n", "#f\r\n");
  CheckBoth([](ReplyBuilder& b) { b.BigNumber("1234567890123456789012"); },
            "$22\r\n1234567890123456789012\r\n", "(1234567890123456789012\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Verbatim("hi"); }, "$2\r\nhi\r\n", "=6\r\ntxt:hi\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Verbatim("# x", "mkd"); }, "$3\r\n# x\r\n", "=7\r\nmkd:# x\r\n");
  CheckBoth([](ReplyBuilder& b) { b.Raw("+RAW\r\n"); }, "+RAW\r\n", "+RAW\r\n");
}

TEST_CASE("error messages cannot break the line") {
  CheckBoth([](ReplyBuilder& b) { b.Error("ERR bad\r\nthing\n"); }, "-ERR bad  thing \r\n",
            "-ERR bad  thing \r\n");
  CheckBoth([](ReplyBuilder& b) { b.Error("-WRONGTYPE x"); }, "-WRONGTYPE x\r\n", "-WRONGTYPE x\r\n");
}

TEST_CASE("aggregate headers in RESP2 and RESP3") {
  CheckBoth([](ReplyBuilder& b) { b.ArrayHeader(3); }, "*3\r\n", "*3\r\n");
  CheckBoth([](ReplyBuilder& b) { b.ArrayHeader(0); }, "*0\r\n", "*0\r\n");
  CheckBoth([](ReplyBuilder& b) { b.MapHeader(2); }, "*4\r\n", "%2\r\n");
  CheckBoth([](ReplyBuilder& b) { b.SetHeader(2); }, "*2\r\n", "~2\r\n");
  CheckBoth([](ReplyBuilder& b) { b.PushHeader(3); }, "*3\r\n", ">3\r\n");
  const std::vector<std::string_view> items = {"a", "", "ccc"};
  CheckBoth([&](ReplyBuilder& b) { b.BulkArray(items); }, "*3\r\n$1\r\na\r\n$0\r\n\r\n$3\r\nccc\r\n",
            "*3\r\n$1\r\na\r\n$0\r\n\r\n$3\r\nccc\r\n");
  CheckBoth([](ReplyBuilder& b) { b.BulkArray({}); }, "*0\r\n", "*0\r\n");
}

TEST_CASE("doubles are formatted exactly as Redis 7.0 (%.17g)") {
  struct Case {
    double d;
    std::string_view repr;
  };
  // Observed from redis-server 7.0.15 (ZSCORE in RESP2 and RESP3, Lua doubles for -0/NaN).
  const Case cases[] = {
      {1.1, "1.1000000000000001"},
      {0.1, "0.10000000000000001"},
      {3, "3"},
      {0.0, "0"},
      {-0.0, "-0"},
      {100, "100"},
      {0.5, "0.5"},
      {-1.5, "-1.5"},
      {1e300, "1.0000000000000001e+300"},
      {1e-300, "1e-300"},
      {1e15, "1000000000000000"},
      {1e16, "10000000000000000"},
      {1e17, "1e+17"},
      {99999999999999984.0, "99999999999999984"},  // largest double below 1e17
      {-99999999999999984.0, "-99999999999999984"},
      {9007199254740993.0, "9007199254740992"},    // 2^53 + 1 rounds to 2^53
      {-42, "-42"},
      {1e-4, "0.0001"},
      {1e-5, "1.0000000000000001e-05"},
      {2.5e-5, "2.5000000000000001e-05"},
      {123456789012345678.0, "1.2345678901234568e+17"},
      {5e-324, "4.9406564584124654e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {std::numeric_limits<double>::infinity(), "inf"},
      {-std::numeric_limits<double>::infinity(), "-inf"},
      {std::numeric_limits<double>::quiet_NaN(), "nan"},
      {-std::numeric_limits<double>::quiet_NaN(), "-nan"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.repr);
    const std::string resp2 = "$" + std::to_string(c.repr.size()) + "\r\n" + std::string(c.repr) + "\r\n";
    const std::string resp3 = "," + std::string(c.repr) + "\r\n";
    CHECK(Encode(2, [&](ReplyBuilder& b) { b.Double(c.d); }) == resp2);
    CHECK(Encode(3, [&](ReplyBuilder& b) { b.Double(c.d); }) == resp3);
  }
}

TEST_CASE("FormatDouble agrees with printf %.17g on random bit patterns") {
  std::mt19937_64 rng(12345);
  char mine[40];
  char ref[64];
  for (int i = 0; i < 200000; ++i) {
    const uint64_t bits = rng();
    double d;
    std::memcpy(&d, &bits, sizeof d);
    if (i % 3 == 0) d = std::ldexp(static_cast<double>(bits >> 11), static_cast<int>(bits % 200) - 100);
    // Integral values around the integer fast path's bounds (1e17) and small ones.
    if (i % 3 == 1) {
      d = std::trunc(std::ldexp(static_cast<double>(bits >> 11), static_cast<int>(bits % 70) - 60));
      if (bits & 1) d = -d;
    }
    const size_t n = ReplyBuilder::FormatDouble(d, mine);
    std::snprintf(ref, sizeof ref, "%.17g", d);
    REQUIRE(std::string_view(mine, n) == std::string_view(ref));
  }
}

}  // namespace
}  // namespace darter::resp
