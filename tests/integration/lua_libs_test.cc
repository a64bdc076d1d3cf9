// Differential test of the script libraries cmsgpack and struct: the same EVAL/FCALL
// commands go to redis-server (the reference) and darter-server (--threads 2), and the
// replies must be equal on the wire, byte for byte (errors included: both servers name
// the script by the same SHA-1). Packed output is returned as a bulk string, so the bytes
// themselves are compared; decoded values are described by a Lua function with exact
// number formatting and sorted table keys, so the comparison does not depend on reply
// conversion or iteration order.
//
// Generated cases (malformed MessagePack, random struct formats and data) come from a
// fixed seed (DARTER_RANDOM_SEED overrides it); a mismatch names the seed.
//
// Known difference, avoided here: Redis's Lua hashes every byte of a string while
// Debian's Lua 5.1 samples strings of 32 bytes and more, so tables keyed by such strings
// iterate in another order and cmsgpack.pack/cjson.encode list their keys differently
// (docs/scripting.md). Map keys here are shorter than 32 bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using Command = std::vector<std::string>;

constexpr uint64_t kMaxRss = 256ull << 20;
constexpr size_t kBatch = 100;
constexpr size_t kMaxReported = 20;

// Lua source: `describe(v)` renders a value exactly (%.17g numbers, %q strings, tables
// with sorted entries); `describe_all(...)` renders every value of a call's results,
// trailing nils included.
constexpr const char* kDescribe = R"lua(
local function describe(v, depth)
  local t = type(v)
  if t == 'number' then return string.format('%.17g', v) end
  if t == 'string' then return string.format('%q', v) end
  if t ~= 'table' then return tostring(v) end
  if depth > 40 then return '{...}' end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = describe(k, depth + 1) .. '=' .. describe(x, depth + 1) end
  table.sort(parts)
  return '{' .. table.concat(parts, ',') .. '}'
end
local function describe_all(...)
  local out = {}
  for i = 1, select('#', ...) do out[i] = describe((select(i, ...)), 0) end
  return table.concat(out, ' ')
end
)lua";

uint64_t Seed(uint64_t fixed) {
  if (const char* s = std::getenv("DARTER_RANDOM_SEED")) return std::strtoull(s, nullptr, 10);
  return fixed;
}

// Both servers and a connection to each; Run() sends commands to both and keeps the
// mismatches.
class Servers {
 public:
  Servers() : redis_(StartRedis()), darter_(StartDarter(0, {"--threads", "2"})) {}

  bool Start() {
    REQUIRE_MESSAGE(redis_.status.ok, redis_.status.message);
    REQUIRE_MESSAGE(darter_.status.ok, darter_.status.message);
    rc_ = std::make_unique<Client>(redis_.port());
    dc_ = std::make_unique<Client>(darter_.port());
    REQUIRE(rc_->ok());
    REQUIRE(dc_->ok());
    return true;
  }

  // Runs every command on both (pipelined in batches); returns Redis's replies.
  std::vector<std::string> Run(const std::vector<Command>& commands, const std::string& context = "") {
    std::vector<std::string> out;
    for (size_t at = 0; at < commands.size(); at += kBatch) {
      std::vector<Command> batch(commands.begin() + at, commands.begin() + std::min(commands.size(), at + kBatch));
      std::vector<Reply> rr = rc_->Pipeline(batch), dr = dc_->Pipeline(batch);
      for (size_t i = 0; i < batch.size(); ++i) {
        std::string a = Format(rr[i]), b = Format(dr[i]);
        ++compared_;
        if (a.rfind("-", 0) == 0) ++errors_;
        if (a != b && mismatches_.size() < kMaxReported) {
          mismatches_.push_back(context + FormatCommand(batch[i]).substr(0, 400) + "\n  redis:  " + a.substr(0, 400) +
                                "\n  darter: " + b.substr(0, 400));
        }
        out.push_back(std::move(a));
      }
    }
    return out;
  }

