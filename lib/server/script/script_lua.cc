#include "server/script/script_lua.h"

#include <malloc.h>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
}

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "store/check.h"
#include "resp/reply_parser.h"
#include "server/core/log.h"
#include "server/script/lua_cmsgpack.h"
#include "server/script/lua_struct.h"
#include "server/script/script_fiber.h"
#include "server/script/script_sha1.h"

// Lua raises errors with longjmp. Rule for every lua_CFunction here: C++ objects with
// destructors live only inside helper functions that return before any call that may
// raise (lua_error, luaL_error, luaL_check*), so no destructor is ever skipped.

namespace darter::server {

namespace {

constexpr const char* kScriptsKey = "darter_scripts";      // registry: sha -> function
constexpr const char* kViewKey = "darter_globals_view";   // registry: what scripts read as globals
constexpr const char* kReadOnlyKey = "darter_readonly";    // registry: proxy -> the table it shows
constexpr const char* kMetaProxyKey = "darter_meta_proxy"; // registry: metatable -> its read-only proxy
constexpr const char* kGlobalsProxyKey = "darter_G";       // registry: the scripts' _G (a proxy)
constexpr const char* kFunctionsKey = "darter_functions";      // registry: function name -> function
constexpr const char* kStagingKey = "darter_functions_staged";  // registry: what a library load registered
constexpr const char* kLibViewKey = "darter_library_view";      // registry: the globals a library load sees
constexpr const char* kFnEnvMetaKey = "darter_functions_env_meta";  // registry: metatable of the functions' _G
constexpr const char* kFnEnvKey = "darter_functions_env";       // registry: the functions' _G (a proxy)
constexpr int kHookInstructions = 100000;

// The script being executed on this OS thread right now (set around every switch into
// a script; a script suspended in its fiber is not current).
struct RunState {
  ScriptHost* host;
  int resp = 2;
  int keys_ref = LUA_NOREF;  // registry refs of this run's KEYS and ARGV tables
  int argv_ref = LUA_NOREF;
  uint64_t rand48 = 0x330E;  // math.random's 48-bit state (Redis's rand48)
  bool function = false;     // an FCALL: KEYS/ARGV are parameters, not globals
};
thread_local RunState* tl_current = nullptr;

// Makes `run` the current script again: after its fiber was suspended, other scripts of
// this thread may have run and replaced the KEYS/ARGV globals.
void Activate(lua_State* L, RunState* run) {
  tl_current = run;
  lua_getfield(L, LUA_REGISTRYINDEX, kViewKey);
  // A function gets its keys and arguments as parameters: KEYS and ARGV are not globals
  // while it runs (reading them fails, as in Redis 7.0).
  lua_pushstring(L, "KEYS");
  if (run->function) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, run->keys_ref);
  lua_rawset(L, -3);
  lua_pushstring(L, "ARGV");
  if (run->function) lua_pushnil(L);
  else lua_rawgeti(L, LUA_REGISTRYINDEX, run->argv_ref);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

// ---- RESP reply -> Lua ----

void PushErrorTable(lua_State* L, std::string_view msg) {
  lua_newtable(L);
  lua_pushstring(L, "err");
  lua_pushlstring(L, msg.data(), msg.size());
  lua_rawset(L, -3);
}

void PushReplyValue(lua_State* L, const resp::Reply& r) {
  lua_checkstack(L, 4);
  using T = resp::Reply::Type;
  switch (r.type) {
    case T::kSimple:
      lua_newtable(L);
      lua_pushstring(L, "ok");
      lua_pushlstring(L, r.str.data(), r.str.size());
      lua_rawset(L, -3);
      return;
    case T::kError:
      PushErrorTable(L, r.str);
      return;
    case T::kInteger:
      lua_pushnumber(L, static_cast<lua_Number>(r.integer));
      return;
    case T::kBulk:
      lua_pushlstring(L, r.str.data(), r.str.size());
      return;
    case T::kNull:
      // RESP2 null bulk / null array are false; RESP3's null is nil.
      if (tl_current && tl_current->resp == 3) lua_pushnil(L);
      else lua_pushboolean(L, 0);
      return;
    case T::kBool:
      lua_pushboolean(L, r.boolean);
      return;
    case T::kDouble:
      lua_newtable(L);
      lua_pushstring(L, "double");
      lua_pushnumber(L, r.dbl);
      lua_rawset(L, -3);
      return;
    case T::kBigNumber:
      lua_newtable(L);
      lua_pushstring(L, "big_number");
      lua_pushlstring(L, r.str.data(), r.str.size());
      lua_rawset(L, -3);
      return;
    case T::kVerbatim:
      lua_newtable(L);
      lua_pushstring(L, "verbatim_string");
      lua_newtable(L);
      lua_pushstring(L, "string");
      lua_pushlstring(L, r.str.data(), r.str.size());
      lua_rawset(L, -3);
      lua_pushstring(L, "format");
      lua_pushlstring(L, r.format.data(), r.format.size());
      lua_rawset(L, -3);
      lua_rawset(L, -3);
      return;
    case T::kMap: {
      lua_newtable(L);
      lua_pushstring(L, "map");
      lua_newtable(L);
      const resp::Reply* key = nullptr;
      for (const auto& e : r.elements) {
        if (e.type == T::kAttribute) continue;
        if (!key) {
          key = &e;
          continue;
        }
        PushReplyValue(L, *key);
        PushReplyValue(L, e);
        lua_rawset(L, -3);
        key = nullptr;
      }
      lua_rawset(L, -3);
      return;
    }
    case T::kSet: {
      lua_newtable(L);
      lua_pushstring(L, "set");
      lua_newtable(L);
      for (const auto& e : r.elements) {
        if (e.type == T::kAttribute) continue;
        PushReplyValue(L, e);
        lua_pushboolean(L, 1);
        lua_rawset(L, -3);
      }
      lua_rawset(L, -3);
      return;
    }
    case T::kArray:
    case T::kPush: {
      lua_newtable(L);
      int i = 1;
      for (const auto& e : r.elements) {
        if (e.type == T::kAttribute) continue;
        PushReplyValue(L, e);
        lua_rawseti(L, -2, i++);
      }
      return;
    }
    case T::kAttribute:
      lua_pushnil(L);
      return;
  }
}

// ---- Lua -> reply (a script's return value), as Redis 7.0 converts it ----

void ReplyFromLua(lua_State* L, int idx, resp::ReplyBuilder& rb, int script_resp, int depth);

// Returns true when the table at idx has a string/number field `name`, pushed on the stack.
bool FieldOfType(lua_State* L, int idx, const char* name, int type) {
  lua_pushstring(L, name);
  lua_rawget(L, idx);
  if (lua_type(L, -1) == type) return true;
  lua_pop(L, 1);
  return false;
}

void ReplyFromTable(lua_State* L, int idx, resp::ReplyBuilder& rb, int script_resp, int depth) {
  if (FieldOfType(L, idx, "err", LUA_TSTRING)) {
    size_t len;
    const char* s = lua_tolstring(L, -1, &len);
    std::string msg(s, len);
    lua_pop(L, 1);
    // Error replies are one line.
    for (char& c : msg)
      if (c == '\r' || c == '\n') c = ' ';
    rb.Error(msg);
    return;
  }
  if (FieldOfType(L, idx, "ok", LUA_TSTRING)) {
    std::string msg(lua_tostring(L, -1));
    lua_pop(L, 1);
    for (char& c : msg)
      if (c == '\r' || c == '\n') c = ' ';
    rb.SimpleString(msg);
    return;
  }
  if (FieldOfType(L, idx, "double", LUA_TNUMBER)) {
    double d = lua_tonumber(L, -1);
    lua_pop(L, 1);
    rb.Double(d);
    return;
  }
  if (FieldOfType(L, idx, "big_number", LUA_TSTRING)) {
    size_t len;
    const char* s = lua_tolstring(L, -1, &len);
    std::string digits(s, len);
    lua_pop(L, 1);
    rb.BigNumber(digits);
    return;
  }
  if (FieldOfType(L, idx, "map", LUA_TTABLE)) {
    int map = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, map)) {
      ++n;
      lua_pop(L, 1);
    }
    rb.MapHeader(n);
    lua_pushnil(L);
    while (lua_next(L, map)) {
      int v = lua_gettop(L);
      ReplyFromLua(L, v - 1, rb, script_resp, depth + 1);
      ReplyFromLua(L, v, rb, script_resp, depth + 1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return;
  }
  if (FieldOfType(L, idx, "set", LUA_TTABLE)) {
    int set = lua_gettop(L);
    size_t n = 0;
    lua_pushnil(L);
    while (lua_next(L, set)) {
      ++n;
      lua_pop(L, 1);
    }
    rb.SetHeader(n);
    lua_pushnil(L);
    while (lua_next(L, set)) {
      ReplyFromLua(L, lua_gettop(L) - 1, rb, script_resp, depth + 1);
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return;
  }
  // An array: elements 1, 2, ... up to the first nil.
  size_t n = 0;
  while (true) {
    lua_rawgeti(L, idx, static_cast<int>(n + 1));
    bool nil = lua_isnil(L, -1);
    lua_pop(L, 1);
    if (nil) break;
    ++n;
  }
  rb.ArrayHeader(n);
  for (size_t i = 1; i <= n; ++i) {
    lua_rawgeti(L, idx, static_cast<int>(i));
    ReplyFromLua(L, lua_gettop(L), rb, script_resp, depth + 1);
    lua_pop(L, 1);
  }
}

void ReplyFromLua(lua_State* L, int idx, resp::ReplyBuilder& rb, int script_resp, int depth) {
  if (depth > 1000 || !lua_checkstack(L, 8)) {
    rb.Error("ERR reached lua stack limit");
    return;
  }
  switch (lua_type(L, idx)) {
    case LUA_TSTRING: {
      size_t len;
      const char* s = lua_tolstring(L, idx, &len);
      rb.Bulk(std::string_view(s, len));
      return;
    }
    case LUA_TBOOLEAN:
      if (script_resp == 3) {
        rb.Bool(lua_toboolean(L, idx));
      } else if (lua_toboolean(L, idx)) {
        rb.Integer(1);
      } else {
        rb.Null();
      }
      return;
    case LUA_TNUMBER:
      rb.Integer(static_cast<int64_t>(lua_tonumber(L, idx)));
      return;
    case LUA_TTABLE:
      ReplyFromTable(L, idx, rb, script_resp, depth);
      return;
    default:
      rb.Null();
      return;
  }
}

// ---- the redis API ----

enum class CallOutcome { kValue, kRaise };

// Everything of redis.call / redis.pcall that needs C++ objects. Leaves the value to
// return (or the error table to raise) on top of the stack.
CallOutcome DoCall(lua_State* L, bool raise) {
  int argc = lua_gettop(L);
  if (argc == 0) {
    PushErrorTable(L, "ERR Please specify at least one argument for this redis lib call");
    return raise ? CallOutcome::kRaise : CallOutcome::kValue;
  }
  std::vector<std::string> argv;
  argv.reserve(argc);
  for (int i = 1; i <= argc; ++i) {
    int t = lua_type(L, i);
    if (t == LUA_TNUMBER) {
      char buf[64];
      int n = snprintf(buf, sizeof buf, "%.17g", lua_tonumber(L, i));
      argv.emplace_back(buf, n);
    } else if (t == LUA_TSTRING) {
      size_t len;
      const char* s = lua_tolstring(L, i, &len);
      argv.emplace_back(s, len);
    } else {
      PushErrorTable(L, "ERR Lua redis lib command arguments must be strings or integers");
      return raise ? CallOutcome::kRaise : CallOutcome::kValue;
    }
  }
  RunState* run = tl_current;
  if (!run) {
    PushErrorTable(L, "ERR redis.call called outside of a script");
    return CallOutcome::kRaise;
  }
  std::string reply;
  std::string refusal = run->host->Call(argv, run->resp, reply);
  // The host may have suspended this script's fiber while other scripts ran.
  Activate(L, run);
  if (!refusal.empty()) {
    PushErrorTable(L, refusal);
    return raise ? CallOutcome::kRaise : CallOutcome::kValue;
  }
  resp::Reply parsed;
  resp::ReplyParser parser;
  auto r = parser.Parse(reply, &parsed);
  if (r.status != resp::ParseStatus::kCommand) {
    PushErrorTable(L, "ERR internal error: unparsable reply");
    return CallOutcome::kRaise;
  }
  if (parsed.type == resp::Reply::Type::kError) {
    PushErrorTable(L, parsed.str);
    return raise ? CallOutcome::kRaise : CallOutcome::kValue;
  }
  PushReplyValue(L, parsed);
  return CallOutcome::kValue;
}

int RedisCall(lua_State* L) {
  if (DoCall(L, true) == CallOutcome::kRaise) return lua_error(L);
  return 1;
}

int RedisPcall(lua_State* L) {
  if (DoCall(L, false) == CallOutcome::kRaise) return lua_error(L);
  return 1;
}

// Raises `msg` without a position prefix (luaL_error would add the caller's
// "user_script:N: "; Redis's API errors have none).
int Raise(lua_State* L, const char* msg) {
  lua_pushstring(L, msg);
  return lua_error(L);
}

void PushSha1(lua_State* L, const char* s, size_t len) {
  std::string hex = Sha1Hex(std::string_view(s, len));
  lua_pushlstring(L, hex.data(), hex.size());
}

int RedisSha1Hex(lua_State* L) {
  if (lua_gettop(L) != 1) return Raise(L, "wrong number of arguments");
  size_t len;
  const char* s = lua_tolstring(L, 1, &len);
  if (!s) {
    s = "";
    len = 0;
  }
  PushSha1(L, s, len);
  return 1;
}

int RedisErrorReply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
    PushErrorTable(L, "ERR wrong number or type of arguments");
    return 1;
  }
  // A leading '-' is dropped; a message without a space has no error code, so it
  // gets "ERR " (Redis 7.0's rule).
  size_t len;
  const char* s = lua_tolstring(L, 1, &len);
  if (len > 0 && s[0] == '-') {
    ++s;
    --len;
  }
  lua_newtable(L);
  lua_pushstring(L, "err");
  if (std::memchr(s, ' ', len) == nullptr) {
    lua_pushstring(L, "ERR ");
    lua_pushlstring(L, s, len);
    lua_concat(L, 2);
  } else {
    lua_pushlstring(L, s, len);
  }
  lua_rawset(L, -3);
  return 1;
}

int RedisStatusReply(lua_State* L) {
  if (lua_gettop(L) != 1 || lua_type(L, 1) != LUA_TSTRING) {
    PushErrorTable(L, "ERR wrong number or type of arguments");
    return 1;
  }
  lua_newtable(L);
  lua_pushstring(L, "ok");
  lua_pushvalue(L, 1);
  lua_rawset(L, -3);
  return 1;
}

void LogJoined(lua_State* L, int level) {
  std::string msg;
  int argc = lua_gettop(L);
  for (int i = 2; i <= argc; ++i) {
    size_t len;
    const char* s = lua_tolstring(L, i, &len);
    if (!s) continue;
    if (i > 2) msg.push_back(' ');
    msg.append(s, len);
  }
  Log(static_cast<LogLevel>(level), "%s", msg.c_str());
}

int RedisLog(lua_State* L) {
  if (lua_gettop(L) < 2) return Raise(L, "redis.log() requires two arguments or more.");
  if (!lua_isnumber(L, 1)) return Raise(L, "First argument must be a number (log level).");
  int level = static_cast<int>(lua_tonumber(L, 1));
  if (level < 0 || level > 3) return Raise(L, "Invalid debug level.");
  LogJoined(L, level);
  return 0;
}

int RedisSetResp(lua_State* L) {
  if (lua_gettop(L) != 1) return Raise(L, "redis.setresp() requires one argument.");
  int v = static_cast<int>(lua_tonumber(L, 1));
  if (v != 2 && v != 3) return Raise(L, "RESP version must be 2 or 3.");
  if (tl_current) tl_current->resp = v;
  return 0;
}

int RedisReturnTrue(lua_State* L) {
  lua_pushboolean(L, 1);
  return 1;
}
int RedisReturnNothing(lua_State*) { return 0; }

// ---- protection of globals and library tables ----
//
// Redis 7.0 makes _G and the library tables read-only with a patched Lua. Stock Lua 5.1
// has no read-only tables, so scripts see proxies instead: an empty table whose
// metatable reads through to the real table (__index) and refuses every store
// (__newindex; a proxy is always empty, so every store reaches it). The real tables are
// reachable only from C: the scripts' _G is the proxy of a "view" of the globals whose
// library entries are proxies too, rawset/setmetatable refuse proxies, getmetatable
// never returns a proxy's metatable, and every function a script loads runs with the
// proxy _G as its environment. rawget/next/pairs see through proxies, so reading and
// iterating behave as on the real tables.

// luaL_where for the Lua code that caused the access (level 1 is this C function).
void PushWhere(lua_State* L) {
  lua_Debug ar;
  if (lua_getstack(L, 1, &ar)) {
    lua_getinfo(L, "Sl", &ar);
    if (ar.currentline > 0) {
      lua_pushfstring(L, "%s:%d: ", ar.short_src, ar.currentline);
      return;
    }
  }
  lua_pushliteral(L, "");
}

int GlobalsIndex(lua_State* L) {
  // (table, key): only reached for names that are not globals.
  PushWhere(L);
  lua_pushstring(L, "Script attempted to access nonexistent global variable '");
  lua_pushvalue(L, 2);
  if (!lua_isstring(L, -1)) {
    lua_pop(L, 1);
    lua_pushstring(L, "?");
  } else {
    lua_tostring(L, -1);
  }
  lua_pushstring(L, "'");
  lua_concat(L, 4);
  return lua_error(L);
}

int ReadOnlyNewIndex(lua_State* L) {
  PushWhere(L);
  lua_pushstring(L, "Attempt to modify a readonly table");
  lua_concat(L, 2);
  return lua_error(L);
}

// Pushes the table proxy `idx` shows, or nil when `idx` is not a proxy.
void PushProxyTarget(lua_State* L, int idx) {
  if (idx < 0 && idx > LUA_REGISTRYINDEX) idx = lua_gettop(L) + idx + 1;
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  lua_remove(L, -2);
}

bool IsReadOnly(lua_State* L, int idx) {
  PushProxyTarget(L, idx);
  bool ro = !lua_isnil(L, -1);
  lua_pop(L, 1);
  return ro;
}

// Replaces argument 1 by the table it is a proxy of, if it is one.
void SeeThrough(lua_State* L) {
  PushProxyTarget(L, 1);
  if (lua_isnil(L, -1)) lua_pop(L, 1);
  else lua_replace(L, 1);
}

// rawset that refuses the protected tables (_G and the libraries), as Redis 7.0's
// read-only tables do.
int SafeRawSet(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  luaL_checkany(L, 3);
  if (IsReadOnly(L, 1)) {
    lua_pushstring(L, "Attempt to modify a readonly table");
    return lua_error(L);
  }
  lua_settop(L, 3);
  lua_rawset(L, 1);
  return 1;
}

int SafeRawGet(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_checkany(L, 2);
  lua_settop(L, 2);
  SeeThrough(L);
  lua_rawget(L, 1);
  return 1;
}

int SafeNext(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 2);
  SeeThrough(L);
  if (lua_next(L, 1)) return 2;
  lua_pushnil(L);
  return 1;
}

