#include "server/script_lua.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <lua-bitop.h>
#include <lua-cjson.h>
}

#include <cstdio>
#include <cstring>
#include <memory>

#include "resp/reply_parser.h"
#include "server/log.h"
#include "server/script_sha1.h"

// Lua raises errors with longjmp. Rule for every lua_CFunction here: C++ objects with
// destructors live only inside helper functions that return before any call that may
// raise (lua_error, luaL_error, luaL_check*), so no destructor is ever skipped.

namespace darter::server {

namespace {

constexpr const char* kScriptsKey = "darter_scripts";      // registry: sha -> function
constexpr const char* kSnapshotKey = "darter_globals";     // registry: name -> value
constexpr const char* kReadOnlyKey = "darter_readonly";    // registry: table -> true
constexpr int kHookInstructions = 100000;

// The script being executed on this OS thread right now (set around every switch into
// a script; a script suspended in its fiber is not current).
struct RunState {
  ScriptHost* host;
  int resp = 2;
  int keys_ref = LUA_NOREF;  // registry refs of this run's KEYS and ARGV tables
  int argv_ref = LUA_NOREF;
};
thread_local RunState* tl_current = nullptr;

// Makes `run` the current script again: after its fiber was suspended, other scripts of
// this thread may have run and replaced the KEYS/ARGV globals.
void Activate(lua_State* L, RunState* run) {
  tl_current = run;
  lua_pushstring(L, "KEYS");
  lua_rawgeti(L, LUA_REGISTRYINDEX, run->keys_ref);
  lua_rawset(L, LUA_GLOBALSINDEX);
  lua_pushstring(L, "ARGV");
  lua_rawgeti(L, LUA_REGISTRYINDEX, run->argv_ref);
  lua_rawset(L, LUA_GLOBALSINDEX);
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

bool IsReadOnly(lua_State* L, int idx) {
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_pushvalue(L, idx);
  lua_rawget(L, -2);
  bool ro = lua_toboolean(L, -1);
  lua_pop(L, 2);
  return ro;
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
    lua_getfield(L, -1, "err");
    if (lua_isstring(L, -1)) lua_remove(L, -2);
    else lua_pop(L, 1);
  }
  lua_pushboolean(L, 0);
  lua_insert(L, -2);
  return 2;
}

// The error handler of every script call (Redis's __redis__err__handler): turns the
// error into a table {err=..., source=..., line=...} naming where it was raised.
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
  if (!lua_istable(L, 1)) {
    lua_newtable(L);
    lua_pushstring(L, "err");
    lua_pushstring(L, "ERR ");
    lua_getglobal(L, "tostring");  // may not fail: tostring is a global
    lua_pushvalue(L, 1);
    lua_call(L, 1, 1);
    lua_concat(L, 2);
    lua_rawset(L, -3);
  } else {
    lua_pushvalue(L, 1);
  }
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

void MarkReadOnly(lua_State* L, const char* global) {
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_getglobal(L, global);
  if (!lua_istable(L, -1)) {
    lua_pop(L, 2);
    return;
  }
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
  lua_getglobal(L, global);
  lua_newtable(L);
  lua_pushcfunction(L, ReadOnlyNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
}

}  // namespace

LuaEngine& LuaEngine::ForThisThread() {
  thread_local std::unique_ptr<LuaEngine> engine;
  if (!engine) engine.reset(new LuaEngine());
  return *engine;
}

LuaEngine::LuaEngine() { Setup(); }

LuaEngine::~LuaEngine() {
  if (L_) lua_close(L_);
}

void LuaEngine::Setup() {
  L_ = luaL_newstate();
  lua_State* L = L_;
  OpenLib(L, luaopen_base, "");
  OpenLib(L, luaopen_table, LUA_TABLIBNAME);
  OpenLib(L, luaopen_string, LUA_STRLIBNAME);
  OpenLib(L, luaopen_math, LUA_MATHLIBNAME);
  // cjson and bit from Debian's lua-cjson / lua-bitop; cmsgpack and struct are not
  // packaged by Debian, so scripts do not have them.
  lua_pushcfunction(L, luaopen_cjson);
  lua_call(L, 0, 1);
  lua_setglobal(L, "cjson");
  lua_pushcfunction(L, luaopen_bit);
  lua_call(L, 0, 1);
  lua_setglobal(L, "bit");
  // What Redis 7.0 removes from the base library.
  for (const char* name : {"dofile", "loadfile", "print", "getfenv", "setfenv", "newproxy"}) {
    lua_pushnil(L);
    lua_setglobal(L, name);
  }
  lua_pushcfunction(L, SafeRawSet);
  lua_setglobal(L, "rawset");
  lua_pushcfunction(L, ScriptPcall);
  lua_setglobal(L, "pcall");
  lua_pushcfunction(L, ErrorHandler);
  lua_setglobal(L, "__redis__err__handler");

  // The redis table is a read-only proxy over the real API table: scripts cannot break
  // redis.call for the scripts that follow.
  lua_newtable(L);  // real API
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
  lua_newtable(L);  // proxy
  lua_newtable(L);  // its metatable
  lua_pushvalue(L, -3);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ReadOnlyNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "__metatable");
  lua_setmetatable(L, -2);
  lua_setglobal(L, "redis");
  lua_pop(L, 1);  // real API (reachable through the proxy's metatable)

  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kScriptsKey);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  for (const char* lib : {"string", "math", "table", "cjson", "bit", "coroutine"}) MarkReadOnly(L, lib);