  std::string RunOne(const Command& command) { return Run({command})[0]; }

  Client& darter() { return *dc_; }
  ServerProcess& darter_process() { return *darter_.process; }

  // Every comparison so far matched (reported through doctest with the mismatches).
  void ExpectSame() {
    std::string all;
    for (const std::string& m : mismatches_) all += m + "\n";
    CHECK_MESSAGE(mismatches_.empty(), all);
    MESSAGE(compared_ << " replies compared, " << errors_ << " of them errors");
  }

 private:
  StartedServer redis_, darter_;
  std::unique_ptr<Client> rc_, dc_;
  std::vector<std::string> mismatches_;
  size_t compared_ = 0;
  size_t errors_ = 0;
};

Command Eval(const std::string& body, std::vector<std::string> args = {}) {
  Command c = {"EVAL", body, "0"};
  c.insert(c.end(), args.begin(), args.end());
  return c;
}

// Lua expressions for values of every kind cmsgpack encodes differently.
std::vector<std::string> PackValues() {
  std::vector<std::string> v = {
      // integers at each encoding's edges
      "0", "1", "127", "128", "255", "256", "65535", "65536", "2^32-1", "2^32", "2^53", "2^53+1", "2^63-1024",
      "2^63", "2^64", "-1", "-32", "-33", "-128", "-129", "-32768", "-32769", "-2^31", "-2^31-1", "-2^53", "-2^63",
      "-2^63-4096", "-2^64",
      // floats: float32 when exact, else float64
      "0.5", "-0.5", "1/3", "0.1", "1.5", "2^-149", "2^-150", "3.4028234663852886e38", "3.4028235677973366e38",
      "1e39", "1e300", "-1e300", "1e-300", "1/0", "-1/0", "0/0", "-0.0", "2^63+2^20", "-(2^63)*2",
      // strings of each header's edge lengths, binary bytes included
      "''", "'a'", "string.rep('a', 31)", "string.rep('b', 32)", "string.rep('c', 255)", "string.rep('d', 256)",
      "string.rep('e', 65535)", "string.rep('f', 65536)", "string.rep('\\0\\255', 35000)", "'\\0'",
      // other types
      "nil", "true", "false", "function() end", "coroutine.create(function() end)",
      // tables: arrays, maps, and what decides between them
      "{}", "{1, 2, 3}", "{1, 'two', {3}, true}", "{a = 1}", "{a = 1, b = {c = 2}}", "{[1] = 1, [3] = 3}",
      "{1, nil, 3}", "{[0] = 1}", "{[-1] = 1}", "{[1.5] = 1}", "{[2^31] = 1}", "{[1] = 1, x = 2}",
      "{[1] = 'a', [2] = 'b', [2.0] = 'c'}", "{[true] = 1, [false] = 0}", "{[{}] = 1}",
      "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}", "{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}",
      "(function() local t = {} for i = 1, 65535 do t[i] = i % 7 end return t end)()",
      "(function() local t = {} for i = 1, 65536 do t[i] = i % 5 end return t end)()",
      "(function() local t = {} for i = 1, 15 do t['k' .. i] = i end return t end)()",
      "(function() local t = {} for i = 1, 16 do t['k' .. i] = i end return t end)()",
      "(function() local t = {} for i = 1, 65536 do t['k' .. i] = i end return t end)()",
      "(function() local t = {} for i = 1, 300 do t[i * 1.5] = i end return t end)()",
      // nesting: tables 16 deep encode as nil; cycles end there
      "(function() local t = {} for i = 1, 15 do t = {t} end return t end)()",
      "(function() local t = {} for i = 1, 16 do t = {t} end return t end)()",
      "(function() local t = {} for i = 1, 40 do t = {x = t} end return t end)()",
      "(function() local t = {} t[1] = t return t end)()",
      "(function() local t = {} t.self = t t.v = 1 return t end)()",
  };
  return v;
}