int SafePairs(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushvalue(L, lua_upvalueindex(1));  // SafeNext
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

int SafeSetMetatable(lua_State* L) {
  int t = lua_type(L, 2);
  luaL_checktype(L, 1, LUA_TTABLE);
  luaL_argcheck(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table expected");
  if (IsReadOnly(L, 1)) {
    lua_pushstring(L, "Attempt to modify a readonly table");
    return lua_error(L);
  }
  if (luaL_getmetafield(L, 1, "__metatable")) return luaL_error(L, "cannot change a protected metatable");
  lua_settop(L, 2);
  lua_setmetatable(L, 1);
  return 1;
}

int SafeGetMetatable(lua_State* L) {
  luaL_checkany(L, 1);
  if (IsReadOnly(L, 1) || !lua_getmetatable(L, 1)) {
    lua_pushnil(L);
    return 1;
  }
  // A protected metatable (the strings' one) is shown as its read-only proxy.
  lua_getfield(L, LUA_REGISTRYINDEX, kMetaProxyKey);
  lua_pushvalue(L, -2);
  lua_rawget(L, -2);
  if (!lua_isnil(L, -1)) return 1;
  lua_pop(L, 2);
  luaL_getmetafield(L, 1, "__metatable");
  return 1;
}

// Scripts may not load bytecode (Redis's Lua refuses binary chunks: its loader parses
// every chunk as text). Loading the text " " + chunk gives the text parser's error for
// the chunk's first byte, the message Redis replies.
int LoadChunk(lua_State* L, const char* s, size_t len, const char* name) {
  int status;
  if (len > 0 && s[0] == LUA_SIGNATURE[0]) {
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addchar(&b, ' ');
    luaL_addlstring(&b, s, len);
    luaL_pushresult(&b);
    size_t n;
    const char* text = lua_tolstring(L, -1, &n);
    status = luaL_loadbuffer(L, text, n, name);
    lua_remove(L, -2);
  } else {
    status = luaL_loadbuffer(L, s, len, name);
  }
  if (status != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  // Loaded code sees the scripts' protected globals, never the real ones.
  lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsProxyKey);
  lua_setfenv(L, -2);
  return 1;
}

int SafeLoadString(lua_State* L) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  const char* name = luaL_optstring(L, 2, s);
  return LoadChunk(L, s, len, name);
}

int SafeLoad(lua_State* L) {
  const char* name = luaL_optstring(L, 2, "=(load)");
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 2);
  // The reader's pieces, joined (what lua_load would read), kept on the stack at 3. As
  // in Lua's load, a failing reader makes load return nil and the message.
  lua_pushliteral(L, "");
  while (true) {
    lua_pushvalue(L, 1);
    if (lua_pcall(L, 0, 1, 0) != 0) {
      lua_pushnil(L);
      lua_insert(L, -2);
      return 2;
    }
    if (lua_isnil(L, -1)) {
      lua_pop(L, 1);
      break;
    }
    if (!lua_isstring(L, -1)) {
      lua_pushnil(L);
      luaL_where(L, 1);
      lua_pushliteral(L, "reader function must return a string");
      lua_concat(L, 2);
      return 2;
    }
    if (lua_objlen(L, -1) == 0) {
      lua_pop(L, 1);
      break;
    }
    lua_concat(L, 2);
  }
  size_t len;
  const char* s = lua_tolstring(L, 3, &len);
  return LoadChunk(L, s, len, name);
}

