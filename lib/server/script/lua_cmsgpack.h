// cmsgpack: the MessagePack library Redis gives scripts (its lua-cmsgpack 0.4.0), written
// for Darter because Debian does not package it. Scripts see the same functions, the same
// bytes and the same error messages as in Redis 7.0:
//
//   cmsgpack.pack(v1, v2, ...)          -> the encodings of every argument, concatenated
//   cmsgpack.unpack(s)                  -> every value encoded in s
//   cmsgpack.unpack_one(s [, offset])   -> next_offset, value   (next_offset -1 at the end)
//   cmsgpack.unpack_limit(s, n [, off]) -> next_offset, up to n values
//
// Encoding (Lua 5.1 numbers are doubles): a number equal to a 64-bit integer is the
// smallest MessagePack integer that holds it; any other number is a float32 when the
// float holds it exactly, else a float64. A table whose keys are exactly 1..n is an
// array, any other a map (in lua_next order); tables nested 16 deep encode as nil, so a
// cyclic table ends. Strings use fixstr/str8/str16/str32; nil, functions and other types
// encode as nil. Decoding accepts what Redis's library accepts (no bin/ext types) and
// reads a declared length only after checking the input holds it, so a hostile header
// cannot make it allocate.
//
// Thread-safety: the functions run on the Lua state's thread only, as all Lua code.
#pragma once

struct lua_State;

namespace darter::server {

// lua_CFunction: pushes the library table (pack, unpack, unpack_one, unpack_limit and
// Redis's _NAME/_VERSION/_COPYRIGHT/_DESCRIPTION fields). Call it through lua_call.
int OpenCmsgpack(lua_State* L);

}  // namespace darter::server
