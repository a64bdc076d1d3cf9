// The cmsgpack and struct script libraries through the Lua engine, without a server:
// encodings pinned to the bytes redis-server 7.0 produces for the same calls, decoding,
// Redis's error messages, and an allocation failure in the middle of an encoding (the
// path where Lua's longjmp leaves the encoder).
#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_builder.h"
#include "server/script/script_fiber.h"
#include "server/script/script_lua.h"
#include "server/script/script_sha1.h"

using namespace darter::server;

namespace {

class NoCommands : public ScriptHost {
 public:
  std::string Call(std::vector<std::string>&, int, std::string&) override { return "ERR no commands here"; }
  bool Hook() override { return false; }
};

// Counts the engine's hook calls and asks to stop the script at the `kill_at`th.
class KillingHost : public NoCommands {
 public:
  explicit KillingHost(int kill_at) : kill_at_(kill_at) {}
  bool Hook() override { return ++calls == kill_at_; }
  int calls = 0;

 private:
  int kill_at_;
};

// Runs `body` as an EVAL script on this thread's engine; returns the RESP reply.
std::string Run(const std::string& body, ScriptHost* custom_host = nullptr) {
  LuaEngine& engine = LuaEngine::ForThisThread();
  const std::string sha = Sha1Hex(body);
  std::string out;
  darter::resp::ReplyBuilder rb(&out);
  const std::string err = engine.Load(sha, body);
  if (!err.empty()) return "-" + err;
  NoCommands plain;
  ScriptHost& host = custom_host ? *custom_host : plain;
  std::vector<std::string_view> none;
  ScriptFiber fiber([&] { engine.Run(sha, none, none, host, rb); });
  fiber.Resume();
  REQUIRE(fiber.Done());
  return out;
}

// The bytes of `expr` (a string expression) as lower-case hex, or the error reply.
std::string Hex(const std::string& expr) {
  const std::string reply = Run(
      "local function hex(s) return (s:gsub('.', function(c) return string.format('%02x', c:byte()) end)) end "
      "return hex(" + expr + ")");
  if (reply.empty() || reply[0] != '$') return reply;
  const size_t start = reply.find("\r\n") + 2;
  return reply.substr(start, reply.size() - start - 2);
}

// The error message of a failing script, without "-ERR user_script:1: " and the suffix.
std::string Error(const std::string& body) {
  const std::string reply = Run(body);
  const std::string head = "-ERR user_script:1: ";
  if (reply.rfind(head, 0) != 0) return "not an error: " + reply;
  return reply.substr(head.size(), reply.find(" script: ") - head.size());
}

}  // namespace

TEST_CASE("cmsgpack.pack writes Redis's bytes: integer widths, float32 when exact, str/array/map headers") {
  CHECK(Hex("cmsgpack.pack(0, 127, 128, 255, 256, 65535, 65536, 2^32-1, 2^32)") ==
        "007fcc80ccffcd0100cdffffce00010000ceffffffffcf0000000100000000");
  CHECK(Hex("cmsgpack.pack(-1, -32, -33, -128, -129, -32768, -32769, -2^31, -2^31-1, -2^63)") ==
        "ffe0d0dfd080d1ff7fd18000d2ffff7fffd280000000d3ffffffff7fffffffd38000000000000000");
  CHECK(Hex("cmsgpack.pack(0.5, 0.1, 1/0, 0/0, 2^63, 1e39)") ==
        "ca3f000000cb3fb999999999999aca7f800000cbfff8000000000000ca5f000000cb48078287f49c4a1d");
  CHECK(Hex("cmsgpack.pack('', string.rep('a', 31)):sub(1,4) .. cmsgpack.pack(string.rep('a', 32)):sub(1,3) .. "
            "cmsgpack.pack(string.rep('a', 256)):sub(1,4) .. cmsgpack.pack(string.rep('a', 65536)):sub(1,6)") ==
        "a0bf6161d92061da010061db0001000061");
  CHECK(Hex("cmsgpack.pack({}, {1, 2}, {a = true}, nil, false, {[1] = 1, [3] = 3})") == "9092010281a161c3c0c28201010303");
  // 16 levels of tables: the innermost is encoded as nil; a cycle ends the same way.
  CHECK(Hex("(function() local t = {} for i = 1, 16 do t = {t} end return cmsgpack.pack(t) end)()") ==
        "91919191919191919191919191919191c0");
  CHECK(Hex("(function() local t = {} t[1] = t return cmsgpack.pack(t) end)()") ==
        "91919191919191919191919191919191c0");
  CHECK(Error("return cmsgpack.pack()") == "bad argument #0 to 'pack' (MessagePack pack needs input.)");
}