// ---- bit.tohex with Lua BitOp's results for every n (its n = INT_MIN negation overflows) ----

// Lua BitOp's conversion of a number to 32 bits (wraps modulo 2^32, rounds to nearest).
uint32_t BitArg(lua_State* L, int idx) {
  double n = lua_tonumber(L, idx) + 6755399441055744.0;  // 2^52 + 2^51
  uint64_t bits;
  std::memcpy(&bits, &n, sizeof bits);
  uint32_t b = static_cast<uint32_t>(bits);
  if (b == 0 && !lua_isnumber(L, idx)) luaL_typerror(L, idx, "number");
  return b;
}

int BitToHex(lua_State* L) {
  uint32_t b = BitArg(L, 1);
  int32_t n = lua_isnone(L, 2) ? 8 : static_cast<int32_t>(BitArg(L, 2));
  const char* digits = "0123456789abcdef";
  if (n < 0) {
    n = n == INT32_MIN ? INT32_MAX : -n;
    digits = "0123456789ABCDEF";
  }
  if (n > 8) n = 8;
  char buf[8];
  for (int i = n; --i >= 0;) {
    buf[i] = digits[b & 15];
    b >>= 4;
  }
  lua_pushlstring(L, buf, static_cast<size_t>(n));
  return 1;
}

