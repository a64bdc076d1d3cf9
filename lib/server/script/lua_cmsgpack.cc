#include "server/script/lua_cmsgpack.h"

#include <lauxlib.h>
#include <lua.h>

#include <cfloat>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <utility>

// Lua raises errors with longjmp, so nothing here owns memory through a C++ destructor:
// the encoder writes into a scratch buffer owned by a userdata (freed by its __gc), and
// the decoder only reads the argument string.

namespace darter::server {

namespace {

// Tables deeper than this encode as nil (Redis's LUACMSGPACK_MAX_NESTING).
constexpr int kMaxNesting = 16;
// Registry: a weak-keyed table, Lua thread -> that thread's scratch buffer.
constexpr const char* kScratchKey = "darter_cmsgpack_scratch";
constexpr const char* kScratchMetaKey = "darter_cmsgpack_scratch_meta";  // registry: their metatable
// A scratch buffer larger than this is released at the start and end of a pack.
constexpr size_t kKeepScratchBytes = 64 * 1024;
// Values encoded or decoded between two turns of the state's count hook.
constexpr uint32_t kValuesPerHookTurn = 16384;

// ---- the count hook ----

// Encoding and decoding run inside one C call, where Lua's count hook never fires; a
// self-referencing table expands exponentially (up to the nesting bound) and a large
// input takes long. So every kValuesPerHookTurn values the state's count hook gets a
// turn, as it would in a Lua loop: the engine can then report the script busy, let its
// thread serve others, and stop it on SCRIPT KILL (the hook raises; nothing here needs
// unwinding). While the thread serves others, other Lua threads of the state may run
// cmsgpack too, which is why each Lua thread has its own scratch buffer.
void HookTurn(lua_State* L, uint32_t* values) {
  if (++*values % kValuesPerHookTurn != 0) return;
  lua_Hook hook = lua_gethook(L);
  if (!hook || !(lua_gethookmask(L) & LUA_MASKCOUNT)) return;
  lua_Debug ar{};
  ar.event = LUA_HOOKCOUNT;
  hook(L, &ar);
}

// ---- encoding ----

// Grows through the state's allocator, so its bytes count as the interpreter's memory.
struct Scratch {
  char* data;
  size_t len;
  size_t cap;
  uint32_t values;  // encoded so far, for HookTurn
};

void ReleaseScratch(lua_State* L, Scratch* s) {
  void* ud;
  lua_Alloc alloc = lua_getallocf(L, &ud);
  if (s->data) alloc(ud, s->data, s->cap, 0);
  s->data = nullptr;
  s->len = s->cap = 0;
}

int FreeScratch(lua_State* L) {
  ReleaseScratch(L, static_cast<Scratch*>(lua_touserdata(L, 1)));
  return 0;
}

// The running Lua thread's scratch buffer, emptied (created on first use).
Scratch* GetScratch(lua_State* L) {
  lua_getfield(L, LUA_REGISTRYINDEX, kScratchKey);
  lua_pushthread(L);
  lua_rawget(L, -2);
  auto* s = static_cast<Scratch*>(lua_touserdata(L, -1));
  lua_pop(L, 1);
  if (!s) {
    s = static_cast<Scratch*>(lua_newuserdata(L, sizeof(Scratch)));
    *s = Scratch{nullptr, 0, 0, 0};
    luaL_getmetatable(L, kScratchMetaKey);
    lua_setmetatable(L, -2);
    lua_pushthread(L);
    lua_pushvalue(L, -2);
    lua_rawset(L, -4);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);  // the registry's table keeps the buffer while the thread lives
  if (s->cap > kKeepScratchBytes) ReleaseScratch(L, s);  // left large by an error
  s->len = 0;
  return s;
}

void Append(lua_State* L, Scratch* s, const void* bytes, size_t n) {
  if (s->cap - s->len < n) {
    if (n > SIZE_MAX / 4 - s->len) luaL_error(L, "not enough memory");
    const size_t cap = (s->len + n) * 2;
    void* ud;
    lua_Alloc alloc = lua_getallocf(L, &ud);
    void* p = alloc(ud, s->data, s->cap, cap);
    if (!p) luaL_error(L, "not enough memory");
    s->data = static_cast<char*>(p);
    s->cap = cap;
  }
  std::memcpy(s->data + s->len, bytes, n);
  s->len += n;
}

// A one-byte type tag followed by `width` bytes of `v`, most significant first.
void AppendTagged(lua_State* L, Scratch* s, uint8_t tag, uint64_t v, int width) {
  unsigned char b[9];
  b[0] = tag;
  for (int i = 0; i < width; ++i) b[1 + i] = static_cast<unsigned char>(v >> (8 * (width - 1 - i)));
  Append(L, s, b, 1 + width);
}

void EncodeInteger(lua_State* L, Scratch* s, int64_t n) {
  const auto u = static_cast<uint64_t>(n);
  if (n >= 0) {
    if (n <= 0x7f) return AppendTagged(L, s, static_cast<uint8_t>(n), 0, 0);  // positive fixint
    if (n <= 0xff) return AppendTagged(L, s, 0xcc, u, 1);
    if (n <= 0xffff) return AppendTagged(L, s, 0xcd, u, 2);
    if (n <= 0xffffffffLL) return AppendTagged(L, s, 0xce, u, 4);
    return AppendTagged(L, s, 0xcf, u, 8);
  }
  if (n >= -32) return AppendTagged(L, s, static_cast<uint8_t>(u), 0, 0);  // negative fixint
  if (n >= -128) return AppendTagged(L, s, 0xd0, u, 1);
  if (n >= -32768) return AppendTagged(L, s, 0xd1, u, 2);
  if (n >= INT32_MIN) return AppendTagged(L, s, 0xd2, u, 4);
  AppendTagged(L, s, 0xd3, u, 8);
}

void EncodeFloat(lua_State* L, Scratch* s, double d) {
  // float32 when converting back gives the same double (NaN never does, so it is a
  // float64, as in Redis; the infinities are float32). Finite doubles beyond float's
  // range are float64 without converting them (that conversion is undefined in C++).
  const bool fits_float = std::isinf(d) || (std::isfinite(d) && std::fabs(d) <= FLT_MAX);
  const float f = fits_float ? static_cast<float>(d) : 0.0f;
  if (fits_float && static_cast<double>(f) == d) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    return AppendTagged(L, s, 0xca, bits, 4);
  }
  uint64_t bits;
  std::memcpy(&bits, &d, 8);
  AppendTagged(L, s, 0xcb, bits, 8);
}

void EncodeNumber(lua_State* L, Scratch* s, double d) {
  // An integer when the double is exactly some int64 (2^63 and above are not).
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 && static_cast<double>(static_cast<int64_t>(d)) == d)
    return EncodeInteger(L, s, static_cast<int64_t>(d));
  EncodeFloat(L, s, d);
}

