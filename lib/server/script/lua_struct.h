// struct: the binary packing library Redis gives scripts (Roberto Ierusalimschy's struct
// as Redis 7.0 bundles it), written for Darter because Debian does not package it.
//
//   struct.pack(fmt, v1, ...)        -> a string
//   struct.unpack(fmt, s [, pos])    -> the values, then the position after the last byte read
//   struct.size(fmt)                 -> the size pack(fmt, ...) gives
//
// Format: '<' little / '>' big endian (native, little, by default), '![n]' alignment (n a
// power of 2, default 8), 'x' one zero byte, 'b'/'B' 8-bit, 'h'/'H' 16-bit, 'l'/'L' and
// 'T' 64-bit, 'i'/'I'[n] n-byte integers (default 4, at most 32; lower case signed),
// 'f' float, 'd' double, 'c'[n] n bytes (pack: n 0 = the whole string; unpack: n 0 =
// the previous number read), 's' zero-terminated string, ' ' ignored. The quirks of
// Redis's build on x86-64 are reproduced (integers above 8 bytes carry 8 bytes of value;
// out-of-range numbers convert as the x86 instructions do), and so are its error
// messages. Every size is checked against the data before it is read, and counts in the
// format are bounded by INT_MAX, so no format or data makes it read out of bounds.
//
// Thread-safety: the functions run on the Lua state's thread only, as all Lua code.
#pragma once

struct lua_State;

namespace darter::server {

// lua_CFunction: pushes the library table (pack, unpack, size). Call it through lua_call.
int OpenStruct(lua_State* L);

}  // namespace darter::server