// ---- math.random: Redis's rand48 generator, reseeded with 0 before every script ----
// (Redis 6.2 reseeds so that a script's random sequence is the same on every run.)

// Each run has its own state, so scripts interleaved on one thread (one suspended in
// its fiber) do not disturb each other's sequences.
thread_local uint64_t tl_rand48 = 0x330E;  // when no script runs (never, in practice)

uint64_t& Rand48State() { return tl_current ? tl_current->rand48 : tl_rand48; }

void Srand48(RunState* run, int32_t seed) {
  run->rand48 = (static_cast<uint64_t>(static_cast<uint32_t>(seed)) << 16) | 0x330E;
}

int32_t Lrand48() {
  uint64_t& x = Rand48State();
  x = (x * 0x5DEECE66DULL + 0xB) & ((1ULL << 48) - 1);
  return static_cast<int32_t>(x >> 17);
}

int MathRandom(lua_State* L) {
  lua_Number r = static_cast<lua_Number>(Lrand48() % INT32_MAX) / static_cast<lua_Number>(INT32_MAX);
  switch (lua_gettop(L)) {
    case 0:
      lua_pushnumber(L, r);
      break;
    case 1: {
      int u = luaL_checkint(L, 1);
      luaL_argcheck(L, 1 <= u, 1, "interval is empty");
      lua_pushnumber(L, std::floor(r * u) + 1);
      break;
    }
    case 2: {
      int l = luaL_checkint(L, 1);
      int u = luaL_checkint(L, 2);
      luaL_argcheck(L, l <= u, 2, "interval is empty");
      lua_pushnumber(L, std::floor(r * (u - l + 1)) + l);
      break;
    }
    default:
      return luaL_error(L, "wrong number of arguments");
  }
  return 1;
}

int MathRandomSeed(lua_State* L) {
  int32_t seed = luaL_checkint(L, 1);
  Rand48State() = (static_cast<uint64_t>(static_cast<uint32_t>(seed)) << 16) | 0x330E;
  return 0;
}

// ---- pattern matching within the stack ----
//
// Lua's matcher recurses in C, and every level of its recursion belongs to a pattern
// item: a '*', '+' or '-' item recurses once each time the matcher enters it, a '?'
// item only when its character matched (so at most once per subject character), a
// capture's '(' and ')' once each. Measured on Debian's liblua5.1 (x86-64) a level costs
// at most 96 bytes of C stack; 128 are reserved. A match that could outgrow the stack
// left fails with Lua 5.2's "pattern too complex" instead of crashing. On a script's
// 32 MB stack that is ~250,000 levels, more than Redis's 8 MB stack holds.
constexpr size_t kStackPerLevel = 128;
constexpr size_t kStackReserve = 256 * 1024;

// An upper bound of the matcher's recursion depth for `pattern` on a subject of
// `subject_len` bytes.
size_t PatternLevels(const char* pattern, size_t len, size_t subject_len) {
  size_t always = 0, optional = 0;
  for (size_t i = 0; i < len; ++i) {
    char c = pattern[i];
    if (c == '*' || c == '+' || c == '-' || c == '(' || c == ')') ++always;
    else if (c == '?') ++optional;
  }
  return always + std::min(optional, subject_len + 1) + 1;
}

bool PatternFits(size_t levels) {
  size_t left = StackRemaining();
  return left > kStackReserve && (left - kStackReserve) / kStackPerLevel > levels;
}

// Calls the original function (upvalue 1) with this call's arguments. Its own errors
// (malformed pattern, ...) name no position since its caller is C: they get the
// script's position, as when the script calls the original directly. Only for functions
// that call no Lua code (so every error is the matcher's own).
int CallOriginal(lua_State* L) {
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  int status = lua_pcall(L, n, LUA_MULTRET, 0);
  if (status == 0) return lua_gettop(L);
  if (status == LUA_ERRRUN && lua_type(L, -1) == LUA_TSTRING) {
    luaL_where(L, 1);
    lua_insert(L, -2);
    lua_concat(L, 2);
  }
  return lua_error(L);
}

// string.find / string.match: (s, pattern [, init [, plain]]).
int SafeFind(lua_State* L) {
  size_t slen, plen;
  luaL_checklstring(L, 1, &slen);
  const char* p = luaL_checklstring(L, 2, &plen);
  luaL_optinteger(L, 3, 1);
  if (!PatternFits(PatternLevels(p, plen, slen))) return luaL_error(L, "pattern too complex");
  return CallOriginal(L);
}

// The iterator string.gmatch returns: checks the stack at each step, where it matches.
int SafeGmatchStep(lua_State* L) {
  if (!PatternFits(static_cast<size_t>(lua_tointeger(L, lua_upvalueindex(2)))))
    return luaL_error(L, "pattern too complex");
  return CallOriginal(L);
}

int SafeGmatch(lua_State* L) {
  size_t slen, plen;
  luaL_checklstring(L, 1, &slen);
  const char* p = luaL_checklstring(L, 2, &plen);
  size_t levels = PatternLevels(p, plen, slen);
  lua_settop(L, 2);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, 2, 1);  // the original iterator
  lua_pushinteger(L, static_cast<lua_Integer>(levels));
  lua_pushcclosure(L, SafeGmatchStep, 2);
  return 1;
}

