// Pins down ReplyParser: round trips of every ReplyBuilder encoding, every split point,
// and the safety limits.
#include "resp/reply_parser.h"

#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_builder.h"

namespace darter::resp {
namespace {

using Type = Reply::Type;

// Parses `data`, which must hold exactly one reply, checking that every proper prefix
// asks for more and that the parse consumes exactly the reply.
Reply ParseExactly(std::string_view data) {
  ReplyParser p;
  Reply r;
  for (size_t n = 0; n < data.size(); ++n) {
    CAPTURE(n);
    const ParseResult pr = p.Parse(data.substr(0, n), &r);
    REQUIRE(pr.status == ParseStatus::kNeedMore);
  }
  const std::string with_trailer = std::string(data) + "+NEXT\r\n";
  const ParseResult pr = p.Parse(with_trailer, &r);
  REQUIRE(pr.status == ParseStatus::kCommand);
  CHECK(pr.consumed == data.size());
  return r;
}

std::string ErrorOf(std::string_view data) {
  ReplyParser p;
  Reply r;
  const ParseResult pr = p.Parse(data, &r);
  if (pr.status != ParseStatus::kError) return "";
  return std::string(pr.error);
}

std::string Build(int protocol, const std::function<void(ReplyBuilder&)>& fn) {
  std::string out;
  ReplyBuilder b(&out);
  b.SetProtocol(protocol);
  fn(b);
  return out;
}

TEST_CASE("scalars round trip through the builder") {
  for (int protocol : {2, 3}) {
    CAPTURE(protocol);
    Reply r = ParseExactly(Build(protocol, [](ReplyBuilder& b) { b.SimpleString("PONG"); }));
    CHECK(r.type == Type::kSimple);
    CHECK(r.str == "PONG");

    r = ParseExactly(Build(protocol, [](ReplyBuilder& b) { b.Error("ERR oops"); }));
    CHECK(r.type == Type::kError);
    CHECK(r.str == "ERR oops");

    r = ParseExactly(Build(protocol, [](ReplyBuilder& b) { b.Integer(INT64_MIN); }));
    CHECK(r.type == Type::kInteger);
    CHECK(r.integer == INT64_MIN);

    r = ParseExactly(Build(protocol, [](ReplyBuilder& b) { b.Bulk(std::string_view("a\r\n\0b", 5)); }));
    CHECK(r.type == Type::kBulk);
    CHECK(r.str == std::string_view("a\r\n\0b", 5));

    r = ParseExactly(Build(protocol, [](ReplyBuilder& b) { b.Null(); }));
    CHECK(r.type == Type::kNull);
    r = ParseExactly(Build(protocol, [](ReplyBuilder& b) { b.NullArray(); }));
    CHECK(r.type == Type::kNull);
  }
}

TEST_CASE("RESP3 scalars round trip") {
  Reply r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Double(1.1); }));
  CHECK(r.type == Type::kDouble);
  CHECK(r.dbl == 1.1);
  CHECK(r.str == "1.1000000000000001");
  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Double(-std::numeric_limits<double>::infinity()); }));
  CHECK(r.dbl == -std::numeric_limits<double>::infinity());
  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Double(std::nan("")); }));
  CHECK(std::isnan(r.dbl));
  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Double(1e-300); }));
  CHECK(r.dbl == 1e-300);

  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Bool(true); }));
  CHECK(r.type == Type::kBool);
  CHECK(r.boolean);
  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Bool(false); }));
  CHECK(r.type == Type::kBool);
  CHECK_FALSE(r.boolean);

  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.BigNumber("-3492890328409238509324850943850943825024385"); }));
  CHECK(r.type == Type::kBigNumber);
  CHECK(r.str == "-3492890328409238509324850943850943825024385");

  r = ParseExactly(Build(3, [](ReplyBuilder& b) { b.Verbatim("Some string\r\n", "mkd"); }));
  CHECK(r.type == Type::kVerbatim);
  CHECK(r.format == "mkd");
  CHECK(r.str == "Some string\r\n");

  // Blob error.
  r = ParseExactly("!21\r\nSYNTAX invalid syntax\r\n");
  CHECK(r.type == Type::kError);
  CHECK(r.str == "SYNTAX invalid syntax");
}

TEST_CASE("RESP2 renderings of RESP3 types parse as their RESP2 shapes") {
  Reply r = ParseExactly(Build(2, [](ReplyBuilder& b) { b.Double(3); }));
  CHECK(r.type == Type::kBulk);
  CHECK(r.str == "3");
  r = ParseExactly(Build(2, [](ReplyBuilder& b) { b.Bool(true); }));
  CHECK(r.type == Type::kInteger);
  CHECK(r.integer == 1);
  r = ParseExactly(Build(2, [](ReplyBuilder& b) {
    b.MapHeader(1);
    b.Bulk("k");
    b.Integer(1);
  }));
  CHECK(r.type == Type::kArray);
  CHECK(r.elements.size() == 2);
}