void EncodeString(lua_State* L, Scratch* s) {
  size_t len;
  const char* p = lua_tolstring(L, -1, &len);
  if (len < 32) {
    AppendTagged(L, s, static_cast<uint8_t>(0xa0 | len), 0, 0);
  } else if (len <= 0xff) {
    AppendTagged(L, s, 0xd9, len, 1);
  } else if (len <= 0xffff) {
    AppendTagged(L, s, 0xda, len, 2);
  } else {
    AppendTagged(L, s, 0xdb, len, 4);  // Redis writes the low 32 bits of longer lengths too
  }
  Append(L, s, p, len);
}

void EncodeContainerHeader(lua_State* L, Scratch* s, uint8_t fix, uint8_t tag16, uint64_t n) {
  if (n <= 15) return AppendTagged(L, s, static_cast<uint8_t>(fix | n), 0, 0);
  if (n <= 65535) return AppendTagged(L, s, tag16, n, 2);
  AppendTagged(L, s, static_cast<uint8_t>(tag16 + 1), n, 4);
}

// True when the table on top has exactly the keys 1..n (no other key, no hole): the
// largest key equals the number of keys, every key being a positive int-sized integer.
bool IsArray(lua_State* L) {
  const int top = lua_gettop(L);
  int count = 0;
  int max = 0;
  luaL_checkstack(L, 2, "in function table_is_an_array");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    double n;
    if (lua_type(L, -1) != LUA_TNUMBER || (n = lua_tonumber(L, -1)) <= 0 || n > INT_MAX ||
        static_cast<double>(static_cast<int>(n)) != n) {
      lua_settop(L, top);
      return false;
    }
    if (n > max) max = static_cast<int>(n);
    ++count;
  }
  lua_settop(L, top);
  return max == count;
}

void EncodeValue(lua_State* L, Scratch* s, int level);