int SafeGsub(lua_State* L) {
  size_t slen, plen;
  luaL_checklstring(L, 1, &slen);
  const char* p = luaL_checklstring(L, 2, &plen);
  int tr = lua_type(L, 3);
  luaL_argcheck(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION || tr == LUA_TTABLE, 3,
                "string/function/table expected");
  luaL_optinteger(L, 4, 0);
  if (!PatternFits(PatternLevels(p, plen, slen))) return luaL_error(L, "pattern too complex");
  if (tr == LUA_TNUMBER || tr == LUA_TSTRING) return CallOriginal(L);
  // A function or table replacement runs script code, whose errors must pass unchanged:
  // call the original directly (its own pattern errors then carry no position).
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

// table.insert / table.remove / table.sort store raw: they refuse the read-only tables.
int RefuseReadOnlyArg(lua_State* L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  if (!IsReadOnly(L, 1)) return 0;
  lua_pushstring(L, "Attempt to modify a readonly table");
  return lua_error(L);
}

int SafeTableInsertRemove(lua_State* L) {
  RefuseReadOnlyArg(L);
  return CallOriginal(L);
}

int SafeTableSort(lua_State* L) {
  RefuseReadOnlyArg(L);
  // The comparator is script code: its errors pass unchanged.
  int n = lua_gettop(L);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

// Replaces lib[name] by the C closure fn(original).
void WrapLibFunction(lua_State* L, const char* lib, const char* name, lua_CFunction fn) {
  lua_getglobal(L, lib);
  lua_getfield(L, -1, name);
  lua_pushcclosure(L, fn, 1);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

void SetLibFunction(lua_State* L, const char* lib, const char* name, lua_CFunction fn) {
  lua_getglobal(L, lib);
  lua_pushcfunction(L, fn);
  lua_setfield(L, -2, name);
  lua_pop(L, 1);
}

// pcall as Redis 7.0 scripts see it: an error raised as a table with an `err` field
// (what redis.call raises, or error(redis.error_reply(...))) is caught as that string.
int ScriptPcall(lua_State* L) {
  luaL_checkany(L, 1);
  int status = lua_pcall(L, lua_gettop(L) - 1, LUA_MULTRET, 0);
  if (status == 0) {
    lua_pushboolean(L, 1);
    lua_insert(L, 1);
    return lua_gettop(L);
  }
  if (lua_istable(L, -1)) {
    lua_pushstring(L, "err");
    lua_rawget(L, -2);
    if (lua_isstring(L, -1)) lua_remove(L, -2);
    else lua_pop(L, 1);
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

// The error handler of every script call (Redis's __redis__err__handler): turns the
// error into a new table {err=..., source=..., line=...} naming where it was raised.
// It reads the script's error object only raw, so no metamethod of it runs here.
int ErrorHandler(lua_State* L) {
  lua_Debug ar;
  bool have = false;
  if (lua_getstack(L, 1, &ar)) {
    lua_getinfo(L, "Sl", &ar);
    have = true;
    if (std::strcmp(ar.what, "C") == 0) {
      have = lua_getstack(L, 2, &ar) != 0;
      if (have) lua_getinfo(L, "Sl", &ar);
    }
  }
  lua_newtable(L);
  lua_pushstring(L, "err");
  if (lua_istable(L, 1)) {
    lua_pushstring(L, "err");
    lua_rawget(L, 1);
  } else if (lua_type(L, 1) == LUA_TSTRING || lua_type(L, 1) == LUA_TNUMBER) {
    lua_pushstring(L, "ERR ");
    lua_pushvalue(L, 1);
    lua_concat(L, 2);
  } else {
    lua_pushstring(L, "ERR ");
    lua_getglobal(L, "tostring");  // the real globals' tostring
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);  // may raise (a __tostring that fails): Lua reports that instead
    lua_concat(L, 2);
  }
  lua_rawset(L, -3);
  if (have) {
    lua_pushstring(L, "source");
    lua_pushstring(L, ar.source);
    lua_rawset(L, -3);
    lua_pushstring(L, "line");
    lua_pushnumber(L, ar.currentline);
    lua_rawset(L, -3);
  }
  return 1;
}

void Hook(lua_State* L, lua_Debug*) {
  RunState* run = tl_current;
  if (!run) return;
  bool kill = run->host->Hook();
  Activate(L, run);
  if (kill) {
    // From now on fire at every line, so a pcall in the script cannot swallow the kill.
    lua_sethook(L, Hook, LUA_MASKLINE | LUA_MASKCOUNT, 1);
    PushErrorTable(L, "ERR Script killed by user with SCRIPT KILL...");
    lua_error(L);
  }
}

void OpenLib(lua_State* L, lua_CFunction fn, const char* name) {
  lua_pushcfunction(L, fn);
  lua_pushstring(L, name);
  lua_call(L, 1, 0);
}

// Pushes a new read-only proxy of the table at `idx` and registers it.
void PushProxy(lua_State* L, int idx) {
  if (idx < 0) idx = lua_gettop(L) + idx + 1;
  lua_newtable(L);  // the proxy
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, idx);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ReadOnlyNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_pushvalue(L, -2);
  lua_pushvalue(L, idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

// Empties every proxy: a proxy only ever holds what a raw store slipped into it
// (table.insert(string, x)), which must not reach the next script.
int ClearProxies(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    int proxy = lua_gettop(L);
    while (true) {
      lua_pushnil(L);
      if (!lua_next(L, proxy)) break;
      lua_pop(L, 1);
      lua_pushnil(L);
      lua_rawset(L, proxy);
    }
  }
  lua_pop(L, 1);
  return 0;
}

// ---- functions: the library load ----

// The library load in progress on this thread (null outside LuaEngine::LoadLibrary).
struct LoadContext {
  std::vector<FunctionSpec>* functions;
  std::chrono::steady_clock::time_point deadline;
};
thread_local LoadContext* tl_load = nullptr;

int RaiseErr(lua_State* L, const char* msg) {
  PushErrorTable(L, msg);
  return lua_error(L);
}

bool ValidFunctionName(const char* s, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; ++i) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Adds a function to the load context's list (no Lua call here: see the rule above).
void RecordFunction(const char* name, size_t len, const char* desc, size_t desc_len, uint32_t flags) {
  FunctionSpec spec;
  spec.name.assign(name, len);
  spec.flags = flags;
  if (desc) {
    spec.has_description = true;
    spec.description.assign(desc, desc_len);
  }
  tl_load->functions->push_back(std::move(spec));
}

// Stages the callback at `cb_idx` under the name at `name_idx` and records the function.
// Returns an error message or null (the caller raises it).
const char* StageFunction(lua_State* L, int name_idx, int cb_idx, bool has_desc, int desc_idx, uint32_t flags) {
  size_t len;
  const char* name = lua_tolstring(L, name_idx, &len);
  // Redis 7.0 reports a bad function name with the library-name message.
  if (!ValidFunctionName(name, len))
    return "Library names can only contain letters, numbers, or underscores(_) and must be at least one character "
           "long";
  for (const FunctionSpec& f : *tl_load->functions)
    if (f.name.size() == len && std::memcmp(f.name.data(), name, len) == 0)
      return "Function already exists in the library";
  size_t desc_len = 0;
  const char* desc = has_desc ? lua_tolstring(L, desc_idx, &desc_len) : nullptr;
  // The stores may raise a memory error: done before any C++ object exists.
  lua_getfield(L, LUA_REGISTRYINDEX, kStagingKey);
  lua_pushvalue(L, name_idx);
  lua_pushvalue(L, cb_idx);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  RecordFunction(name, len, desc, desc_len, flags);
  return nullptr;
}

// Reads a `flags` table of strings. Returns false on an unknown flag.
bool ReadFunctionFlags(lua_State* L, int idx, uint32_t* flags) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    bool known = false;
    if (lua_type(L, -1) == LUA_TSTRING) {
      const char* f = lua_tostring(L, -1);
      for (size_t i = 0; i < std::size(kFunctionFlagNames); ++i) {
        if (std::strcmp(f, kFunctionFlagNames[i]) == 0) {
          *flags |= 1u << i;
          known = true;
        }
      }
    }
    lua_pop(L, 1);
    if (!known) {
      lua_pop(L, 1);
      return false;
    }
  }
  return true;
}

// redis.register_function(name, callback) or redis.register_function{function_name=,
// callback=, flags=, description=}: Redis 7.0's argument rules and error strings.
int RegisterFunction(lua_State* L) {
  if (!tl_load) return RaiseErr(L, "ERR redis.register_function can only be called on FUNCTION LOAD command");
  int argc = lua_gettop(L);
  if (argc == 2) {
    if (!lua_isstring(L, 1)) return RaiseErr(L, "ERR first argument to redis.register_function must be a string");
    if (!lua_isfunction(L, 2)) return RaiseErr(L, "ERR second argument to redis.register_function must be a function");
    const char* err = StageFunction(L, 1, 2, false, 0, 0);
    if (err) {
      lua_pushfstring(L, "ERR %s", err);
      return RaiseErr(L, lua_tostring(L, -1));
    }
    return 0;
  }
  if (argc != 1) return RaiseErr(L, "ERR wrong number of arguments to redis.register_function");
  if (!lua_istable(L, 1))
    return RaiseErr(L, "ERR calling redis.register_function with a single argument is only applicable to Lua table "
                       "(representing named arguments).");
  // Slots 2..5: name, callback, description, flags.
  lua_settop(L, 1);
  lua_pushnil(L);
  lua_pushnil(L);
  lua_pushnil(L);
  uint32_t flags = 0;
  lua_pushnil(L);
  lua_pushnil(L);  // iteration key
  while (lua_next(L, 1)) {
    if (lua_type(L, -2) != LUA_TSTRING) return RaiseErr(L, "ERR named argument key given to redis.register_function is not a string");
    const char* key = lua_tostring(L, -2);
    if (std::strcmp(key, "function_name") == 0) {
      if (lua_type(L, -1) != LUA_TSTRING)
        return RaiseErr(L, "ERR function_name argument given to redis.register_function must be a string");
      lua_replace(L, 2);
    } else if (std::strcmp(key, "callback") == 0) {
      if (!lua_isfunction(L, -1))
        return RaiseErr(L, "ERR callback argument given to redis.register_function must be a function");
      lua_replace(L, 3);
    } else if (std::strcmp(key, "description") == 0) {
      if (lua_type(L, -1) != LUA_TSTRING)
        return RaiseErr(L, "ERR description argument given to redis.register_function must be a string");
      lua_replace(L, 4);
    } else if (std::strcmp(key, "flags") == 0) {
      if (!lua_istable(L, -1))
        return RaiseErr(L, "ERR flags argument to redis.register_function must be a table representing function flags");
      if (!ReadFunctionFlags(L, lua_gettop(L), &flags)) return RaiseErr(L, "ERR unknown flag given");
      lua_pop(L, 1);
    } else {
      return RaiseErr(L, "ERR unknown argument given to redis.register_function");
    }
  }
  if (lua_isnil(L, 2)) return RaiseErr(L, "ERR redis.register_function must get a function name argument");
  if (lua_isnil(L, 3)) return RaiseErr(L, "ERR redis.register_function must get a callback argument");
  const char* err = StageFunction(L, 2, 3, !lua_isnil(L, 4), 4, flags);
  if (err) {
    lua_pushfstring(L, "ERR %s", err);
    return RaiseErr(L, lua_tostring(L, -1));
  }
  return 0;
}

// Count hook of a library load: its code may run until the load context's deadline.
void LoadHook(lua_State* L, lua_Debug*) {
  if (!tl_load || std::chrono::steady_clock::now() < tl_load->deadline) return;
  lua_sethook(L, LoadHook, LUA_MASKLINE | LUA_MASKCOUNT, 1);  // a pcall cannot swallow it
  PushErrorTable(L, "ERR FUNCTION LOAD timeout");
  lua_error(L);
}

}  // namespace

LuaEngine& LuaEngine::ForThisThread() {
  thread_local std::unique_ptr<LuaEngine> engine;
  if (!engine) engine.reset(new LuaEngine());
  return *engine;
}

namespace {
// Every live engine, for TotalMemoryUsed: engines come and go with their threads.
struct EngineRegistry {
  std::mutex mu;
  std::vector<const LuaEngine*> engines;
};
EngineRegistry& Engines() {
  static EngineRegistry r;
  return r;
}
}  // namespace

LuaEngine::LuaEngine() {
  {
    std::lock_guard lk(Engines().mu);
    Engines().engines.push_back(this);
  }
  Setup();
}

size_t LuaEngine::TotalMemoryUsed() {
  std::lock_guard lk(Engines().mu);
  size_t n = 0;
  for (const LuaEngine* e : Engines().engines) n += e->memory_used();
  return n;
}

void* LuaEngine::Allocate(void* engine, void* ptr, size_t old_size, size_t new_size) {
  auto* self = static_cast<LuaEngine*>(engine);
  const size_t used = self->memory_used_.load(std::memory_order_relaxed);
  if (new_size == 0) {
    std::free(ptr);
    self->memory_used_.store(used - old_size, std::memory_order_relaxed);
    return nullptr;
  }
  // Lua passes old_size 0 for a new block; a shrink must never fail (Lua relies on it).
  if (self->memory_limit_ && new_size > old_size && used - old_size + new_size > self->memory_limit_)
    return nullptr;
  void* p = std::realloc(ptr, new_size);
  if (p) self->memory_used_.store(used - old_size + new_size, std::memory_order_relaxed);
  return p;
}

namespace {
// Every Lua call that may raise runs inside lua_pcall/lua_cpcall (LuaEngine::Run, Load);
// reaching this handler is a bug in that discipline, reported before Lua exits.
int Panic(lua_State* L) {
  const char* msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
  LOG_WARNING("Lua: unprotected error in call to Lua API (%s)", msg);
  return 0;
}
}  // namespace

LuaEngine::~LuaEngine() {
  if (L_) lua_close(L_);
  std::lock_guard lk(Engines().mu);
  auto& v = Engines().engines;
  v.erase(std::remove(v.begin(), v.end(), this), v.end());
}

void LuaEngine::Setup() {
  L_ = lua_newstate(Allocate, this);
  DARTER_CHECK(L_, "out of memory");
  lua_atpanic(L_, Panic);
  lua_State* L = L_;
  OpenLib(L, luaopen_base, "");
  OpenLib(L, luaopen_table, LUA_TABLIBNAME);
  OpenLib(L, luaopen_string, LUA_STRLIBNAME);
  OpenLib(L, luaopen_math, LUA_MATHLIBNAME);
  // cjson and bit from Debian's lua-cjson / lua-bitop; cmsgpack and struct, which
  // Debian does not package, are Darter's own (lua_cmsgpack.h, lua_struct.h).
  const std::pair<const char*, lua_CFunction> libraries[] = {
      {"cjson", luaopen_cjson}, {"bit", luaopen_bit}, {"cmsgpack", OpenCmsgpack}, {"struct", OpenStruct}};
  for (const auto& [name, open] : libraries) {
    lua_pushcfunction(L, open);
    lua_call(L, 0, 1);
    lua_setglobal(L, name);
  }
  // What Redis 7.0 removes from the base library.
  for (const char* name : {"dofile", "loadfile", "print", "getfenv", "setfenv", "newproxy"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_pushcfunction(L, SafeRawSet);
  lua_setglobal(L, "rawset");
  lua_pushcfunction(L, SafeRawGet);
  lua_setglobal(L, "rawget");
  lua_pushcfunction(L, SafeNext);
  lua_pushvalue(L, -1);
  lua_setglobal(L, "next");
  lua_pushcclosure(L, SafePairs, 1);
  lua_setglobal(L, "pairs");
  lua_pushcfunction(L, SafeSetMetatable);
  lua_setglobal(L, "setmetatable");
  lua_pushcfunction(L, SafeGetMetatable);
  lua_setglobal(L, "getmetatable");
  lua_pushcfunction(L, SafeLoadString);
  lua_setglobal(L, "loadstring");
  lua_pushcfunction(L, SafeLoad);
  lua_setglobal(L, "load");
  lua_pushcfunction(L, ScriptPcall);
  lua_setglobal(L, "pcall");
  lua_pushcfunction(L, ErrorHandler);
  lua_setglobal(L, "__redis__err__handler");
  SetLibFunction(L, "bit", "tohex", BitToHex);
  SetLibFunction(L, "math", "random", MathRandom);
  SetLibFunction(L, "math", "randomseed", MathRandomSeed);
  WrapLibFunction(L, "string", "find", SafeFind);
  WrapLibFunction(L, "string", "match", SafeFind);
  WrapLibFunction(L, "string", "gmatch", SafeGmatch);
  WrapLibFunction(L, "string", "gsub", SafeGsub);
  WrapLibFunction(L, "table", "insert", SafeTableInsertRemove);
  WrapLibFunction(L, "table", "remove", SafeTableInsertRemove);
  WrapLibFunction(L, "table", "sort", SafeTableSort);

  lua_newtable(L);  // the real redis API
  auto fn = [&](const char* name, lua_CFunction f) {
    lua_pushcfunction(L, f);
    lua_setfield(L, -2, name);
  };
  fn("call", RedisCall);
  fn("pcall", RedisPcall);
  fn("sha1hex", RedisSha1Hex);
  fn("error_reply", RedisErrorReply);
  fn("status_reply", RedisStatusReply);
  fn("log", RedisLog);
  fn("setresp", RedisSetResp);
  fn("replicate_commands", RedisReturnTrue);
  fn("set_repl", RedisReturnNothing);
  fn("breakpoint", RedisReturnNothing);
  fn("debug", RedisReturnNothing);
  auto num = [&](const char* name, double v) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
  };
  num("LOG_DEBUG", 0);
  num("LOG_VERBOSE", 1);
  num("LOG_NOTICE", 2);
  num("LOG_WARNING", 3);
  num("REPL_NONE", 0);
  num("REPL_AOF", 1);
  num("REPL_SLAVE", 2);
  num("REPL_REPLICA", 2);
  num("REPL_ALL", 3);
  num("REDIS_VERSION_NUM", 0x07000f);
  lua_pushstring(L, "7.0.15");
  lua_setfield(L, -2, "REDIS_VERSION");
  lua_setglobal(L, "redis");

  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kScriptsKey);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kMetaProxyKey);

  // The view: what scripts read as globals. A copy of the real globals whose library
  // tables are replaced by read-only proxies; reading a name it lacks fails.
  lua_newtable(L);
  int view = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, LUA_GLOBALSINDEX)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, view);
  }
  for (const char* lib : {"string", "math", "table", "cjson", "bit", "cmsgpack", "struct", "coroutine", "redis"}) {
    lua_getglobal(L, lib);
    PushProxy(L, -1);
    lua_setfield(L, view, lib);
    lua_pop(L, 1);
  }
  lua_newtable(L);
  lua_pushcfunction(L, GlobalsIndex);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, view);
  PushProxy(L, view);  // the scripts' _G
  lua_pushvalue(L, -1);
  lua_setfield(L, view, "_G");
  lua_setfield(L, LUA_REGISTRYINDEX, kGlobalsProxyKey);
  lua_setfield(L, LUA_REGISTRYINDEX, kViewKey);

  // Functions. A library's code runs with the functions' _G, a proxy whose target is
  // switched: the library view (only `redis`, with register_function, log and the
  // version fields, as Redis 7.0 gives a load) while the code runs, the scripts' view
  // otherwise, so the functions it registers see the full API when they are called.
  lua_newtable(L);
  lua_pushcfunction(L, RegisterFunction);
  lua_setfield(L, -2, "register_function");
  lua_pushcfunction(L, RedisLog);
  lua_setfield(L, -2, "log");
  const std::pair<const char*, double> lib_numbers[] = {
      {"LOG_DEBUG", 0}, {"LOG_VERBOSE", 1}, {"LOG_NOTICE", 2}, {"LOG_WARNING", 3}, {"REDIS_VERSION_NUM", 0x07000f}};
  for (auto& [name, v] : lib_numbers) {
    lua_pushnumber(L, v);
    lua_setfield(L, -2, name);
  }
  lua_pushstring(L, "7.0.15");
  lua_setfield(L, -2, "REDIS_VERSION");
  int lib_api = lua_gettop(L);
  lua_newtable(L);  // reading a field it lacks fails, as Redis's library API does
  lua_pushcfunction(L, GlobalsIndex);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, lib_api);
  lua_newtable(L);  // the library view
  int lib_view = lua_gettop(L);
  PushProxy(L, lib_api);
  lua_setfield(L, lib_view, "redis");
  lua_newtable(L);
  lua_pushcfunction(L, GlobalsIndex);
  lua_setfield(L, -2, "__index");
  lua_setmetatable(L, lib_view);
  lua_setfield(L, LUA_REGISTRYINDEX, kLibViewKey);
  lua_pop(L, 1);  // the library api
  lua_getfield(L, LUA_REGISTRYINDEX, kViewKey);
  PushProxy(L, -1);
  lua_getmetatable(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, kFnEnvMetaKey);
  lua_setfield(L, LUA_REGISTRYINDEX, kFnEnvKey);
  lua_pop(L, 1);  // the view
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kFunctionsKey);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kStagingKey);

  // Strings index the string library through its proxy, and getmetatable("") shows a
  // read-only proxy of their metatable, so neither can be changed by a script.
  lua_pushliteral(L, "");
  lua_getmetatable(L, -1);
  int string_meta = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, kViewKey);
  lua_getfield(L, -1, "string");
  lua_setfield(L, string_meta, "__index");
  lua_pop(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, kMetaProxyKey);
  lua_pushvalue(L, string_meta);
  PushProxy(L, string_meta);
  lua_rawset(L, -3);
  lua_pop(L, 3);
}

