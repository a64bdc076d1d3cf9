// Script fuzzer: arbitrary script source text through the in-process Lua engine
// (lib/server/script/script_lua.h), on a script stack (ScriptFiber) as the server runs it.
// Every input must compile or be refused, and run to a reply or an error: no crash, no
// abort, no hang (a kill budget in the host's hook bounds loops; the engine's memory is
// bounded for the fuzzer only). After every input a canary script must reply exactly
// as on a fresh engine: no script may leave the globals, the libraries or math.random's
// sequence changed for the next one.
//
// Two builds (tests/fuzz/script_fuzz.cmake):
//  * libFuzzer (clang, DARTER_FUZZ=ON): LLVMFuzzerTestOneInput below.
//  * standalone (any compiler, DARTER_FUZZ_STANDALONE): main() replays the files and
//    directories it is given, then runs --runs=N scripts it generates from fragments of
//    hostile scripts (seed --seed=S): what ctest runs in CI.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_builder.h"
#include "resp/reply_parser.h"
#include "server/script/script_fiber.h"
#include "server/script/script_lua.h"
#include "server/script/script_sha1.h"

namespace {

using darter::server::LuaEngine;
using darter::server::ScriptFiber;
using darter::server::ScriptHost;

// Answers a few commands with canned replies of every shape, refuses the others, and
// kills the script after a budget of hook calls (100,000 instructions each).
class FuzzHost : public ScriptHost {
 public:
  std::string Call(std::vector<std::string>& argv, int protocol, std::string& reply) override {
    darter::resp::ReplyBuilder rb(&reply);
    rb.SetProtocol(protocol);
    const std::string& c = argv[0];
    if (c == "ping") rb.SimpleString("PONG");
    else if (c == "get") rb.Bulk(argv.size() > 1 ? argv[1] : "");
    else if (c == "incr") rb.Integer(static_cast<int64_t>(argv.size()));
    else if (c == "del") rb.Null();
    else if (c == "hgetall") {
      rb.MapHeader(2);
      rb.Bulk("f");
      rb.Double(1.5);
      rb.Bulk("g");
      rb.ArrayHeader(2);
      rb.Bool(true);
      rb.Error("ERR nested");
    } else if (c == "wrong") rb.Error("WRONGTYPE Operation against a key holding the wrong kind of value");
    else return "ERR Unknown Redis command called from script";
    return "";
  }
  bool Hook() override { return ++hooks_ > 5; }

 private:
  int hooks_ = 0;
};

constexpr const char* kCanary =
    "return {string.len('abc'), ('abc'):upper(), type(redis.call), bit.tohex(255, -4), "
    "math.random(1000000), math.random(1000000), table.concat({1, 2}, ','), cjson.encode({1}), "
    "tostring(rawget(_G, 'x')), redis.call('ping')}";

constexpr size_t kMemoryLimit = 64u << 20;

struct Runner {
  LuaEngine& engine = LuaEngine::ForThisThread();
  std::string canary_reply;
  size_t cached = 0;

  Runner() {
    engine.set_memory_limit_for_testing(kMemoryLimit);
    canary_reply = RunBody(kCanary);
  }

  // Compiles and runs `body`; returns the encoded reply (or compile error).
  std::string RunBody(std::string_view body) {
    std::string sha = darter::server::Sha1Hex(body);
    std::string out;
    darter::resp::ReplyBuilder rb(&out);
    std::string err = engine.Load(sha, body);
    if (!err.empty()) {
      rb.Error(err);
      return out;
    }
    ++cached;
    FuzzHost host;
    std::vector<std::string_view> keys = {"k1", "k2"}, args = {"a1", "2"};
    ScriptFiber fiber([&] { engine.Run(sha, keys, args, host, rb); });
    fiber.Resume();  // the host never suspends the script
    if (!fiber.Done()) Fail("script fiber did not finish", body);
    return out;
  }

  [[noreturn]] static void Fail(const char* what, std::string_view body) {
    std::fprintf(stderr, "eval_script_fuzzer: %s\n--- script ---\n%.*s\n", what, static_cast<int>(body.size()),
                 body.data());
    std::abort();
  }