TEST_CASE("cmsgpack.pack gives Redis's bytes for every kind of value, alone and concatenated") {
  Servers s;
  s.Start();
  std::vector<Command> commands;
  for (const std::string& e : PackValues()) {
    commands.push_back(Eval("return cmsgpack.pack(" + e + ")"));
    commands.push_back(Eval("return cmsgpack.pack(" + e + ", 1, " + e + ")"));
    // Decoding what was packed and packing it again (a decoded nil is nil, so this
    // goes through a table).
    commands.push_back(Eval(std::string(kDescribe) + "return describe_all(cmsgpack.unpack(cmsgpack.pack(" + e + ")))"));
    commands.push_back(Eval("return cmsgpack.pack(cmsgpack.unpack(cmsgpack.pack(" + e + ")))"));
  }
  commands.push_back(Eval("return cmsgpack.pack()"));
  commands.push_back(Eval("local t = {} for i = 1, 3990 do t[i] = i end return cmsgpack.pack(unpack(t))"));
  commands.push_back(Eval("local t = {} for i = 1, 4010 do t[i] = i end return cmsgpack.pack(unpack(t))"));
  commands.push_back(Eval("return cmsgpack.pack(ARGV[1], ARGV[2])", {std::string("bin\0ary", 7), ""}));
  s.Run(commands);

  // A few encodings pinned absolutely, so the test cannot pass on two equal mistakes.
  Client& d = s.darter();
  CHECK(Format(d.Cmd(Eval("return cmsgpack.pack(2^32)"))) == "\"\\xcf\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x00\"");
  CHECK(Format(d.Cmd(Eval("return cmsgpack.pack(-33, 0.5, 0.1)"))) ==
        "\"\\xd0\\xdf\\xca?\\x00\\x00\\x00\\xcb?\\xb9\\x99\\x99\\x99\\x99\\x99\\x9a\"");
  CHECK(Format(d.Cmd(Eval("return cmsgpack.pack({1, {a = true}}, nil)"))) == "\"\\x92\\x01\\x81\\xa1a\\xc3\\xc0\"");
  s.ExpectSame();
}

TEST_CASE("cmsgpack.unpack, unpack_one and unpack_limit return Redis's values, offsets and errors") {
  Servers s;
  s.Start();
  const std::string d = kDescribe;
  const std::string stream = "cmsgpack.pack(1, 'two', {3, 4}, {five = 5}, nil, 6.5)";
  std::vector<Command> commands = {
      Eval(d + "return describe_all(cmsgpack.unpack(" + stream + "))"),
      Eval(d + "return describe_all(cmsgpack.unpack(''))"),
      Eval(d + "return describe_all(cmsgpack.unpack_limit(" + stream + ", 0))"),
      Eval(d + "return describe_all(cmsgpack.unpack_limit('', 1))"),
      Eval(d + "return describe_all(cmsgpack.unpack_one(''))"),
      // walking the stream one value at a time, and a few at a time
      Eval(d + "local s, out, off = " + stream + ", {}, 0 "
               "repeat local o, v = cmsgpack.unpack_one(s, off) out[#out + 1] = describe_all(o, v) off = o "
               "until off == -1 return out"),
      Eval(d + "local s, out, off = " + stream + ", {}, 0 "
               "repeat local r = {cmsgpack.unpack_limit(s, 2, off)} out[#out + 1] = describe(r, 0) off = r[1] "
               "until off == -1 return out"),
  };
  for (const char* args : {"1", "2", "3", "6", "7", "8", "-1", "2^32", "'x'", "nil", "1.5"}) {
    commands.push_back(Eval(d + "return describe_all(cmsgpack.unpack_one(" + stream + ", " + args + "))"));
    commands.push_back(Eval(d + "return describe_all(cmsgpack.unpack_limit(" + stream + ", " + args + "))"));
    commands.push_back(Eval(d + "return describe_all(cmsgpack.unpack_limit(" + stream + ", 2, " + args + "))"));
    commands.push_back(Eval(d + "return describe_all(cmsgpack.unpack_limit(" + stream + ", " + args + ", 1))"));
  }
  for (const char* call : {"cmsgpack.unpack()", "cmsgpack.unpack(nil)", "cmsgpack.unpack({})", "cmsgpack.unpack(12)",
                           "cmsgpack.unpack_one()", "cmsgpack.unpack_one(nil, 'x')", "cmsgpack.unpack_limit('a')",
                           "cmsgpack.unpack_limit(nil, 1)", "cmsgpack.unpack(cmsgpack.pack(1), 'extra', 3)"}) {
    commands.push_back(Eval(d + "return describe_all(" + call + ")"));
  }
  s.Run(commands);
  s.ExpectSame();
}