namespace {

// Parses a "#!lua [flags=a,b]" first line. Returns "" or the error reply; *code is the
// body with the shebang line's text removed (its newline kept, so line numbers hold).
std::string ParseShebang(std::string_view body, ScriptFlags* flags, std::string_view* code) {
  *code = body;
  if (body.substr(0, 2) != "#!") return "";
  size_t eol = body.find('\n');
  std::string_view line = body.substr(0, eol);
  *code = eol == std::string_view::npos ? std::string_view() : body.substr(eol);
  flags->shebang = true;
  std::vector<std::string_view> words;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && line[i] == ' ') ++i;
    size_t j = i;
    while (j < line.size() && line[j] != ' ') ++j;
    if (j > i) words.push_back(line.substr(i, j - i));
    i = j;
  }
  if (words.empty() || words[0] != "#!lua")
    return "ERR Unexpected engine in script shebang: " + std::string(words.empty() ? line : words[0]);
  for (size_t w = 1; w < words.size(); ++w) {
    std::string_view opt = words[w];
    if (opt.substr(0, 6) != "flags=") return "ERR Unknown lua shebang option: " + std::string(opt);
    std::string_view list = opt.substr(6);
    while (!list.empty()) {
      size_t comma = list.find(',');
      std::string_view f = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
      if (f == "no-writes") flags->no_writes = true;
      else if (f == "allow-stale") flags->allow_stale = true;
      else if (f != "allow-oom" && f != "no-cluster" && f != "allow-cross-slot-keys")
        return "ERR Unexpected flag in script shebang: " + std::string(f);
    }
  }
  return "";
}

}  // namespace

