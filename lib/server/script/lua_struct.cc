#include "server/script/lua_struct.h"

#include <lauxlib.h>
#include <lua.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <utility>

// Lua raises errors with longjmp: nothing here has a destructor (the output is a
// luaL_Buffer, which lives on the Lua stack).

namespace darter::server {

namespace {

constexpr int kMaxIntegerSize = 32;  // 'i'/'I' take at most this many bytes
constexpr int kDefaultAlignment = 8;  // '!' alone: a double's alignment on x86-64

enum class Endian { kBig, kLittle };
constexpr Endian kNative = Endian::kLittle;  // Darter builds for little-endian hosts only

struct Options {
  Endian endian = kNative;
  int align = 1;
};

bool IsDigit(int c) { return c >= '0' && c <= '9'; }
bool IsAlnum(int c) { return IsDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsPowerOf2(int x) { return x > 0 && (x & (x - 1)) == 0; }

// A decimal count after an option, or `dflt` when none follows; above INT_MAX fails.
int ReadCount(lua_State* L, const char** fmt, int dflt) {
  if (!IsDigit(**fmt)) return dflt;
  int a = 0;
  do {
    const int digit = **fmt - '0';
    if (a > INT_MAX / 10 || a * 10 > INT_MAX - digit) luaL_error(L, "integral size overflow");
    a = a * 10 + digit;
    ++*fmt;
  } while (IsDigit(**fmt));
  return a;
}

// Bytes an option occupies (0 for the ones that take no data or vary: 's', controls).
size_t OptionSize(lua_State* L, int opt, const char** fmt) {
  switch (opt) {
    case 'B': case 'b': case 'x': return 1;
    case 'H': case 'h': return 2;
    case 'L': case 'l': case 'T': case 'd': return 8;
    case 'f': return 4;
    case 'c': return static_cast<size_t>(ReadCount(L, fmt, 1));
    case 'i': case 'I': {
      const int size = ReadCount(L, fmt, 4);
      if (size > kMaxIntegerSize)
        luaL_error(L, "integral size %d is larger than limit of %d", size, kMaxIntegerSize);
      return static_cast<size_t>(size);
    }
    default: return 0;
  }
}

// Padding that aligns an item of `size` bytes at offset `pos` (alignment capped by the
// '!' setting; 'c' is never aligned). Sizes that are not powers of 2 give the same odd
// padding the original formula gives.
size_t Padding(size_t pos, const Options& o, int opt, size_t size) {
  if (size == 0 || opt == 'c') return 0;
  if (size > static_cast<size_t>(o.align)) size = static_cast<size_t>(o.align);
  return static_cast<size_t>(static_cast<int>((size - (pos & (size - 1))) & (size - 1)));
}

// ' ', '<', '>' and '!n'; anything else is an invalid option.
void ApplyControl(lua_State* L, int opt, const char** fmt, Options* o) {
  switch (opt) {
    case ' ': return;
    case '>': o->endian = Endian::kBig; return;
    case '<': o->endian = Endian::kLittle; return;
    case '!': {
      const int a = ReadCount(L, fmt, kDefaultAlignment);
      if (!IsPowerOf2(a)) luaL_error(L, "alignment %d is not a power of 2", a);
      o->align = a;
      return;
    }
    default:
      luaL_argerror(L, 1, lua_pushfstring(L, "invalid format option '%c'", opt));
  }
}

// What a C cast of a double to a signed / unsigned 64-bit integer gives with GCC on
// x86-64 (Redis's build): truncation, and for NaN or out-of-range values the x86 result
// (0x8000000000000000 for the signed conversion; the unsigned one of 2^64 and above is 0).
int64_t TruncateToInt64(double d) {
  if (d >= -9223372036854775808.0 && d < 9223372036854775808.0) return static_cast<int64_t>(d);
  return INT64_MIN;
}

uint64_t TruncateToUint64(double d) {
  constexpr double kTwo63 = 9223372036854775808.0;
  if (!(d >= kTwo63)) return static_cast<uint64_t>(TruncateToInt64(d));
  return static_cast<uint64_t>(TruncateToInt64(d - kTwo63)) ^ (uint64_t{1} << 63);
}

void AddInteger(lua_State* L, luaL_Buffer* b, int arg, Endian endian, size_t size) {
  const lua_Number n = luaL_checknumber(L, arg);
  uint64_t value = n < 0 ? static_cast<uint64_t>(TruncateToInt64(n)) : TruncateToUint64(n);
  char bytes[kMaxIntegerSize] = {};
  // Least significant byte first; bytes past the eighth are zero (the value has 64 bits).
  for (size_t i = 0; i < size; ++i) {
    bytes[endian == Endian::kLittle ? i : size - 1 - i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  luaL_addlstring(b, bytes, size);
}

// Reverses `bytes` when the requested order is not the host's.
void ToOrder(char* bytes, size_t size, Endian endian) {
  if (endian == kNative) return;
  for (size_t i = 0, j = size - 1; i < j; ++i, --j) std::swap(bytes[i], bytes[j]);
}

// 'f' (T = float) and 'd' (T = double): the value's bytes in the format's byte order.
template <typename T>
void AddFloating(luaL_Buffer* b, lua_Number n, Endian endian) {
  const T v = static_cast<T>(n);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));
  ToOrder(bytes, sizeof(T), endian);
  luaL_addlstring(b, bytes, sizeof(T));
}

template <typename T>
lua_Number ReadFloating(const char* data, Endian endian) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, data, sizeof(T));
  ToOrder(bytes, sizeof(T), endian);
  T v;
  std::memcpy(&v, bytes, sizeof(T));
  return v;
}

lua_Number ReadInteger(const char* p, Endian endian, bool is_signed, size_t size) {
  uint64_t v = 0;  // bytes beyond the last eight shift out, as in Redis's build
  for (size_t i = 0; i < size; ++i) {
    const size_t at = endian == Endian::kBig ? i : size - 1 - i;
    v = (v << 8) | static_cast<unsigned char>(p[at]);
  }
  if (!is_signed) return static_cast<lua_Number>(v);
  // The sign mask's shift count is taken modulo 64, as the x86 shift does (a size of 0
  // or above 8 bytes gives Redis's odd mask, reproduced here).
  const unsigned shift = static_cast<unsigned>(static_cast<int>(size) * 8 - 1) & 63u;
  const uint64_t mask = ~uint64_t{0} << shift;
  if (v & mask) v |= mask;
  return static_cast<lua_Number>(static_cast<int64_t>(v));
}

int Pack(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  Options o;
  int arg = 2;
  size_t total = 0;
  lua_pushnil(L);  // separates the arguments from the buffer's stack slots
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  while (*fmt != '\0') {
    const int opt = *fmt++;
    size_t size = OptionSize(L, opt, &fmt);
    size_t pad = Padding(total, o, opt, size);
    total += pad;
    while (pad-- > 0) luaL_addchar(&b, '\0');
    switch (opt) {
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
        AddInteger(L, &b, arg++, o.endian, size);
        break;
      case 'x':
        luaL_addchar(&b, '\0');
        break;
      case 'f':
        AddFloating<float>(&b, luaL_checknumber(L, arg++), o.endian);
        break;
      case 'd':
        AddFloating<double>(&b, luaL_checknumber(L, arg++), o.endian);
        break;
      case 'c': case 's': {
        size_t len;
        const char* s = luaL_checklstring(L, arg++, &len);
        if (size == 0) size = len;
        // Redis names the argument after the string's (arg has moved on already).
        luaL_argcheck(L, len >= size, arg, "string too short");
        luaL_addlstring(&b, s, size);
        if (opt == 's') {
          luaL_addchar(&b, '\0');
          ++size;
        }
        break;
      }
      default:
        ApplyControl(L, opt, &fmt, &o);
    }
    total += size;
  }
  luaL_pushresult(&b);
  return 1;
}

int Unpack(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  size_t len;
  const char* data = luaL_checklstring(L, 2, &len);
  // A negative position converts to a huge one, so it fails as "data string too short"
  // (or, with an empty format, comes back unchanged), as in Redis.
  size_t pos = static_cast<size_t>(luaL_optinteger(L, 3, 1));
  luaL_argcheck(L, pos > 0, 3, "offset must be 1 or greater");
  --pos;
  Options o;
  int results = 0;
  while (*fmt) {
    const int opt = *fmt++;
    size_t size = OptionSize(L, opt, &fmt);
    pos += Padding(pos, o, opt, size);
    luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
    luaL_checkstack(L, 2, "too many results");  // this item and the final position
    switch (opt) {
      case 'b': case 'B': case 'h': case 'H': case 'l': case 'L': case 'T': case 'i': case 'I':
        lua_pushnumber(L, ReadInteger(data + pos, o.endian, opt >= 'a' && opt <= 'z', size));
        ++results;
        break;
      case 'x':
        break;
      case 'f':
        lua_pushnumber(L, ReadFloating<float>(data + pos, o.endian));
        ++results;
        break;
      case 'd':
        lua_pushnumber(L, ReadFloating<double>(data + pos, o.endian));
        ++results;
        break;
      case 'c': {
        if (size == 0) {  // the length is the previous result
          if (results == 0 || !lua_isnumber(L, -1)) luaL_error(L, "format 'c0' needs a previous size");
          size = TruncateToUint64(lua_tonumber(L, -1));
          lua_pop(L, 1);
          --results;
          luaL_argcheck(L, size <= len && pos <= len - size, 2, "data string too short");
        }
        lua_pushlstring(L, data + pos, size);
        ++results;
        break;
      }
      case 's': {
        const void* end = std::memchr(data + pos, '\0', len - pos);
        if (!end) luaL_error(L, "unfinished string in data");
        size = static_cast<size_t>(static_cast<const char*>(end) - (data + pos)) + 1;
        lua_pushlstring(L, data + pos, size - 1);
        ++results;
        break;
      }
      default:
        ApplyControl(L, opt, &fmt, &o);
    }
    pos += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos + 1));
  return results + 1;
}

int Size(lua_State* L) {
  const char* fmt = luaL_checkstring(L, 1);
  Options o;
  size_t pos = 0;
  while (*fmt) {
    const int opt = *fmt++;
    const size_t size = OptionSize(L, opt, &fmt);
    pos += Padding(pos, o, opt, size);
    if (opt == 's') {
      luaL_argerror(L, 1, "option 's' has no fixed size");
    } else if (opt == 'c' && size == 0) {
      luaL_argerror(L, 1, "option 'c0' has no fixed size");
    }
    // Letters Pack would refuse count as size 0 here, as in Redis.
    if (!IsAlnum(opt)) ApplyControl(L, opt, &fmt, &o);
    pos += size;
  }
  lua_pushinteger(L, static_cast<lua_Integer>(pos));
  return 1;
}

}  // namespace

int OpenStruct(lua_State* L) {
  lua_newtable(L);
  const std::pair<const char*, lua_CFunction> functions[] = {{"pack", Pack}, {"unpack", Unpack}, {"size", Size}};
  for (const auto& [name, fn] : functions) {
    lua_pushcfunction(L, fn);
    lua_setfield(L, -2, name);
  }
  return 1;
}

}  // namespace darter::server