// MessagePack byte strings: every tag alone and with short or long payloads, the length
// and count headers at their edges, then random bytes and mutations of valid encodings.
std::vector<std::string> DecodeInputs(uint64_t seed) {
  std::vector<std::string> in;
  const std::string ff8(8, '\xff'), one8("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
  for (int tag = 0; tag < 256; ++tag) {
    const std::string t(1, static_cast<char>(tag));
    in.push_back(t);
    in.push_back(t + ff8 + ff8);
    in.push_back(t + one8 + one8 + one8 + one8 + one8);
    in.push_back(t + std::string(2, '\0'));
  }
  auto be = [](uint64_t v, int width) {
    std::string s;
    for (int i = width - 1; i >= 0; --i) s.push_back(static_cast<char>(v >> (8 * i)));
    return s;
  };
  // strings: declared length equal to, one above, and far above what follows
  for (auto [tag, width] : {std::pair{'\xd9', 1}, {'\xda', 2}, {'\xdb', 4}}) {
    for (uint64_t len : {0ull, 1ull, 31ull, 32ull, 255ull, 256ull, 300ull}) {
      if (len >= (1ull << (8 * width))) continue;
      in.push_back(std::string(1, tag) + be(len, width) + std::string(len, 's'));
      in.push_back(std::string(1, tag) + be(len + 1, width) + std::string(len, 's'));
    }
    in.push_back(std::string(1, tag) + be((1ull << (8 * width)) - 1, width) + "abc");
  }
  // the hostile headers: 4 GB string, 4 G-element array and map, with and without data
  in.push_back("\xdb\xff\xff\xff\xff" + std::string("abc"));
  in.push_back("\xdd\xff\xff\xff\xff" + std::string(10, '\x01'));
  in.push_back("\xdf\xff\xff\xff\xff" + std::string(11, '\x01'));
  in.push_back("\xdc\xff\xff" + std::string(10, '\xc0'));
  in.push_back("\xde\x00\x02\x01\x02\x03");
  // map keys that Lua refuses (nil, NaN), duplicate keys, arrays of nils
  in.push_back("\x81\xc0\x01");
  in.push_back(std::string("\x81\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00\x01", 11));
  in.push_back("\x82\x01\x02\x01\x03");
  in.push_back("\x93\xc0\xc0\x01");
  // deep nesting: fine at 100 levels, Lua's stack limit far below 10000
  for (int depth : {100, 3000, 4100, 10000}) {
    in.push_back(std::string(depth, '\x91') + "\x01");
    in.push_back(std::string(depth, '\x81') + "\x01");
  }
  in.push_back(std::string(7990, '\x01'));
  in.push_back(std::string(8010, '\x01'));
  std::mt19937_64 rng(seed);
  auto byte = [&] { return static_cast<char>(rng() & 0xff); };
  for (int i = 0; i < 1500; ++i) {
    std::string s(rng() % 24, '\0');
    for (char& c : s) c = byte();
    in.push_back(s);
  }
  const std::vector<std::string> valid = {
      "\x93\x01\xa3two\x82\xa1" "a\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a\xa1" "b\x92\xc2\xc3",
      "\xcd\x01\x00\xd1\xff\x00\xce\xff\xff\xff\xff\xd2\x80\x00\x00\x00",
      "\xdc\x00\x03\xca\x3f\xc0\x00\x00\xd9\x03xyz\xde\x00\x01\x01\x02"};
  for (int i = 0; i < 1500; ++i) {
    std::string s = valid[rng() % valid.size()];
    const int edits = 1 + static_cast<int>(rng() % 3);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      switch (rng() % 3) {
        case 0: s[rng() % s.size()] = byte(); break;
        case 1: s.resize(rng() % s.size()); break;
        default: s.insert(s.begin() + static_cast<long>(rng() % (s.size() + 1)), byte()); break;
      }
    }
    in.push_back(s);
  }
  return in;
}