namespace {

// Registers the compiled chunk on top of the stack as script `sha` (lua_cpcall: the
// stores may raise a memory error).
struct Registration {
  const std::string* sha;
};
int RegisterScript(lua_State* L) {
  auto* r = static_cast<Registration*>(lua_touserdata(L, 1));
  lua_getfield(L, LUA_REGISTRYINDEX, kScriptsKey);
  lua_pushlstring(L, r->sha->data(), r->sha->size());
  lua_getfield(L, LUA_REGISTRYINDEX, "darter_loading");
  lua_rawset(L, -3);
  return 0;
}

}  // namespace

std::string LuaEngine::Load(const std::string& sha, std::string_view body) {
  if (cached_.count(sha)) return "";
  ScriptFlags flags;
  std::string_view code;
  std::string shebang_error = ParseShebang(body, &flags, &code);
  if (!shebang_error.empty()) return shebang_error;
  body = code;
  lua_State* L = L_;
  // A binary chunk is refused as Redis's Lua refuses it: parsed as text (see LoadChunk).
  std::string text;
  if (!body.empty() && body[0] == LUA_SIGNATURE[0]) {
    text.reserve(body.size() + 1);
    text.push_back(' ');
    text.append(body);
    body = text;
  }
  if (luaL_loadbuffer(L, body.data(), body.size(), "@user_script") != 0) {
    std::string err = "ERR Error compiling script (new function): ";
    const char* msg = lua_tostring(L, -1);
    err += msg ? msg : "?";
    lua_pop(L, 1);
    return err;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, kGlobalsProxyKey);
  lua_setfenv(L, -2);
  // Stored from a protected call, which reaches the chunk through a registry slot (a C
  // function sees only its own frame).
  lua_setfield(L, LUA_REGISTRYINDEX, "darter_loading");
  Registration reg{&sha};
  int rc = lua_cpcall(L, RegisterScript, &reg);
  lua_pushnil(L);
  lua_setfield(L, LUA_REGISTRYINDEX, "darter_loading");
  if (rc != 0) {
    lua_pop(L, 1);
    return "ERR Error compiling script (new function): not enough memory";
  }
  cached_.emplace(sha, flags);
  return "";
}

bool LuaEngine::Has(const std::string& sha) const { return cached_.count(sha) > 0; }

void LuaEngine::Flush() {
  lua_newtable(L_);
  lua_setfield(L_, LUA_REGISTRYINDEX, kScriptsKey);
  cached_.clear();
  lua_gc(L_, LUA_GCCOLLECT, 0);
}

namespace {

// Points the functions' _G at the view registered under `view_key`.
void SetFunctionsView(lua_State* L, const char* view_key) {
  lua_getfield(L, LUA_REGISTRYINDEX, kFnEnvMetaKey);
  lua_getfield(L, LUA_REGISTRYINDEX, view_key);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}

}  // namespace

