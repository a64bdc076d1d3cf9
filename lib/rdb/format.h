// Constants and small helpers describing the RDB format: opcodes, value
// type codes, the file flavours (Redis / Valkey) and the element type shared
// by the compact blob decoders (ziplist, listpack, intset, zipmap).
//
// Everything here is constexpr or a pure function: safe for concurrent use.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>

namespace darter::rdb {

// Who wrote the file, from its magic string. Dispatch on flavour + version,
// never on a type byte alone: Valkey and Redis gave type 22 different meanings.
enum class Flavor : uint8_t { kRedis, kValkey };

inline constexpr int kMinRedisVersion = 1;
inline constexpr int kMaxRedisVersion = 12;  // Redis 7.4
inline constexpr int kValkeyVersion = 80;    // "VALKEY080", Valkey 9
inline constexpr int kMaxDumpVersion = 12;   // newest DUMP payload accepted

// Opcodes (first byte of a top-level record that is not a key).
enum Opcode : uint8_t {
  kOpSlotImport = 243,  // Valkey only; payload not supported
  kOpSlotInfo = 244,
  kOpFunction2 = 245,
  kOpFunctionPreGa = 246,
  kOpModuleAux = 247,
  kOpIdle = 248,
  kOpFreq = 249,
  kOpAux = 250,
  kOpResizeDb = 251,
  kOpExpireTimeMs = 252,
  kOpExpireTime = 253,
  kOpSelectDb = 254,
  kOpEof = 255,
};

// Value type codes.
enum TypeCode : uint8_t {
  kTypeString = 0,
  kTypeList = 1,
  kTypeSet = 2,
  kTypeZSet = 3,
  kTypeHash = 4,
  kTypeZSet2 = 5,
  kTypeModulePreGa = 6,
  kTypeModule2 = 7,
  kTypeHashZipmap = 9,
  kTypeListZiplist = 10,
  kTypeSetIntset = 11,
  kTypeZSetZiplist = 12,
  kTypeHashZiplist = 13,
  kTypeListQuicklist = 14,
  kTypeStreamListpacks = 15,
  kTypeHashListpack = 16,
  kTypeZSetListpack = 17,
  kTypeListQuicklist2 = 18,
  kTypeStreamListpacks2 = 19,
  kTypeSetListpack = 20,
  kTypeStreamListpacks3 = 21,
  kTypeHashMetadataPreGa = 22,  // Redis 7.4 RC; in a VALKEY file 22 is kTypeValkeyHash2
  kTypeValkeyHash2 = 22,
  kTypeHashListpackExPreGa = 23,
  kTypeHashMetadata = 24,
  kTypeHashListpackEx = 25,
};

// Human-readable name of a type code in a given flavour ("quicklist2",
// "hash-listpack", ...), used by errors and `darter-rdb stats`.
std::string_view TypeCodeName(Flavor flavor, uint8_t type);

// Module type ids pack nine 6-bit characters and a 10-bit encoding version.
std::string ModuleTypeName(uint64_t module_id);
inline int ModuleEncodingVersion(uint64_t module_id) { return static_cast<int>(module_id & 1023); }

// One element of a compact blob: either a string (a view into the blob) or
// an integer that the encoder chose to store in binary form. Integers stand
// for their canonical decimal text.
struct BlobElement {
  bool is_int = false;
  int64_t ival = 0;
  std::string_view str;
};

// Room for the decimal text of any int64.
inline constexpr size_t kIntTextMax = 21;

// REQUIRES: buf has room for kIntTextMax bytes.
inline std::string_view IntToText(int64_t v, char* buf) {
  auto r = std::to_chars(buf, buf + kIntTextMax, v);
  return std::string_view(buf, static_cast<size_t>(r.ptr - buf));
}

// True when `s` is the canonical decimal form of an int64 ("0", "-12"; not
// "007", "+1", "-0", " 1"), i.e. what Redis would store as an integer.
bool ParseCanonicalInt64(std::string_view s, int64_t* out);

// Parses a score stored as text inside a ziplist/listpack ("1.5", "inf",
// "-inf"). Rejects NaN and trailing garbage.
bool ParseScore(std::string_view s, double* out);

}  // namespace darter::rdb