TEST_CASE("cmsgpack decodes well-formed, malformed, truncated, deep and hostile input as Redis does") {
  Servers s;
  s.Start();
  const uint64_t seed = Seed(20240601);
  const std::string unpack = std::string(kDescribe) + "return describe_all(cmsgpack.unpack(ARGV[1]))";
  const std::string one = std::string(kDescribe) + "return describe_all(cmsgpack.unpack_one(ARGV[1], tonumber(ARGV[2])))";
  const std::string limit =
      std::string(kDescribe) + "return describe_all(cmsgpack.unpack_limit(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])))";
  std::vector<Command> commands;
  size_t n = 0;
  for (const std::string& input : DecodeInputs(seed)) {
    commands.push_back(Eval(unpack, {input}));
    const std::string off = std::to_string(n % 4 == 0 ? 0 : input.empty() ? 0 : n % (input.size() + 1));
    commands.push_back(Eval(one, {input, off}));
    commands.push_back(Eval(limit, {input, std::to_string(n % 3), off}));
    ++n;
  }
  s.Run(commands, "seed " + std::to_string(seed) + ": ");

  // The hostile headers fail at once with Redis's message and leave memory as it was.
  Client& d = s.darter();
  for (const std::string& hostile : {std::string("\xdb\xff\xff\xff\xff" "abc"), std::string("\xdd\xff\xff\xff\xff"),
                                     std::string("\xdf\xff\xff\xff\xff\x01")}) {
    const std::string reply = Format(d.Cmd(Eval("return cmsgpack.unpack(ARGV[1])", {hostile})));
    CHECK(reply.rfind("-ERR user_script:1: Missing bytes in input. script: ", 0) == 0);
  }
  HealthReport h = CheckServerHealthy(s.darter_process(), kMaxRss);
  CHECK_MESSAGE(h.ok, h.message);
  s.ExpectSame();
}