std::string LuaEngine::LoadLibrary(std::string_view code, std::vector<FunctionSpec>* functions, int64_t limit_ms) {
  lua_State* L = L_;
  functions->clear();
  std::string text;
  if (!code.empty() && code[0] == LUA_SIGNATURE[0]) {  // a binary chunk is parsed as text
    text.reserve(code.size() + 1);
    text.push_back(' ');
    text.append(code);
    code = text;
  }
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kStagingKey);
  lua_pushcfunction(L, ErrorHandler);
  int handler = lua_gettop(L);
  if (luaL_loadbuffer(L, code.data(), code.size(), "@user_function") != 0) {
    std::string err = "ERR Error compiling function: ";
    const char* msg = lua_tostring(L, -1);
    err += msg ? msg : "?";
    lua_settop(L, handler - 1);
    return err;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, kFnEnvKey);
  lua_setfenv(L, -2);
  LoadContext ctx{functions, std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms)};
  tl_load = &ctx;
  SetFunctionsView(L, kLibViewKey);
  lua_sethook(L, LoadHook, LUA_MASKCOUNT, kHookInstructions);
  // A library's top level may allocate at most kLoadMemoryBytes more than the engine
  // holds (beyond it Lua raises "not enough memory"): its time bound alone would let a
  // hostile library take memory as fast as the allocator gives it.
  constexpr size_t kLoadMemoryBytes = 256u << 20;
  const size_t limit_before = memory_limit_;
  if (!memory_limit_) memory_limit_ = memory_used_.load(std::memory_order_relaxed) + kLoadMemoryBytes;
  int rc = lua_pcall(L, 0, 0, handler);
  memory_limit_ = limit_before;
  lua_sethook(L, nullptr, 0, 0);
  SetFunctionsView(L, kViewKey);
  tl_load = nullptr;
  std::string err;
  if (rc != 0) {
    err = "ERR Error registering functions: ";
    if (lua_istable(L, -1)) {
      lua_pushstring(L, "err");
      lua_rawget(L, -2);
      const char* e = lua_isstring(L, -1) ? lua_tostring(L, -1) : nullptr;
      err += e ? e : "ERR unknown error";
      lua_pop(L, 1);
    } else {
      const char* e = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
      err += std::string("ERR ") + (e ? e : "unknown error");
    }
  } else if (functions->empty()) {
    err = "ERR No functions registered";
  }
  lua_settop(L, handler - 1);
  ClearProxies(L);
  if (!err.empty()) {
    functions->clear();
    lua_newtable(L);
    lua_setfield(L, LUA_REGISTRYINDEX, kStagingKey);
  }
  if (rc != 0) {
    // What a failed load allocated is garbage now: collect it and hand it back to the
    // system at once rather than at some later collection.
    lua_gc(L, LUA_GCCOLLECT, 0);
    malloc_trim(0);
  }
  return err;
}

void LuaEngine::CommitLibrary() {
  lua_State* L = L_;
  lua_getfield(L, LUA_REGISTRYINDEX, kFunctionsKey);
  lua_getfield(L, LUA_REGISTRYINDEX, kStagingKey);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -5);
  }
  lua_pop(L, 2);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kStagingKey);
}

void LuaEngine::ClearFunctions() {
  lua_newtable(L_);
  lua_setfield(L_, LUA_REGISTRYINDEX, kFunctionsKey);
  lua_gc(L_, LUA_GCCOLLECT, 0);
}

namespace {

int MakeArgTable(lua_State* L, store::ArgList list) {
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (size_t i = 0; i < list.size(); ++i) {
    lua_pushlstring(L, list[i].data(), list[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

// Writes the error reply of a failed script: the message, the script's sha and where
// the error was raised ("... script: <sha>, on @user_script:1."). The error is the
// table ErrorHandler built (read raw), or a string when Lua could not call the handler.
void ReplyScriptError(lua_State* L, const std::string& sha, resp::ReplyBuilder& rb) {
  std::string msg;
  if (lua_istable(L, -1)) {
    lua_pushstring(L, "err");
    lua_rawget(L, -2);
    const char* e = lua_isstring(L, -1) ? lua_tostring(L, -1) : nullptr;
    msg = e ? e : "ERR unknown error";
    lua_pop(L, 1);
    msg += " script: " + sha;
    lua_pushstring(L, "source");
    lua_rawget(L, -2);
    lua_pushstring(L, "line");
    lua_rawget(L, -3);
    if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TNUMBER) {
      msg += ", on ";
      msg += lua_tostring(L, -2);
      msg += ":" + std::to_string(static_cast<long long>(lua_tonumber(L, -1))) + ".";
    }
    lua_pop(L, 2);
  } else {
    const char* e = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : nullptr;
    msg = std::string("ERR ") + (e ? e : "unknown error") + " script: " + sha;
  }
  for (char& c : msg)
    if (c == '\r' || c == '\n') c = ' ';
  rb.Error(msg);
}

// One script run. Every Lua API call of a run happens inside lua_cpcall, so that no
// error (a memory error, a metamethod of a value the script returned) is ever raised
// outside a protected call: Lua would abort the process.
struct RunCall {
  const std::string* sha;
  store::ArgList keys, argv;
  RunState* state;
  resp::ReplyBuilder* out;
  bool function = false;
  lua_State* thread = nullptr;
  int thread_ref = LUA_NOREF;
};

// On the main state: the run's Lua thread (each run has one: another script of this OS
// thread may be suspended in the middle of its own stack) and its KEYS/ARGV.
int PrepareRun(lua_State* L) {
  auto* c = static_cast<RunCall*>(lua_touserdata(L, 1));
  c->thread = lua_newthread(L);
  c->thread_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  c->state->keys_ref = MakeArgTable(L, c->keys);
  c->state->argv_ref = MakeArgTable(L, c->argv);
  Activate(L, c->state);
  return 0;
}

// On the run's thread: calls the script and converts its result or error.
int ExecuteRun(lua_State* T) {
  auto* c = static_cast<RunCall*>(lua_touserdata(T, 1));
  lua_pushcfunction(T, ErrorHandler);
  int handler = lua_gettop(T);
  lua_getfield(T, LUA_REGISTRYINDEX, c->function ? kFunctionsKey : kScriptsKey);
  lua_pushlstring(T, c->sha->data(), c->sha->size());
  lua_rawget(T, -2);
  lua_remove(T, -2);
  // Not there when SCRIPT FLUSH (FUNCTION DELETE) ran between loading and running it.
  if (!lua_isfunction(T, -1)) {
    c->out->Error(c->function ? "ERR Function not found" : "NOSCRIPT No matching script. Please use EVAL.");
    return 0;
  }
  int nargs = 0;
  if (c->function) {  // f(KEYS, ARGV)
    lua_rawgeti(T, LUA_REGISTRYINDEX, c->state->keys_ref);
    lua_rawgeti(T, LUA_REGISTRYINDEX, c->state->argv_ref);
    nargs = 2;
  }
  if (lua_pcall(T, nargs, 1, handler) == 0) ReplyFromLua(T, lua_gettop(T), *c->out, c->state->resp, 0);
  else ReplyScriptError(T, *c->sha, *c->out);
  return 0;
}

int FinishRun(lua_State* L) {
  auto* c = static_cast<RunCall*>(lua_touserdata(L, 1));
  luaL_unref(L, LUA_REGISTRYINDEX, c->state->keys_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, c->state->argv_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, c->thread_ref);
  ClearProxies(L);
  return 0;
}

}  // namespace

void LuaEngine::Run(const std::string& sha, store::ArgList keys, store::ArgList argv, ScriptHost& host,
                    resp::ReplyBuilder& reply, bool function) {
  lua_State* L = L_;
  RunState state{&host, 2, LUA_NOREF, LUA_NOREF};
  state.function = function;
  Srand48(&state, 0);
  // The reply is built aside: a run that fails half way through its conversion must
  // not leave half a reply behind.
  std::string encoded;
  resp::ReplyBuilder out(&encoded);
  out.SetProtocol(reply.protocol());
  RunCall call{&sha, keys, argv, &state, &out, function};
  if (lua_cpcall(L, PrepareRun, &call) != 0) {
    lua_pop(L, 1);
    reply.Error("ERR Error running script: not enough memory");
    tl_current = nullptr;
    lua_cpcall(L, FinishRun, &call);
    return;
  }
  lua_State* T = call.thread;
  lua_sethook(T, Hook, LUA_MASKCOUNT, kHookInstructions);
  if (lua_cpcall(T, ExecuteRun, &call) != 0) {
    const char* e = lua_type(T, -1) == LUA_TSTRING ? lua_tostring(T, -1) : "unknown error";
    encoded.clear();
    out.Error(std::string("ERR Error running script: ") + e + " script: " + sha);
  }
  reply.Raw(encoded);
  lua_settop(T, 0);
  tl_current = nullptr;
  if (lua_cpcall(L, FinishRun, &call) != 0) lua_pop(L, 1);
}

}  // namespace darter::server