void EncodeTable(lua_State* L, Scratch* s, int level) {
  if (IsArray(L)) {
    const size_t len = lua_objlen(L, -1);
    EncodeContainerHeader(L, s, 0x90, 0xdc, len);
    luaL_checkstack(L, 1, "in function mp_encode_lua_table_as_array");
    for (size_t j = 1; j <= len; ++j) {
      lua_pushnumber(L, static_cast<lua_Number>(j));
      lua_gettable(L, -2);
      EncodeValue(L, s, level + 1);
    }
    return;
  }
  size_t len = 0;
  luaL_checkstack(L, 3, "in function mp_encode_lua_table_as_map");
  lua_pushnil(L);
  while (lua_next(L, -2)) {
    lua_pop(L, 1);
    ++len;
  }
  EncodeContainerHeader(L, s, 0x80, 0xde, len);
  lua_pushnil(L);
  while (lua_next(L, -2)) {  // ... table key value
    lua_pushvalue(L, -2);
    EncodeValue(L, s, level + 1);  // the key's copy
    EncodeValue(L, s, level + 1);  // the value
  }
}

// Encodes the value on top of the stack and pops it.
void EncodeValue(lua_State* L, Scratch* s, int level) {
  HookTurn(L, &s->values);
  int type = lua_type(L, -1);
  if (type == LUA_TTABLE && level == kMaxNesting) type = LUA_TNIL;
  switch (type) {
    case LUA_TSTRING:
      EncodeString(L, s);
      break;
    case LUA_TBOOLEAN:
      AppendTagged(L, s, lua_toboolean(L, -1) ? 0xc3 : 0xc2, 0, 0);
      break;
    case LUA_TNUMBER:
      EncodeNumber(L, s, lua_tonumber(L, -1));
      break;
    case LUA_TTABLE:
      EncodeTable(L, s, level);
      break;
    default:
      AppendTagged(L, s, 0xc0, 0, 0);
      break;
  }
  lua_pop(L, 1);
}

int Pack(lua_State* L) {
  const int nargs = lua_gettop(L);
  if (nargs == 0) return luaL_argerror(L, 0, "MessagePack pack needs input.");
  if (!lua_checkstack(L, nargs)) return luaL_argerror(L, 0, "Too many arguments for MessagePack pack.");
  Scratch* s = GetScratch(L);
  // Each argument's encoding is pushed as its own string and all are concatenated at
  // the end, which keeps the stack use (and so the stack limits) what Redis's has.
  for (int i = 1; i <= nargs; ++i) {
    luaL_checkstack(L, 1, "in function mp_check");
    lua_pushvalue(L, i);
    s->len = 0;
    EncodeValue(L, s, 0);
    lua_pushlstring(L, s->data, s->len);
  }
  if (s->cap > kKeepScratchBytes) ReleaseScratch(L, s);
  lua_concat(L, nargs);
  return 1;
}

// ---- decoding ----

enum class DecodeError { kNone, kTruncated, kBadFormat };

struct Cursor {
  const unsigned char* p;
  size_t left;
  DecodeError err;
  uint32_t values;  // decoded so far, for HookTurn
};

uint64_t ReadBigEndian(const unsigned char* p, int width) {
  uint64_t v = 0;
  for (int i = 0; i < width; ++i) v = (v << 8) | p[i];
  return v;
}

// Consumes `n` bytes when they are there; else marks the input truncated.
bool Need(Cursor* c, size_t n) {
  if (c->left >= n) return true;
  c->err = DecodeError::kTruncated;
  return false;
}

void Consume(Cursor* c, size_t n) {
  c->p += n;
  c->left -= n;
}

void DecodeValue(lua_State* L, Cursor* c);

// Arrays and maps: the declared count only bounds the loop; every element needs at
// least one more input byte, so a huge count on short input stops at the first miss.
void DecodeArray(lua_State* L, Cursor* c, uint64_t n) {
  lua_newtable(L);
  luaL_checkstack(L, 1, "in function mp_decode_to_lua_array");
  int index = 1;
  while (n--) {
    lua_pushnumber(L, index++);
    DecodeValue(L, c);
    if (c->err != DecodeError::kNone) return;
    lua_settable(L, -3);
  }
}