TEST_CASE("struct.pack, unpack and size handle every format letter, alignment and error as Redis does") {
  Servers s;
  s.Start();
  const std::string d = kDescribe;
  const std::string all = "'>bBhHlLTiIi1i2i3i8I16fdxc3s'";
  const std::string all_args = "-1, 255, -2, 65535, -3, 2^40, 7, -4, 4000000000, -5, 300, 70000, -6, 12345, 1.5, 2.25, "
                               "'abc', 'zz'";
  std::vector<Command> commands = {
      Eval("return struct.pack(" + all + ", " + all_args + ")"),
      Eval("return struct.pack('<' .. " + all + ":sub(2), " + all_args + ")"),
      Eval(d + "return describe_all(struct.unpack(" + all + ", struct.pack(" + all + ", " + all_args + ")))"),
      Eval("return struct.size(" + all + ":sub(1, -2))"),
      Eval("return struct.pack('<!4 b i h d !2 b i c2 b l !8 b d !', 1, 2, 3, 4, 5, 6, 'ab', 7, 8, 9, 10)"),
      Eval(d + "return describe_all(struct.unpack('<!4 b i h d !2 b i c2 b l !8 b d', "
               "struct.pack('<!4 b i h d !2 b i c2 b l !8 b d', 1, 2, 3, 4, 5, 6, 'ab', 7, 8, 9, 10)))"),
      Eval("return {struct.size('<!4 b i h d !2 b i c2 b l !8 b d'), struct.size('!4bi3bi5'), struct.size('z'), "
           "struct.size(''), struct.size('c0c')}"),
      Eval("return struct.pack('!4 b i3 b i5 b i0 I7', 1, 2, 3, 4, 5, 6, 7)"),
      Eval("return struct.pack('c0 s c2', 'whole', 'nul', 'abc')"),
      Eval(d + "return describe_all(struct.unpack('b c0 s c0', '\\3abcnul\\0\\2xy'))"),
      Eval(d + "return describe_all(struct.unpack('c2 c0', '12abcdefghijklm'))"),
      Eval(d + "return describe_all(struct.unpack('>i9 <i9 i0 i16', string.rep('\\255', 8) .. '\\1' .. '\\1' .. "
               "string.rep('\\0', 7) .. '\\1' .. string.rep('\\255', 16)))"),
      Eval(d + "return describe_all(struct.unpack('>f <d', struct.pack('>f <d', 0.1, -2.5)))"),
      Eval(d + "return describe_all(struct.unpack('b', 'abc', 3))"),
      Eval(d + "return describe_all(struct.unpack('', 'abc', -3))"),
      Eval(d + "return describe_all(struct.unpack('i', 'abcd', 1, 'extra'))"),
      Eval(d + "return describe_all(struct.unpack(string.rep('b', 9000), string.rep('\\0', 9000)))"),
  };
  // Integers beyond their size and non-finite numbers convert as Redis's build does.
  for (const char* value : {"2^64", "0/0", "-1e30", "1e30", "1/0", "-1/0", "2^63", "-0.5", "2^63+4096", "-2^63-4096",
                            "65536.75", "-129"}) {
    for (const char* f : {"<l", ">L", "<i2", "<I3", ">i16", "<b", "B", "<f", ">d", "T"}) {
      commands.push_back(Eval(std::string("return struct.pack('") + f + "', " + value + ")"));
    }
  }
  for (const char* call :
       {"struct.pack('i33', 1)", "struct.pack('i99999999999', 1)", "struct.pack('c99999999999', 'a')",
        "struct.pack('!3', 1)", "struct.pack('!0')", "struct.pack('b5', 1)", "struct.pack('c5', 'abc')",
        "struct.pack('b')", "struct.pack('b', 'x')", "struct.pack('s', {})", "struct.pack()", "struct.pack('%')",
        "struct.pack('\\200')", "struct.unpack('c0', 'abc')", "struct.unpack('s', 'abc')", "struct.unpack('b', 'abc', 0)",
        "struct.unpack('b', 'abc', -3)", "struct.unpack('b', 'abc', 4)", "struct.unpack('c4294967296', 'abc')",
        "struct.unpack('c2147483647', 'abc')", "struct.unpack('I4c0', '\\255\\255\\255\\255abc')",
        "struct.unpack('b c0', '\\255abc')", "struct.unpack('d c0', struct.pack('d', 0/0) .. 'abc')",
        "struct.unpack('d c0', struct.pack('d', -0.5) .. 'abc')", "struct.unpack('i')", "struct.unpack('i', 'abcd', 'x')",
        "struct.unpack('\\200', 'abc')", "struct.size('s')", "struct.size('c0')", "struct.size('b%')",
        "struct.size('\\200')", "struct.size('i40')", "struct.size()"}) {
    commands.push_back(Eval(d + "return describe_all(" + call + ")"));
  }
  s.Run(commands);

  Client& c = s.darter();
  CHECK(Format(c.Cmd(Eval("return struct.pack('>I2 <i2 b', 513, -2, 65)"))) == "\"\\x02\\x01\\xfe\\xffA\"");
  CHECK(Format(c.Cmd(Eval("return {struct.unpack('>h', '\\255\\254')}"))) == "[:-2, :3]");
  s.ExpectSame();
}

