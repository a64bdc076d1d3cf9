// How CONFIG SET and the configuration file read a parameter's value, with Redis 7.0's
// error texts (CONFIG SET prefixes them with "CONFIG SET failed (possibly related to
// argument '<name>') - ").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "store/string_util.h"

namespace darter::server {

// yes / no, in any case.
inline std::optional<std::string> ParseYesNo(std::string_view v, bool* out) {
  if (store::EqualsIgnoreCase(v, "yes")) *out = true;
  else if (store::EqualsIgnoreCase(v, "no")) *out = false;
  else return "argument must be 'yes' or 'no'";
  return std::nullopt;
}

// An integer in [lo, hi].
inline std::optional<std::string> ParseBounded(std::string_view v, int64_t lo, int64_t hi, int64_t* out) {
  auto n = store::ParseInt64(v);
  if (!n) return "argument couldn't be parsed into an integer";
  if (*n < lo || *n > hi)
    return "argument must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " inclusive";
  *out = *n;
  return std::nullopt;
}

}  // namespace darter::server