TEST_CASE("aggregates round trip, nested") {
  const std::string data = Build(3, [](ReplyBuilder& b) {
    b.ArrayHeader(4);
    b.Integer(1);
    b.MapHeader(2);
    b.Bulk("a");
    b.SetHeader(2);
    b.Bulk("x");
    b.Bulk("y");
    b.Bulk("b");
    b.ArrayHeader(0);
    b.Null();
    b.PushHeader(2);
    b.Bulk("message");
    b.Double(0.5);
  });
  const Reply r = ParseExactly(data);
  REQUIRE(r.type == Type::kArray);
  REQUIRE(r.elements.size() == 4);
  CHECK(r.elements[0].integer == 1);
  const Reply& map = r.elements[1];
  REQUIRE(map.type == Type::kMap);
  REQUIRE(map.elements.size() == 4);
  CHECK(map.elements[0].str == "a");
  CHECK(map.elements[1].type == Type::kSet);
  CHECK(map.elements[1].elements.size() == 2);
  CHECK(map.elements[1].elements[1].str == "y");
  CHECK(map.elements[2].str == "b");
  CHECK(map.elements[3].type == Type::kArray);
  CHECK(map.elements[3].elements.empty());
  CHECK(r.elements[2].type == Type::kNull);
  CHECK(r.elements[3].type == Type::kPush);
  CHECK(r.elements[3].elements[1].dbl == 0.5);

  const std::vector<std::string_view> items = {"one", "two"};
  const Reply arr = ParseExactly(Build(2, [&](ReplyBuilder& b) { b.BulkArray(items); }));
  REQUIRE(arr.elements.size() == 2);
  CHECK(arr.elements[1].str == "two");
}

TEST_CASE("attributes annotate without counting as elements") {
  Reply r = ParseExactly("|1\r\n+ttl\r\n:3600\r\n");
  CHECK(r.type == Type::kAttribute);
  CHECK(r.elements.size() == 2);

  r = ParseExactly("*2\r\n|1\r\n+key-popularity\r\n:90\r\n:1\r\n:2\r\n");
  REQUIRE(r.type == Type::kArray);
  REQUIRE(r.elements.size() == 3);
  CHECK(r.elements[0].type == Type::kAttribute);
  CHECK(r.elements[1].integer == 1);
  CHECK(r.elements[2].integer == 2);
}

TEST_CASE("consecutive replies parse one at a time") {
  const std::string data = "+OK\r\n:5\r\n$3\r\nabc\r\n*1\r\n_\r\n";
  ReplyParser p;
  Reply r;
  std::string_view rest = data;
  std::vector<Type> types;
  while (!rest.empty()) {
    const ParseResult pr = p.Parse(rest, &r);
    REQUIRE(pr.status == ParseStatus::kCommand);
    types.push_back(r.type);
    rest.remove_prefix(pr.consumed);
  }
  CHECK(types == std::vector<Type>{Type::kSimple, Type::kInteger, Type::kBulk, Type::kArray});
}

TEST_CASE("incomplete bulk hints its full size") {
  ReplyParser p;
  Reply r;
  const ParseResult pr = p.Parse("$10\r\nabc", &r);
  CHECK(pr.status == ParseStatus::kNeedMore);
  CHECK(pr.need_at_least == 5 + 10 + 2);
}

TEST_CASE("malformed replies are errors") {
  CHECK_FALSE(ErrorOf("?1\r\n").empty());
  CHECK_FALSE(ErrorOf(":12a\r\n").empty());
  CHECK_FALSE(ErrorOf(":\r\n").empty());
  CHECK_FALSE(ErrorOf("$-2\r\n").empty());
  CHECK_FALSE(ErrorOf("$abc\r\n").empty());
  CHECK_FALSE(ErrorOf("$3\r\nabcde").empty());  // payload not followed by CRLF
  CHECK_FALSE(ErrorOf("*-2\r\n").empty());
  CHECK_FALSE(ErrorOf("%-1\r\n").empty());
  CHECK_FALSE(ErrorOf("_x\r\n").empty());
  CHECK_FALSE(ErrorOf(",abc\r\n").empty());
  CHECK_FALSE(ErrorOf(",1.5x\r\n").empty());
  CHECK_FALSE(ErrorOf("#x\r\n").empty());
  CHECK_FALSE(ErrorOf("(12a\r\n").empty());
  CHECK_FALSE(ErrorOf("(\r\n").empty());
  CHECK_FALSE(ErrorOf("=3\r\ntxt\r\n").empty());
  CHECK_FALSE(ErrorOf("=4\r\ntxtx\r\n").empty());
  CHECK_FALSE(ErrorOf("+OK\rX").empty());
  CHECK_FALSE(ErrorOf("$?\r\n").empty());  // streamed strings are not supported
  CHECK_FALSE(ErrorOf("*1\r\n?\r\n").empty());
  CHECK_FALSE(ErrorOf("+" + std::string(70000, 'a')).empty());
}

TEST_CASE("nesting depth is bounded") {
  const size_t max = ReplyParser::kMaxDepth;
  std::string ok;
  for (size_t i = 0; i < max; ++i) ok += "*1\r\n";
  ok += ":1\r\n";
  ReplyParser p;
  Reply r;
  CHECK(p.Parse(ok, &r).status == ParseStatus::kCommand);
  const std::string too_deep = "*1\r\n" + ok;
  const ParseResult pr = p.Parse(too_deep, &r);
  CHECK(pr.status == ParseStatus::kError);
  CHECK(pr.error == "Protocol error: reply nested too deeply");
}

TEST_CASE("hostile lengths do not allocate up front") {
  ReplyParser p;
  Reply r;
  // A two-billion-element array announced with nothing behind it just needs more input.
  CHECK(p.Parse("*2147483647\r\n", &r).status == ParseStatus::kNeedMore);
  CHECK(p.Parse("%2147483647\r\n:1\r\n", &r).status == ParseStatus::kNeedMore);
  CHECK(p.Parse("$536870912\r\n", &r).status == ParseStatus::kNeedMore);
  CHECK(p.Parse("$536870913\r\n", &r).status == ParseStatus::kError);
  CHECK(p.Parse("*2147483648\r\n", &r).status == ParseStatus::kError);
}

}  // namespace
}  // namespace darter::resp
