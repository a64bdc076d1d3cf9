// Pins down RequestParser's behaviour against Redis 7.0 (error strings and edge cases
// were checked with Debian's redis-server 7.0.15).
#include "resp/request_parser.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

namespace darter::resp {
namespace {

using Command = std::vector<std::string>;

// What a connection would see: the commands parsed in order, then the error if any.
struct Transcript {
  std::vector<Command> commands;
  std::string error;
  bool operator==(const Transcript&) const = default;
};

// Feeds `data` in pieces of `chunk` bytes (the last may be shorter) like a connection
// loop: append to a buffer, parse while commands come out, drop consumed bytes. Every
// call uses a fresh copy of the buffer so a parser that kept pointers would fail.
Transcript Feed(std::string_view data, size_t chunk, ParserLimits limits = {}) {
  RequestParser parser(limits);
  Transcript t;
  std::string buffer;
  std::vector<std::string_view> args;
  for (size_t off = 0; off < data.size(); off += chunk) {
    buffer.append(data.substr(off, chunk));
    for (;;) {
      const std::string moved = buffer;  // new address every call
      const ParseResult r = parser.Parse(moved, &args);
      if (r.status == ParseStatus::kNeedMore) break;
      if (r.status == ParseStatus::kError) {
        t.error = std::string(r.error);
        return t;
      }
      REQUIRE(r.consumed > 0);
      REQUIRE(r.consumed <= moved.size());
      if (!args.empty()) t.commands.emplace_back(args.begin(), args.end());
      buffer.erase(0, r.consumed);
    }
  }
  return t;
}

Transcript FeedWhole(std::string_view data, ParserLimits limits = {}) {
  return Feed(data, data.empty() ? 1 : data.size(), limits);
}

// Parses one complete buffer and returns the error, or "" if there was none.
std::string ErrorOf(std::string_view data, ParserLimits limits = {}) {
  return FeedWhole(data, limits).error;
}

std::string Mb(const Command& args) {
  std::string s = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string& a : args) s += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
  return s;
}

TEST_CASE("multibulk command parses into views of the input") {
  RequestParser p;
  std::vector<std::string_view> args;
  const std::string in = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\nrest";
  const ParseResult r = p.Parse(in, &args);
  REQUIRE(r.status == ParseStatus::kCommand);
  CHECK(r.consumed == in.size() - 4);
  REQUIRE(args.size() == 3);
  CHECK(args[0] == "SET");
  CHECK(args[1] == "k");
  CHECK(args[2] == "value");
  CHECK(args[2].data() == in.data() + in.find("value"));
}

TEST_CASE("inline command splits on whitespace and accepts bare LF") {
  CHECK(FeedWhole("SET k v\r\n").commands == std::vector<Command>{{"SET", "k", "v"}});
  CHECK(FeedWhole("  PING   \r\n").commands == std::vector<Command>{{"PING"}});
  CHECK(FeedWhole("\nPING\n").commands == std::vector<Command>{{"PING"}});
  // '\r' inside the line separates arguments too.
  CHECK(FeedWhole("ECHO a\rb\r\n").commands == std::vector<Command>{{"ECHO", "a", "b"}});
  CHECK(FeedWhole("PING\rX\r\n").commands == std::vector<Command>{{"PING", "X"}});
  // '\v' and '\f' end nothing inside an argument.
  CHECK(FeedWhole("ECHO a\vb\r\n").commands == std::vector<Command>{{"ECHO", "a\vb"}});
}

TEST_CASE("empty commands are returned with no args and consume their bytes") {
  for (std::string_view in : {"\r\n", "\n", "   \r\n", "*0\r\n", "*-1\r\n", "*-2\r\n"}) {
    CAPTURE(in);
    RequestParser p;
    std::vector<std::string_view> args{"junk"};
    const ParseResult r = p.Parse(in, &args);
    CHECK(r.status == ParseStatus::kCommand);
    CHECK(r.consumed == in.size());
    CHECK(args.empty());
  }
  CHECK(FeedWhole("*-1\r\nPING\r\n*0\r\n\r\nPING\r\n").commands ==
        std::vector<Command>{{"PING"}, {"PING"}});
}

TEST_CASE("every split of a multi-command buffer yields the same commands") {
  const std::string big(40000, 'B');  // a "big arg" (>= 32 KiB)
  std::string data;
  data += Mb({"SET", "key", "value"});
  data += "GET key\r\n";
  data += Mb({"ECHO", std::string("\r\n\0*$", 5)});
  data += "*0\r\n";
  data += "ECHO \"a\\x41\\n\" 'it\\'s'\n";
  data += Mb({});
  data += "\r\n";
  data += Mb({"SET", "big", big});
  data += Mb({""});
  data += "*-1\r\n";
  data += Mb({"LAST"});

  const Transcript whole = FeedWhole(data);
  REQUIRE(whole.error.empty());
  REQUIRE(whole.commands.size() == 7);
  CHECK(whole.commands[4] == Command{"SET", "big", big});
  CHECK(whole.commands[2][1] == std::string("\r\n\0*$", 5));
  CHECK(whole.commands[3] == Command{"ECHO", "aA\n", "it's"});

  CHECK(Feed(data, 1) == whole);
  for (size_t chunk : {2, 3, 7, 64, 1000, 4096, 32768}) {
    CAPTURE(chunk);
    CHECK(Feed(data, chunk) == whole);
  }
  // Two pieces, at every split point of the small part.
  const size_t small_end = data.find("$40000");
  for (size_t split = 1; split < small_end + 12; ++split) {
    CAPTURE(split);
    RequestParser p;
    Transcript t;
    std::string buffer(data.substr(0, split));
    std::vector<std::string_view> args;
    bool appended = false;
    for (;;) {
      const ParseResult r = p.Parse(buffer, &args);
      if (r.status == ParseStatus::kNeedMore) {
        if (appended) break;
        buffer += data.substr(split);
        appended = true;
        continue;
      }
      REQUIRE(r.status == ParseStatus::kCommand);
      if (!args.empty()) t.commands.emplace_back(args.begin(), args.end());
      buffer.erase(0, r.consumed);
    }
    CHECK(t == whole);
  }
}

TEST_CASE("big bulk fed in pieces resumes by offset and hints its full size") {
  const std::string payload(3 * 1024 * 1024 + 17, 'x');
  const std::string data = Mb({"SET", "k", payload});
  RequestParser p;
  std::vector<std::string_view> args;
  size_t fed = 0;
  // Give the header plus a little payload, then check the hint.
  fed = data.find(payload) + 10;
  ParseResult r = p.Parse(std::string_view(data).substr(0, fed), &args);
  REQUIRE(r.status == ParseStatus::kNeedMore);
  CHECK(r.need_at_least == data.size());
  // Then one byte at a time over a growing prefix: linear only if the parser resumes by
  // offset (a rescan from the start would take ~10^13 steps and time out).
  bool all_need_more = true;
  while (++fed < data.size()) {
    r = p.Parse(std::string_view(data).substr(0, fed), &args);
    all_need_more &= r.status == ParseStatus::kNeedMore && r.need_at_least == data.size();
  }
  CHECK(all_need_more);
  r = p.Parse(data, &args);
  REQUIRE(r.status == ParseStatus::kCommand);
  CHECK(r.consumed == data.size());
  REQUIRE(args.size() == 3);
  CHECK(args[2].size() == payload.size());
  CHECK(args[2].data() == data.data() + data.find(payload));
}

TEST_CASE("long inline line fed byte by byte stays linear") {
  std::string line = "ECHO " + std::string(60000, 'a') + "\r\n";
  RequestParser p;
  std::vector<std::string_view> args;
  bool all_need_more = true;
  for (size_t n = 1; n < line.size(); ++n) {
    all_need_more &= p.Parse(std::string_view(line).substr(0, n), &args).status == ParseStatus::kNeedMore;
  }
  CHECK(all_need_more);
  REQUIRE(p.Parse(line, &args).status == ParseStatus::kCommand);
  CHECK(args.size() == 2);
  CHECK(args[1].size() == 60000);
}

TEST_CASE("protocol errors carry Redis 7.0's exact strings") {
  CHECK(ErrorOf("*1\r\n$abc\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*abc\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\r\nx3\r\n") == "ERR Protocol error: expected '$', got 'x'");
  CHECK(ErrorOf("*1\r\n\r\n") == "ERR Protocol error: expected '$', got ' '");
  CHECK(ErrorOf("*1\r\n\x01\r\n") == "ERR Protocol error: expected '$', got '\x01'");
  CHECK(ErrorOf("*1\r\n$-1\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$600000000\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("\"abc\r\n") == "ERR Protocol error: unbalanced quotes in request");
  CHECK(ErrorOf("'abc\r\n") == "ERR Protocol error: unbalanced quotes in request");
  CHECK(ErrorOf("\"abc\"x\r\n") == "ERR Protocol error: unbalanced quotes in request");
  CHECK(ErrorOf("*" + std::string(70000, '1')) == "ERR Protocol error: too big mbulk count string");
  CHECK(ErrorOf("*1\r\n$" + std::string(70000, '1')) ==
        "ERR Protocol error: too big bulk count string");
  CHECK(ErrorOf(std::string(70000, 'a')) == "ERR Protocol error: too big inline request");
  CHECK(ErrorOf("*99999999999\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*2147483648\r\n") == "ERR Protocol error: invalid multibulk length");
}

TEST_CASE("length lines accept only canonical integers") {
  CHECK(ErrorOf("*+1\r\n$4\r\nPING\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*01\r\n$4\r\nPING\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*-0\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1 \r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\n$4\r\nPING\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\r\n$+4\r\nPING\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$04\r\nPING\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$-0\r\nPING\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$ 4\r\nPING\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$4 \r\nPING\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("*1\r\n$99999999999999999999\r\n") == "ERR Protocol error: invalid bulk length");
}

TEST_CASE("length lines must end in CRLF; bulk payload trailers are skipped as Redis does") {
  CHECK(ErrorOf("*1\rX$4\r\nPING\r\n") == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\r\n$4\rXPING\r\n") == "ERR Protocol error: invalid bulk length");
  CHECK(FeedWhole("*1\r\n$4\r\nPINGxx").commands == std::vector<Command>{{"PING"}});
  // "$1 ab": takes "a", skips "b\r", and the "\n" left over is an empty inline line.
  CHECK(FeedWhole("*1\r\n$1\r\nab\r\nPING\r\n").commands == std::vector<Command>{{"a"}, {"PING"}});
}

TEST_CASE("incomplete input asks for more") {
  for (std::string_view in : {"*", "*1", "*1\r", "*1\r\n", "*1\r\n$", "*1\r\n$4\r", "*1\r\n$4\r\n",
                              "*1\r\n$4\r\nPING", "*1\r\n$4\r\nPING\r", "PING", "PING\r",
                              "*1\r\n$4\r\nPING\n"}) {
    CAPTURE(in);
    RequestParser p;
    std::vector<std::string_view> args;
    CHECK(p.Parse(in, &args).status == ParseStatus::kNeedMore);
  }
  RequestParser p;
  std::vector<std::string_view> args;
  CHECK(p.Parse("", &args).status == ParseStatus::kNeedMore);
}

TEST_CASE("bulk length limit") {
  CHECK(ErrorOf("*1\r\n$536870913\r\n") == "ERR Protocol error: invalid bulk length");
  {
    RequestParser p;
    std::vector<std::string_view> args;
    const ParseResult r = p.Parse("*1\r\n$536870912\r\n", &args);
    CHECK(r.status == ParseStatus::kNeedMore);
    CHECK(r.need_at_least == 16 + 536870912 + 2);
  }
  ParserLimits small;
  small.max_bulk_len = 10;
  CHECK(ErrorOf(Mb({std::string(11, 'a')}), small) == "ERR Protocol error: invalid bulk length");
  CHECK(FeedWhole(Mb({std::string(10, 'a')}), small).commands ==
        std::vector<Command>{{std::string(10, 'a')}});
}

TEST_CASE("multibulk count limit") {
  {
    RequestParser p;
    std::vector<std::string_view> args;
    CHECK(p.Parse("*2147483647\r\n", &args).status == ParseStatus::kNeedMore);
  }
  ParserLimits small;
  small.max_multibulk_len = 2;
  CHECK(ErrorOf(Mb({"a", "b", "c"}), small) == "ERR Protocol error: invalid multibulk length");
  CHECK(FeedWhole(Mb({"a", "b"}), small).commands == std::vector<Command>{{"a", "b"}});
  // Limits can be changed between commands (e.g. after AUTH).
  RequestParser p(small);
  std::vector<std::string_view> args;
  CHECK(p.Parse(Mb({"a", "b"}), &args).status == ParseStatus::kCommand);
  ParserLimits relaxed = small;
  relaxed.max_multibulk_len = 10;
  p.set_limits(relaxed);
  CHECK(p.Parse(Mb({"a", "b", "c"}), &args).status == ParseStatus::kCommand);
  CHECK(args.size() == 3);
}

TEST_CASE("unauthenticated connections get Redis 7.0.15's tighter limits") {
  RequestParser p;
  std::vector<std::string_view> args;
  CHECK(p.authenticated());
  p.set_authenticated(false);
  CHECK(p.Parse(Mb(Command(10, "a")), &args).status == ParseStatus::kCommand);
  CHECK(p.Parse(Mb({std::string(16384, 'x')}), &args).status == ParseStatus::kCommand);
  CHECK(p.Parse("*-1\r\n", &args).status == ParseStatus::kCommand);
  ParseResult r = p.Parse("*11\r\n", &args);
  CHECK(r.status == ParseStatus::kError);
  CHECK(r.error == "ERR Protocol error: unauthenticated multibulk length");
  p.Reset();
  r = p.Parse("*1\r\n$16385\r\n", &args);
  CHECK(r.status == ParseStatus::kError);
  CHECK(r.error == "ERR Protocol error: unauthenticated bulk length");
  // Invalid lengths are still reported as invalid first, as in Redis.
  p.Reset();
  CHECK(p.Parse("*1\r\n$600000000\r\n", &args).error == "ERR Protocol error: invalid bulk length");
  p.Reset();
  CHECK(p.Parse("*2147483648\r\n", &args).error == "ERR Protocol error: invalid multibulk length");
  // Inline requests are not limited (Redis checks only multibulk lengths).
  p.Reset();
  CHECK(p.Parse("RPUSH l a b c d e f g h i j k l\r\n", &args).status == ParseStatus::kCommand);
  // After AUTH.
  p.set_authenticated(true);
  CHECK(p.Parse(Mb(Command(11, "a")), &args).status == ParseStatus::kCommand);
  CHECK(args.size() == 11);
}

TEST_CASE("inline and length-line size limits do not depend on how input was split") {
  const size_t max = ParserLimits{}.max_inline_len;
  // Exactly max bytes before the newline: accepted, whole or byte by byte.
  const std::string ok = std::string(max, 'a') + "\n";
  CHECK(FeedWhole(ok).error.empty());
  CHECK(FeedWhole(ok).commands.size() == 1);
  CHECK(Feed(ok, 4096).commands.size() == 1);
  // One more: rejected both ways, even when the newline arrives in the same read.
  const std::string too_long = std::string(max + 1, 'a') + "\n";
  CHECK(FeedWhole(too_long).error == "ERR Protocol error: too big inline request");
  CHECK(Feed(too_long, 4096).error == "ERR Protocol error: too big inline request");
  {
    RequestParser p;
    std::vector<std::string_view> args;
    CHECK(p.Parse(std::string(max, 'a'), &args).status == ParseStatus::kNeedMore);
    CHECK(p.Parse(std::string(max + 1, 'a'), &args).status == ParseStatus::kError);
  }
  ParserLimits small;
  small.max_inline_len = 8;
  CHECK(ErrorOf("*000000001\r\n", small) == "ERR Protocol error: too big mbulk count string");
  // The limit counts the line from its '*' or '$', as Redis does.
  CHECK(ErrorOf("*00000001\r\n", small) == "ERR Protocol error: too big mbulk count string");
  CHECK(ErrorOf("*0000001\r\n", small) == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf("*1\r\n$000000001\r\n", small) == "ERR Protocol error: too big bulk count string");
  CHECK(ErrorOf("*1\r\n$00000001\r\n", small) == "ERR Protocol error: too big bulk count string");
  CHECK(ErrorOf("*1\r\n$0000001\r\n", small) == "ERR Protocol error: invalid bulk length");
  CHECK(ErrorOf("123456789\n", small) == "ERR Protocol error: too big inline request");
  CHECK(FeedWhole("12345678\n", small).commands == std::vector<Command>{{"12345678"}});
}

TEST_CASE("inline quoting and escapes follow sdssplitargs") {
  struct Case {
    std::string_view line;
    Command args;
  };
  const Case cases[] = {
      {"ECHO \"a\\x41\\n\"", {"ECHO", "aA\n"}},
      {"ECHO \"\\xaF\"", {"ECHO", "\xaf"}},
      {"ECHO \"\\x4\"", {"ECHO", "x4"}},      // not two hex digits: \x is just x
      {"ECHO \"\\X41\"", {"ECHO", "X41"}},
      {"ECHO \"\\n\\r\\t\\b\\a\\\\\\\"\\q\"", {"ECHO", "\n\r\t\b\a\\\"q"}},
      {"ECHO 'a\\'b'", {"ECHO", "a'b"}},
      {"ECHO 'a\\nb'", {"ECHO", "a\\nb"}},     // no escapes but \' in single quotes
      {"ECHO 'a\"b'", {"ECHO", "a\"b"}},
      {"ECHO \"a'b\"", {"ECHO", "a'b"}},
      {"ECHO \"\"", {"ECHO", ""}},
      {"ECHO ''", {"ECHO", ""}},
      {"ECHO ab\"cd\"", {"ECHO", "abcd"}},      // a quote can open mid-argument
      {"ECHO \"a b\"  c", {"ECHO", "a b", "c"}},
      {"ECHO \"a\"\v", {"ECHO", "a"}},          // closing quote followed by isspace()
      {"ECHO \"a\rb\"", {"ECHO", "a\rb"}},
      {"ECHO \"a\tb\"\tc", {"ECHO", "a\tb", "c"}},
      {std::string_view("ECHO a\0b", 8), {"ECHO", std::string("a\0b", 3)}},  // NUL is a byte
  };
  for (const Case& c : cases) {
    CAPTURE(c.line);
    const std::string data = std::string(c.line) + "\r\n";
    const Transcript t = FeedWhole(data);
    CHECK(t.error == "");
    REQUIRE(t.commands.size() == 1);
    CHECK(t.commands[0] == c.args);
    CHECK(Feed(data, 1) == t);
  }
  for (std::string_view bad : {"ECHO ab\"cd\"e", "ECHO 'a'\"b\"", "ECHO \"a\\", "ECHO \"abc",
                               "ECHO 'abc", "ECHO 'a'b", "ECHO \"a\\\"", "ECHO 'a\\'"}) {
    CAPTURE(bad);
    CHECK(ErrorOf(std::string(bad) + "\r\n") == "ERR Protocol error: unbalanced quotes in request");
  }
}

TEST_CASE("NUL bytes are ordinary bytes in multibulk framing") {
  CHECK(ErrorOf(std::string("*1\0\r\n", 5)) == "ERR Protocol error: invalid multibulk length");
  CHECK(ErrorOf(std::string("*1\r\n\0\r\n", 7)) == std::string("ERR Protocol error: expected '$', got '") + '\0' + "'");
}

TEST_CASE("errors are sticky until Reset") {
  RequestParser p;
  std::vector<std::string_view> args;
  ParseResult r = p.Parse("*x\r\n", &args);
  REQUIRE(r.status == ParseStatus::kError);
  r = p.Parse("PING\r\n", &args);
  CHECK(r.status == ParseStatus::kError);
  CHECK(r.error == "ERR Protocol error: invalid multibulk length");
  p.Reset();
  r = p.Parse("PING\r\n", &args);
  CHECK(r.status == ParseStatus::kCommand);
  REQUIRE(args.size() == 1);
  CHECK(args[0] == "PING");
}

TEST_CASE("Reset drops a partial command") {
  RequestParser p;
  std::vector<std::string_view> args;
  CHECK(p.Parse("*2\r\n$3\r\nGET\r\n", &args).status == ParseStatus::kNeedMore);
  CHECK(p.in_progress());
  p.Reset();
  CHECK_FALSE(p.in_progress());
  CHECK(p.Parse("PING\r\n", &args).status == ParseStatus::kCommand);
  CHECK(args == std::vector<std::string_view>{"PING"});
}

TEST_CASE("a shrunken input (caller bug) restarts parsing instead of reading out of bounds") {
  RequestParser p;
  std::vector<std::string_view> args;
  CHECK(p.Parse("*2\r\n$3\r\nGET\r\n$1", &args).status == ParseStatus::kNeedMore);
  const ParseResult r = p.Parse("PING\r\n", &args);
  CHECK(r.status == ParseStatus::kCommand);
  CHECK(args == std::vector<std::string_view>{"PING"});
}

}  // namespace
}  // namespace darter::resp