  // Snapshot of the globals, restored after every script (a script may overwrite an
  // existing global, e.g. `tostring = nil`, which __newindex does not see).
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, LUA_GLOBALSINDEX)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, -4);
  }
  lua_setfield(L, LUA_REGISTRYINDEX, kSnapshotKey);

  // Protect the globals table: reading an unknown name or creating a global fails.
  lua_pushvalue(L, LUA_GLOBALSINDEX);
  lua_newtable(L);
  lua_pushcfunction(L, GlobalsIndex);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, ReadOnlyNewIndex);
  lua_setfield(L, -2, "__newindex");
  lua_setmetatable(L, -2);
  lua_getfield(L, LUA_REGISTRYINDEX, kReadOnlyKey);
  lua_pushvalue(L, -2);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 2);
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
      else if (f != "allow-oom" && f != "allow-stale" && f != "no-cluster" && f != "allow-cross-slot-keys")
        return "ERR Unexpected flag in script shebang: " + std::string(f);
    }
  }
  return "";
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
  if (luaL_loadbuffer(L, body.data(), body.size(), "@user_script") != 0) {
    std::string err = "ERR Error compiling script (new function): ";
    const char* msg = lua_tostring(L, -1);
    err += msg ? msg : "?";
    lua_pop(L, 1);
    return err;
  }
  lua_getfield(L, LUA_REGISTRYINDEX, kScriptsKey);
  lua_pushlstring(L, sha.data(), sha.size());
  lua_pushvalue(L, -3);
  lua_rawset(L, -3);
  lua_pop(L, 2);
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

int MakeArgTable(lua_State* L, store::ArgList list) {
  lua_createtable(L, static_cast<int>(list.size()), 0);
  for (size_t i = 0; i < list.size(); ++i) {
    lua_pushlstring(L, list[i].data(), list[i].size());
    lua_rawseti(L, -2, static_cast<int>(i + 1));
  }
  return luaL_ref(L, LUA_REGISTRYINDEX);
}

// Writes the error reply of a failed script: the message, the script's sha and where
// the error was raised ("... script: <sha>, on @user_script:1.").
void ReplyScriptError(lua_State* L, const std::string& sha, resp::ReplyBuilder& rb) {
  std::string msg;
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, "err");
    const char* e = lua_tostring(L, -1);
    msg = e ? e : "ERR unknown error";
    lua_pop(L, 1);
    msg += " script: " + sha;
    lua_getfield(L, -1, "source");
    lua_getfield(L, -2, "line");
    if (lua_isstring(L, -2) && lua_isnumber(L, -1)) {
      msg += ", on ";
      msg += lua_tostring(L, -2);
      msg += ":" + std::to_string(static_cast<long long>(lua_tonumber(L, -1))) + ".";
    }
    lua_pop(L, 2);
  } else {
    const char* e = lua_tostring(L, -1);
    msg = std::string("ERR ") + (e ? e : "unknown error") + " script: " + sha;
  }
  for (char& c : msg)
    if (c == '\r' || c == '\n') c = ' ';
  rb.Error(msg);
}

}  // namespace

void LuaEngine::Run(const std::string& sha, store::ArgList keys, store::ArgList argv, ScriptHost& host,
                    resp::ReplyBuilder& reply) {
  lua_State* L = L_;
  // Each run gets its own Lua thread: another script of this OS thread may be suspended
  // in the middle of its own stack.
  lua_State* T = lua_newthread(L);
  int ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_sethook(T, Hook, LUA_MASKCOUNT, kHookInstructions);

  RunState state{&host, 2, MakeArgTable(T, keys), MakeArgTable(T, argv)};
  Activate(T, &state);
  lua_pushcfunction(T, ErrorHandler);
  lua_getfield(T, LUA_REGISTRYINDEX, kScriptsKey);
  lua_pushlstring(T, sha.data(), sha.size());
  lua_rawget(T, -2);
  lua_remove(T, -2);
  // Not there when SCRIPT FLUSH ran between loading and running it.
  int rc = lua_isfunction(T, -1) ? lua_pcall(T, 0, 1, -2) : -1;
  if (rc == -1) {
    reply.Error("NOSCRIPT No matching script. Please use EVAL.");
  } else if (rc == 0) {
    ReplyFromLua(T, lua_gettop(T), reply, state.resp, 0);
  } else {
    ReplyScriptError(T, sha, reply);
  }
  lua_settop(T, 0);
  tl_current = nullptr;
  luaL_unref(L, LUA_REGISTRYINDEX, state.keys_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, state.argv_ref);

  // Undo what the script did to the globals (see the snapshot in Setup).
  lua_getfield(L, LUA_REGISTRYINDEX, kSnapshotKey);
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pushvalue(L, -2);
    lua_insert(L, -2);
    lua_rawset(L, LUA_GLOBALSINDEX);
  }
  lua_pop(L, 1);
  luaL_unref(L, LUA_REGISTRYINDEX, ref);
}

}  // namespace darter::server
