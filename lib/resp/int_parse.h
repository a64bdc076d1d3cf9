// Internal to lib/resp: strict decimal integer parsing shared by the parsers.
// Stateless; safe for concurrent use.
#ifndef DARTER_RESP_INT_PARSE_H_
#define DARTER_RESP_INT_PARSE_H_

#include <cstdint>
#include <string_view>

namespace darter::resp::internal {

// Parses `s` as a canonical signed 64-bit decimal, the form Redis accepts in RESP length
// lines: optional '-', then either "0" or a digit 1-9 followed by digits; no '+', no
// spaces, no leading zeros, no "-0", no overflow. Returns false if `s` is not exactly that.
inline bool ParseStrictInt64(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return false;
  }
  if (s[i] == '0') {
    if (s.size() == 1) {
      *out = 0;
      return true;
    }
    return false;  // leading zero, or "-0"
  }
  // Accumulate as unsigned so INT64_MIN is representable before negation.
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    const unsigned d = static_cast<unsigned char>(s[i]) - '0';
    if (d > 9) return false;
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  if (negative) {
    if (v > static_cast<uint64_t>(INT64_MAX) + 1) return false;
    *out = static_cast<int64_t>(0 - v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

}  // namespace darter::resp::internal

#endif  // DARTER_RESP_INT_PARSE_H_