// A random format and arguments for it: mostly valid items with arguments of the right
// kind, sometimes an invalid letter, a huge count or a wrong or missing argument.
struct RandomCase {
  std::string fmt;
  std::vector<std::string> args;
};

RandomCase RandomStructCase(std::mt19937_64& rng) {
  static const std::string kValid = "bBhHlLTiIfdxcs<>! ";
  static const std::string kInvalid = "z%\xc8q0";
  static const std::vector<std::string> kNumbers = {
      "0", "1", "-1", "127", "128", "255", "256", "-129", "65535", "65536", "4294967295", "4294967296", "-2147483649",
      "9007199254740993", "18446744073709551615", "18446744073709551616", "1e30", "-1e30", "0.5", "-0.75", "3.25",
      "inf", "-inf", "nan", "1e-40", "3.5e38"};
  auto chance = [&](int percent) { return static_cast<int>(rng() % 100) < percent; };
  auto text = [&] { return std::string(rng() % 12, static_cast<char>('a' + rng() % 26)); };
  RandomCase c;
  const int items = 1 + static_cast<int>(rng() % 6);
  for (int i = 0; i < items; ++i) {
    const char letter = chance(5) ? kInvalid[rng() % kInvalid.size()] : kValid[rng() % kValid.size()];
    c.fmt.push_back(letter);
    const bool counted = letter == 'c' || letter == 'i' || letter == 'I' || letter == '!';
    if (counted ? chance(60) : chance(3)) c.fmt += std::to_string(rng() % (letter == 'i' || letter == 'I' ? 34 : 12));
    if (chance(2)) c.fmt += std::to_string(rng() % 3000000000ull);
    if (chance(5)) continue;  // the argument goes missing
    if (std::string("bBhHlLTiIfd").find(letter) != std::string::npos) {
      c.args.push_back(chance(5) ? text() : kNumbers[rng() % kNumbers.size()]);
    } else if (letter == 'c' || letter == 's') {
      c.args.push_back(chance(5) ? kNumbers[rng() % kNumbers.size()] : text());
    }
  }
  return c;
}

TEST_CASE("struct with random formats, arguments and data replies as Redis does") {
  Servers s;
  s.Start();
  const uint64_t seed = Seed(7);
  std::mt19937_64 rng(seed);
  const std::string d = kDescribe;
  const std::string pack =
      "local a = {} for i = 2, #ARGV do a[#a + 1] = tonumber(ARGV[i]) or ARGV[i] end "
      "return struct.pack(ARGV[1], unpack(a))";
  const std::string unpack = d + "return describe_all(struct.unpack(ARGV[1], ARGV[2], tonumber(ARGV[3])))";
  const std::string roundtrip = d +
                                "local a = {} for i = 2, #ARGV do a[#a + 1] = tonumber(ARGV[i]) or ARGV[i] end "
                                "return describe_all(struct.unpack(ARGV[1], struct.pack(ARGV[1], unpack(a))))";
  const std::string size = "return struct.size(ARGV[1])";
  std::vector<Command> commands;
  for (int i = 0; i < 1500; ++i) {
    const RandomCase c = RandomStructCase(rng);
    const std::string& fmt = c.fmt;
    commands.push_back(Eval(size, {fmt}));
    Command args = {fmt};
    args.insert(args.end(), c.args.begin(), c.args.end());
    commands.push_back(Eval(pack, args));
    commands.push_back(Eval(roundtrip, args));
    std::string data(rng() % 120, '\0');
    for (char& c : data) c = static_cast<char>(rng() % 4 == 0 ? 0 : rng() & 0xff);
    const std::string pos = rng() % 3 == 0 ? std::to_string(static_cast<int64_t>(rng() % 50) - 5) : "";
    commands.push_back(Eval(unpack, pos.empty() ? std::vector<std::string>{fmt, data}
                                                : std::vector<std::string>{fmt, data, pos}));
  }
  s.Run(commands, "seed " + std::to_string(seed) + ": ");
  s.ExpectSame();
}

