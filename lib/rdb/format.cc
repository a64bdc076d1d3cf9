#include "rdb/format.h"

#include <cmath>

namespace darter::rdb {

std::string_view TypeCodeName(Flavor flavor, uint8_t type) {
  switch (type) {
    case kTypeString: return "string";
    case kTypeList: return "list";
    case kTypeSet: return "set";
    case kTypeZSet: return "zset-text";
    case kTypeHash: return "hash";
    case kTypeZSet2: return "zset";
    case kTypeModulePreGa: return "module-pre-ga";
    case kTypeModule2: return "module";
    case kTypeHashZipmap: return "hash-zipmap";
    case kTypeListZiplist: return "list-ziplist";
    case kTypeSetIntset: return "set-intset";
    case kTypeZSetZiplist: return "zset-ziplist";
    case kTypeHashZiplist: return "hash-ziplist";
    case kTypeListQuicklist: return "list-quicklist";
    case kTypeStreamListpacks: return "stream-listpacks";
    case kTypeHashListpack: return "hash-listpack";
    case kTypeZSetListpack: return "zset-listpack";
    case kTypeListQuicklist2: return "list-quicklist2";
    case kTypeStreamListpacks2: return "stream-listpacks2";
    case kTypeSetListpack: return "set-listpack";
    case kTypeStreamListpacks3: return "stream-listpacks3";
    case 22: return flavor == Flavor::kValkey ? "hash2-valkey" : "hash-metadata-pre-ga";
    case kTypeHashListpackExPreGa: return "hash-listpack-ex-pre-ga";
    case kTypeHashMetadata: return "hash-metadata";
    case kTypeHashListpackEx: return "hash-listpack-ex";
    default: return "unknown";
  }
}

std::string ModuleTypeName(uint64_t module_id) {
  static constexpr char kCharset[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string name(9, '?');
  uint64_t bits = module_id >> 10;
  for (int i = 8; i >= 0; --i) {
    name[i] = kCharset[bits & 63];
    bits >>= 6;
  }
  return name;
}

bool ParseCanonicalInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  if (s[0] == '0') {
    if (s.size() != 1) return false;
    *out = 0;
    return true;
  }
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s[i] < '1' || s[i] > '9') return false;  // rejects "-0", "-", "+1"
  int64_t v;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return false;
  *out = v;
  return true;
}

bool ParseScore(std::string_view s, double* out) {
  if (s.empty()) return false;
  double d;
  const char* b = s.data();
  const char* e = b + s.size();
  if (*b == '+') ++b;  // from_chars refuses a leading '+', strtod (Redis) accepts it
  auto r = std::from_chars(b, e, d);
  if (r.ec != std::errc() || r.ptr != e) {
    // from_chars reports ERANGE for denormal underflow; accept what strtod would.
    if (r.ec == std::errc::result_out_of_range && r.ptr == e) {
      std::string tmp(s);
      d = std::strtod(tmp.c_str(), nullptr);
    } else {
      return false;
    }
  }
  if (std::isnan(d)) return false;
  *out = d;
  return true;
}

}  // namespace darter::rdb
