// Number parsing and formatting with Redis's exact rules, and glob matching.
// Pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace darter::store {

// Redis's string2ll: optional '-', digits, no leading zeros (except "0"), no spaces,
// no '+', fits in int64.
std::optional<int64_t> ParseInt64(std::string_view s);
// Redis's string2ld/strtold rules for INCRBYFLOAT: whole string consumed, no leading
// space, not NaN.
std::optional<long double> ParseLongDouble(std::string_view s);
// Redis's getDoubleFromObject rules (scores, EXPIRE never): whole string, no NaN.
std::optional<double> ParseDouble(std::string_view s);
// Redis's memtoull, for memory settings (maxmemory, client-output-buffer-limit, ...):
// digits with an optional b/k/kb/m/mb/g/gb unit, case-insensitive (k = 1000, kb = 1024).
// `overflow` (optional) is set when the value is well-formed but past 2^64 - 1.
std::optional<uint64_t> ParseMemorySize(std::string_view v, bool* overflow = nullptr);

std::string FormatInt64(int64_t v);
// Redis's ld2string(LD_STR_HUMAN): "%.17Lf" without trailing zeros or dot.
std::string FormatLongDoubleHuman(long double v);

// Redis 7.0's glob (stringmatchlen), the one matcher for every pattern argument
// (KEYS, SCAN/SSCAN/HSCAN/ZSCAN MATCH, PSUBSCRIBE, PUBSUB CHANNELS, CONFIG GET):
// * ? [abc] [^a] [a-z] and \ escapes, with Redis's results for every input, malformed
// patterns included. Worst case O(pattern x string) time and O(1) space, whatever the
// pattern (no recursion, no backtracking beyond the last '*').
bool GlobMatch(std::string_view pattern, std::string_view str, bool nocase = false);

// Case-insensitive ASCII equality, for option names.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);
std::string ToLower(std::string_view s);

}  // namespace darter::store