void DecodeMap(lua_State* L, Cursor* c, uint64_t n) {
  lua_newtable(L);
  while (n--) {
    DecodeValue(L, c);
    if (c->err != DecodeError::kNone) return;
    DecodeValue(L, c);
    if (c->err != DecodeError::kNone) return;
    lua_settable(L, -3);
  }
}

// A string whose length field is `width` bytes after the tag.
void DecodeString(lua_State* L, Cursor* c, int width) {
  if (!Need(c, 1 + width)) return;
  const uint64_t len = ReadBigEndian(c->p + 1, width);
  Consume(c, 1 + width);
  if (!Need(c, len)) return;
  lua_pushlstring(L, reinterpret_cast<const char*>(c->p), len);
  Consume(c, len);
}

// Reads `width` bytes after the tag as a big-endian unsigned value.
bool ReadFixed(Cursor* c, int width, uint64_t* v) {
  if (!Need(c, 1 + width)) return false;
  *v = ReadBigEndian(c->p + 1, width);
  Consume(c, 1 + width);
  return true;
}

// Decodes one value at the cursor and pushes it (stack use per level as Redis's, so
// deep input fails with the same "stack overflow" message at the same depth).
void DecodeValue(lua_State* L, Cursor* c) {
  if (!Need(c, 1)) return;
  HookTurn(L, &c->values);
  luaL_checkstack(L, 1, "too many return values at once; use unpack_one or unpack_limit instead.");
  const unsigned char tag = c->p[0];
  uint64_t v = 0;
  switch (tag) {
    case 0xcc:
      if (ReadFixed(c, 1, &v)) lua_pushinteger(L, static_cast<lua_Integer>(v));
      return;
    case 0xcd:
      if (ReadFixed(c, 2, &v)) lua_pushinteger(L, static_cast<lua_Integer>(v));
      return;
    case 0xce:
      if (ReadFixed(c, 4, &v)) lua_pushinteger(L, static_cast<lua_Integer>(v));
      return;
    case 0xcf:  // pushed as a signed 64-bit integer, as Redis does: 2^64-1 reads as -1
      if (ReadFixed(c, 8, &v)) lua_pushnumber(L, static_cast<lua_Number>(static_cast<int64_t>(v)));
      return;
    case 0xd0:
      if (ReadFixed(c, 1, &v)) lua_pushinteger(L, static_cast<int8_t>(v));
      return;
    case 0xd1:
      if (ReadFixed(c, 2, &v)) lua_pushinteger(L, static_cast<int16_t>(v));
      return;
    case 0xd2:
      if (ReadFixed(c, 4, &v)) lua_pushinteger(L, static_cast<int32_t>(v));
      return;
    case 0xd3:
      if (ReadFixed(c, 8, &v)) lua_pushnumber(L, static_cast<lua_Number>(static_cast<int64_t>(v)));
      return;
    case 0xc0:
      lua_pushnil(L);
      Consume(c, 1);
      return;
    case 0xc2:
    case 0xc3:
      lua_pushboolean(L, tag == 0xc3);
      Consume(c, 1);
      return;
    case 0xca:
      if (ReadFixed(c, 4, &v)) {
        const auto bits = static_cast<uint32_t>(v);
        float f;
        std::memcpy(&f, &bits, 4);
        lua_pushnumber(L, f);
      }
      return;
    case 0xcb:
      if (ReadFixed(c, 8, &v)) {
        double d;
        std::memcpy(&d, &v, 8);
        lua_pushnumber(L, d);
      }
      return;
    case 0xd9:
      return DecodeString(L, c, 1);
    case 0xda:
      return DecodeString(L, c, 2);
    case 0xdb:
      return DecodeString(L, c, 4);
    case 0xdc:
      if (ReadFixed(c, 2, &v)) DecodeArray(L, c, v);
      return;
    case 0xdd:
      if (ReadFixed(c, 4, &v)) DecodeArray(L, c, v);
      return;
    case 0xde:
      if (ReadFixed(c, 2, &v)) DecodeMap(L, c, v);
      return;
    case 0xdf:
      if (ReadFixed(c, 4, &v)) DecodeMap(L, c, v);
      return;
    default:
      break;
  }
  if ((tag & 0x80) == 0) {  // positive fixint
    lua_pushinteger(L, tag);
    Consume(c, 1);
  } else if ((tag & 0xe0) == 0xe0) {  // negative fixint
    lua_pushinteger(L, static_cast<int8_t>(tag));
    Consume(c, 1);
  } else if ((tag & 0xe0) == 0xa0) {  // fixstr
    const size_t len = tag & 0x1f;
    if (!Need(c, 1 + len)) return;
    lua_pushlstring(L, reinterpret_cast<const char*>(c->p + 1), len);
    Consume(c, 1 + len);
  } else if ((tag & 0xf0) == 0x90) {  // fixarray
    Consume(c, 1);
    DecodeArray(L, c, tag & 0xf);
  } else if ((tag & 0xf0) == 0x80) {  // fixmap
    Consume(c, 1);
    DecodeMap(L, c, tag & 0xf);
  } else {  // 0xc1, bin, ext: not accepted by Redis's library either
    c->err = DecodeError::kBadFormat;
  }
}