TEST_CASE("cmsgpack and struct are read-only globals in scripts and functions, absent while a library loads") {
  Servers s;
  s.Start();
  const std::string library =
      "#!lua name=libs\n"
      "redis.register_function('mp', function(keys, args) return cmsgpack.pack(unpack(args)) end)\n"
      "redis.register_function('mpback', function(keys, args) return {cmsgpack.unpack(args[1])} end)\n"
      "redis.register_function('st', function(keys, args) return struct.pack('>I2 s', tonumber(args[1]), args[2]) end)\n"
      "redis.register_function('touch', function(keys, args) cmsgpack.pack = nil end)\n";
  std::vector<Command> commands = {
      Eval("return {type(cmsgpack), type(struct), type(cmsgpack.pack), type(struct.size)}"),
      Eval("local o = {} for k, v in pairs(cmsgpack) do o[#o + 1] = k .. '=' .. (type(v) == 'string' and v or type(v)) "
           "end table.sort(o) return o"),
      Eval("local o = {} for k in pairs(struct) do o[#o + 1] = k end table.sort(o) return o"),
      Eval("cmsgpack.x = 1"),
      Eval("struct.pack = nil"),
      Eval("rawset(cmsgpack, 'a', 1)"),
      Eval("cmsgpack = nil"),
      Eval("return rawget(struct, 'pack') ~= nil"),
      {"FUNCTION", "LOAD", library},
      {"FCALL", "mp", "0", "a", "bb", std::string(40, 'c')},
      {"FCALL", "mpback", "0", std::string("\x93\x01\xa1x\xc3", 5)},
      {"FCALL", "st", "0", "513", "hi"},
      {"FCALL", "touch", "0"},
      {"FUNCTION", "LOAD", "REPLACE", "#!lua name=libs\nlocal x = cmsgpack.pack(1)\n"
                                      "redis.register_function('x', function() return x end)"},
      {"FUNCTION", "LOAD", "REPLACE", "#!lua name=libs\nlocal x = struct.size('i')\n"
                                      "redis.register_function('x', function() return x end)"},
  };
  s.Run(commands);
  s.ExpectSame();
}

TEST_CASE("a cmsgpack.pack that expands without end turns busy and stops on SCRIPT KILL (Redis hangs)") {
  StartedServer darter = StartDarter(0, {"--threads", "2", "--lua-time-limit", "100"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client runner(darter.port(), std::chrono::seconds(30)), other(darter.port());
  REQUIRE(runner.ok());
  // Eight references to itself at every level: 8^16 values before the nesting bound.
  runner.Append(Eval("local t = {} for i = 1, 8 do t[i] = t end return #cmsgpack.pack(t)"));
  REQUIRE(runner.Flush());
  std::string ping;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    ping = Format(other.Cmd({"PING"}));
    if (ping.rfind("-BUSY", 0) == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(ping.rfind("-BUSY", 0) == 0);
  CHECK(Format(other.Cmd({"SCRIPT", "KILL"})) == "+OK");
  CHECK(Format(runner.ReadReply()).rfind("-ERR Script killed by user with SCRIPT KILL...", 0) == 0);
  CHECK(Format(other.Cmd({"PING"})) == "+PONG");
  HealthReport h = CheckServerHealthy(*darter.process, kMaxRss);
  CHECK_MESSAGE(h.ok, h.message);
}

}  // namespace
}  // namespace darter::test