  void One(std::string_view body) {
    std::string out = RunBody(body);
    // Lua 5.1 does not collect when an allocation fails: the garbage of a script that
    // hit the bound would fail the canary. Flush collects (and drops compiled scripts).
    if (engine.memory_used() > kMemoryLimit / 4) {
      engine.Flush();
      cached = 0;
    }
    // Exactly one complete RESP value.
    darter::resp::Reply parsed;
    darter::resp::ReplyParser parser;
    auto r = parser.Parse(out, &parsed);
    if (r.status != darter::resp::ParseStatus::kCommand || r.consumed != out.size())
      Fail("reply is not one RESP value", body);
    std::string canary = RunBody(kCanary);
    if (canary != canary_reply) {
      std::fprintf(stderr, "canary reply: %s\nexpected:     %s\n", canary.c_str(), canary_reply.c_str());
      Fail("the script changed what the next script sees", body);
    }
    if (cached > 2000) {  // keep the compiled-script cache bounded
      engine.Flush();
      cached = 0;
    }
  }
};

Runner& TheRunner() {
  static Runner runner;
  return runner;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TheRunner().One(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

#ifdef DARTER_FUZZ_STANDALONE
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace {

// Pieces of hostile and ordinary scripts; '#' is replaced by a random number.
const char* const kFragments[] = {
    "return bit.tohex(#, -2147483648)",
    "return bit.tohex(-#, #)",
    "return bit.band(#, -#) + bit.lshift(#, 31)",
    "return {string.find(string.rep('a', #), string.rep('a?', #))}",
    "return string.match(string.rep('ab', #), string.rep('.-', #))",
    "return string.gsub(string.rep('x', #), '(x)', '%1%1')",
    "for w in string.gmatch(string.rep('a b ', #), '%a+') do end",
    "return string.find('abc', '[%')",
    "return string.find('abc', '(()')",
    "error(setmetatable({}, {__index = function() error('x') end}))",
    "error(setmetatable({}, {__tostring = function() error('y') end}))",
    "error({err = #})",
    "error({})",
    "error()",
    "return loadstring(string.dump(function() return # end))()",
    "local f = load(function() return nil end) return f and f()",
    "return loadstring('return ' .. #)()",
    "setmetatable(_G, nil)",
    "string.len = function() return 999 end",
    "string.evil = #",
    "x = #",
    "rawset(_G, 'x', #)",
    "rawset(string, 'len', #)",
    "table.insert(string, #)",
    "table.insert(_G, #)",
    "getmetatable('').__index = {len = function() return # end}",
    "getmetatable('').__index.upper = nil",
    "redis.call = nil",
    "math.randomseed(#)",
    "return math.random(#)",
    "return math.random(-#, #)",
    "local t = {} for i = 1, # do t[i] = i end return t",
    "local s = 'x' for i = 1, 40 do s = s .. s end return #s",
    "return string.rep('x', # * #)",
    "while true do end",
    "local function f() return f() end return f()",
    "local function f(n) return n > 0 and f(n - 1) or 0 end return f(#)",
    "local function f() f() end f()",
    "local co = coroutine.wrap(function() coroutine.yield(#) end) return co()",
    "local t = {} for i = 1, 200 do t = {t} end return cjson.encode(t)",
    "return cjson.decode(string.rep('[', #) .. string.rep(']', #))",
    "return cjson.decode('{\"a\": [1, 2, {\"b\": null}]}')",
    "cjson.decode_max_depth(#)",
    "return cmsgpack.unpack(string.rep('\\145', #) .. '\\1')",
    "return cmsgpack.unpack('\\219\\255\\255\\255\\255' .. string.rep('x', #))",
    "return {cmsgpack.unpack_limit(cmsgpack.pack(#, 'a', {b = #}), #, #)}",
    "local t = {} t[1] = t return cmsgpack.pack(t, #)",
    "return struct.unpack('c#', string.rep('x', #))",
    "return struct.pack('!#i#c0', #, 'abc')",
    "return struct.unpack('!#i#s', string.rep('a', #), #)",
    "return redis.call('ping')",
    "return redis.pcall('nosuch', #)",
    "return redis.call('hgetall', 'h')",
    "return redis.call('wrong')",
    "redis.setresp(3) return redis.call('hgetall', 'h')",
    "return pcall(redis.call, 'nosuch')",
    "return redis.error_reply('x')",
    "return redis.status_reply('OK')",
    "return {KEYS[1], ARGV[2], #KEYS}",
    "KEYS[1] = #",
    "return {1, 2, {3, {4, nil, 5}}, 'x', true, false}",
    "return {double = #.5}",
    "return {map = {a = #}}",
    "local t = setmetatable({}, {__index = function() error('z') end}) return t",
    "return setmetatable({}, {__len = function() error('w') end})",
    "return tostring(nil) .. #",
    "return unpack({1, 2, 3})",
    "return select('#', 1, 2, 3)",
    "return next(_G) ~= nil",
    "for k in pairs(string) do end",
    "return getmetatable(_G)",
    "return y",
    "return _G.z",
};

// One generated script: a few fragments joined, then a few random byte edits.
std::string Generate(std::mt19937_64& rng) {
  const size_t nfrag = std::size(kFragments);
  std::string s;
  int pieces = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < pieces; ++i) {
    std::string f = kFragments[rng() % nfrag];
    // A fragment that returns ends the chunk: keep it last.
    if (i + 1 < pieces && f.rfind("return", 0) == 0) f = "local _ = (function() " + f + " end)()";
    for (size_t p = f.find('#'); p != std::string::npos; p = f.find('#', p)) {
      static const int kNumbers[] = {0, 1, 2, 7, 100, 1000, 20000, 50000};
      std::string n = std::to_string(kNumbers[rng() % std::size(kNumbers)]);
      f.replace(p, 1, n);
      p += n.size();
    }
    s += f;
    s += '\n';
  }
  int edits = static_cast<int>(rng() % 4) - 1;  // mostly none
  for (int e = 0; e < edits && !s.empty(); ++e) {
    size_t at = rng() % s.size();
    switch (rng() % 3) {
      case 0: s.erase(at, 1); break;
      case 1: s.insert(at, 1, static_cast<char>(rng() % 128)); break;
      default: s[at] = "(){}[]'\".,;=#%\\\x1b"[rng() % 17]; break;
    }
  }
  return s;
}

void Replay(const std::filesystem::path& p, size_t* count) {
  if (std::filesystem::is_directory(p)) {
    for (const auto& e : std::filesystem::directory_iterator(p)) Replay(e.path(), count);
    return;
  }
  std::ifstream f(p, std::ios::binary);
  std::string body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  TheRunner().One(body);
  ++*count;
}

}  // namespace

int main(int argc, char** argv) {
  long runs = 0;
  unsigned long long seed = 1;
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--runs=", 0) == 0) runs = std::atol(a.c_str() + 7);
    else if (a.rfind("--seed=", 0) == 0) seed = std::strtoull(a.c_str() + 7, nullptr, 10);
    else Replay(a, &replayed);
  }
  auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(seed);
  for (long i = 0; i < runs; ++i) TheRunner().One(Generate(rng));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("eval_script_fuzzer: %zu replayed, %ld generated (seed %llu) in %.1f s, no failures\n", replayed, runs,
              seed, secs);
  return 0;
}
#endif