// Decodes up to `limit` values of argument 1 from byte `offset`. limit == offset == 0
// means "all values, no offset returned" (cmsgpack.unpack); otherwise the next offset
// (-1 once the input is consumed) is returned before the values.
int UnpackFrom(lua_State* L, lua_Integer limit, lua_Integer offset) {
  size_t len;
  const char* s = luaL_checklstring(L, 1, &len);
  const bool decode_all = limit == 0 && offset == 0;
  if (offset < 0 || limit < 0) {
    // Redis's message shows the input length where it says limit.
    return luaL_error(L, "Invalid request to unpack with offset of %d and limit of %d.", static_cast<int>(offset),
                      static_cast<int>(len));
  }
  if (static_cast<size_t>(offset) > len)
    return luaL_error(L, "Start offset %d greater than input length %d.", static_cast<int>(offset),
                      static_cast<int>(len));
  if (decode_all) limit = INT_MAX;
  Cursor c{reinterpret_cast<const unsigned char*>(s) + offset, len - static_cast<size_t>(offset), DecodeError::kNone, 0};
  int count = 0;
  for (; c.left > 0 && count < limit; ++count) {
    DecodeValue(L, &c);
    if (c.err == DecodeError::kTruncated) return luaL_error(L, "Missing bytes in input.");
    if (c.err == DecodeError::kBadFormat) return luaL_error(L, "Bad data format in input.");
  }
  if (decode_all) return count;
  luaL_checkstack(L, 1, "in function mp_unpack_full");
  lua_pushinteger(L, c.left == 0 ? -1 : static_cast<lua_Integer>(len - c.left));
  lua_insert(L, 2);  // the offset comes first; only argument 1 is below it
  return count + 1;
}

int Unpack(lua_State* L) { return UnpackFrom(L, 0, 0); }

int UnpackOne(lua_State* L) {
  const lua_Integer offset = luaL_optinteger(L, 2, 0);
  if (lua_gettop(L) > 1) lua_settop(L, 1);  // no argument at all stays "no value"
  return UnpackFrom(L, 1, offset);
}

int UnpackLimit(lua_State* L) {
  const lua_Integer limit = luaL_checkinteger(L, 2);
  const lua_Integer offset = luaL_optinteger(L, 3, 0);
  lua_settop(L, 1);  // argument 2 exists: luaL_checkinteger passed
  return UnpackFrom(L, limit, offset);
}

}  // namespace

int OpenCmsgpack(lua_State* L) {
  luaL_newmetatable(L, kScratchMetaKey);
  lua_pushcfunction(L, FreeScratch);
  lua_setfield(L, -2, "__gc");
  lua_pop(L, 1);
  lua_newtable(L);  // Lua thread -> scratch buffer, forgotten with the thread
  lua_newtable(L);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, kScratchKey);

  lua_newtable(L);
  const std::pair<const char*, lua_CFunction> functions[] = {
      {"pack", Pack}, {"unpack", Unpack}, {"unpack_one", UnpackOne}, {"unpack_limit", UnpackLimit}};
  for (const auto& [name, fn] : functions) {
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
  }
  // The metadata fields Redis's build shows (scripts can read them).
  const std::pair<const char*, const char*> fields[] = {
      {"_NAME", "cmsgpack"},
      {"_VERSION", "lua-cmsgpack 0.4.0"},
      {"_COPYRIGHT", "Copyright (C) 2012, Salvatore Sanfilippo"},
      {"_DESCRIPTION", "MessagePack C implementation for Lua"}};
  for (const auto& [name, value] : fields) {
    lua_pushstring(L, value);
    lua_setfield(L, -2, name);
  }
  return 1;
}

}  // namespace darter::server