TEST_CASE("cmsgpack.unpack family: values, next offsets, and Redis's errors for bad input") {
  CHECK(Run("return {cmsgpack.unpack(cmsgpack.pack(1, 'two', {3, {4}}))}") ==
        "*3\r\n:1\r\n$3\r\ntwo\r\n*2\r\n:3\r\n*1\r\n:4\r\n");
  CHECK(Run("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2), 0)}") == "*2\r\n:1\r\n:1\r\n");
  CHECK(Run("return {cmsgpack.unpack_one(cmsgpack.pack(1, 2), 1)}") == "*2\r\n:-1\r\n:2\r\n");
  CHECK(Run("return {cmsgpack.unpack_limit(cmsgpack.pack(1, 2, 3), 2)}") == "*3\r\n:2\r\n:1\r\n:2\r\n");
  CHECK(Run("return cmsgpack.unpack('\\207\\255\\255\\255\\255\\255\\255\\255\\255')") == ":-1\r\n");
  CHECK(Error("return cmsgpack.unpack('\\193')") == "Bad data format in input.");
  CHECK(Error("return cmsgpack.unpack('\\196\\1a')") == "Bad data format in input.");  // bin 8
  CHECK(Error("return cmsgpack.unpack('\\146\\1')") == "Missing bytes in input.");
  CHECK(Error("return cmsgpack.unpack('\\219\\255\\255\\255\\255abc')") == "Missing bytes in input.");
  CHECK(Error("return cmsgpack.unpack('\\221\\255\\255\\255\\255')") == "Missing bytes in input.");
  CHECK(Error("return cmsgpack.unpack_one('abc', 4)") == "Start offset 4 greater than input length 3.");
  CHECK(Error("return cmsgpack.unpack_limit('abc', -1)") ==
        "Invalid request to unpack with offset of 0 and limit of 3.");
  CHECK(Error("return cmsgpack.unpack(string.rep('\\145', 10000))") ==
        "stack overflow (in function mp_decode_to_lua_array)");
  CHECK(Error("return cmsgpack.unpack(string.rep('\\1', 9000))") ==
        "stack overflow (too many return values at once; use unpack_one or unpack_limit instead.)");
}

TEST_CASE("struct: every letter, alignment, x86 conversions and Redis's errors") {
  CHECK(Hex("struct.pack('>bBhHlLTiIi3I16', -1, 255, -2, 65535, -3, 2^40, 7, -4, 4000000000, -5, 6)") ==
        "fffffffefffffffffffffffffffd00000100000000000000000000000007fffffffcee6b2800fffffb0000000000000000000000000000"
        "0006");
  CHECK(Hex("struct.pack('<!4 b i h d c2 s f', 1, 2, 3, 4.5, 'ab', 'z', 1.5)") ==
        "010000000200000003000000000000000000124061627a000000c03f");
  CHECK(Hex("struct.pack('<l >L <i2 T', 0/0, 2^64, -1e30, 1/0)") == "0000000000000080000000000000000000000000000000000000");
  CHECK(Run("return {struct.unpack('>h B c0 s', '\\255\\254\\2xyz\\0')}") ==
        "*4\r\n:-2\r\n$2\r\nxy\r\n$1\r\nz\r\n:8\r\n");
  CHECK(Run("return struct.size('<!4 b i h d')") == ":20\r\n");
  CHECK(Error("return struct.pack('z')") == "bad argument #1 to 'pack' (invalid format option 'z')");
  CHECK(Error("return struct.pack('i33', 1)") == "integral size 33 is larger than limit of 32");
  CHECK(Error("return struct.pack('c99999999999', 'a')") == "integral size overflow");
  CHECK(Error("return struct.pack('!3')") == "alignment 3 is not a power of 2");
  CHECK(Error("return struct.pack('c5', 'abc')") == "bad argument #3 to 'pack' (string too short)");
  CHECK(Error("return struct.unpack('c2147483647', 'abc')") == "bad argument #2 to 'unpack' (data string too short)");
  CHECK(Error("return struct.unpack('b', 'abc', 0)") == "bad argument #3 to 'unpack' (offset must be 1 or greater)");
  CHECK(Error("return struct.unpack('c0', 'abc')") == "format 'c0' needs a previous size");
  CHECK(Error("return struct.unpack('s', 'abc')") == "unfinished string in data");
  CHECK(Error("return struct.size('s')") == "bad argument #1 to 'size' (option 's' has no fixed size)");
}

TEST_CASE("an allocation failure while packing is a script error and leaves the engine usable") {
  LuaEngine& engine = LuaEngine::ForThisThread();
  Run("return 1");  // the engine exists before the bound is set
  engine.set_memory_limit_for_testing(engine.memory_used() + (8u << 20));
  // The table fits under the bound (~3 MB); six packed copies of it (~1.3 MB each,
  // then their concatenation) do not, so the failure comes from inside cmsgpack.pack.
  const std::string reply = Run(
      "local t = {} for i = 1, 20000 do t[i] = string.format('%064d', i) end "
      "local ok, err = pcall(cmsgpack.pack, t, t, t, t, t, t) return {tostring(ok), err}");
  engine.set_memory_limit_for_testing(0);
  CHECK(reply == "*2\r\n$5\r\nfalse\r\n$17\r\nnot enough memory\r\n");
  engine.Flush();
  CHECK(Hex("cmsgpack.pack({1, 'a'})") == "9201a161");
  CHECK(Hex("struct.pack('>I2', 513)") == "0201");
}

TEST_CASE("a pack that expands without end gives the engine's hook its turns, so SCRIPT KILL stops it") {
  // Eight references to itself at every level: 8^16 values before the nesting bound.
  const std::string body =
      "local t = {} for i = 1, 8 do t[i] = t end return #cmsgpack.pack(t)";
  KillingHost host(3);
  const std::string reply = Run(body, &host);
  CHECK(host.calls == 3);
  CHECK(reply.rfind("-ERR Script killed by user with SCRIPT KILL...", 0) == 0);
  // Decoding takes turns too: 200000 values in one array.
  KillingHost counting(1000000);
  CHECK(Run("return #cmsgpack.unpack('\\221\\0\\3\\13\\64' .. string.rep('\\1', 200000))", &counting) ==
        ":200000\r\n");
  CHECK(counting.calls >= 200000 / 16384);
  CHECK(Hex("cmsgpack.pack({1, 'a'})") == "9201a161");  // the engine is usable after the kill
}
