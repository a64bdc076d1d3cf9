#include "store/string_util.h"

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace darter::store {

std::optional<int64_t> ParseInt64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  size_t i = 0;
  bool neg = false;
  if (s[0] == '-') {
    neg = true;
    i = 1;
    if (s.size() == 1) return std::nullopt;
  }
  if (s.size() - i == 1 && s[i] == '0') return neg ? std::nullopt : std::optional<int64_t>(0);
  if (s[i] < '1' || s[i] > '9') return std::nullopt;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (UINT64_MAX - (c - '0')) / 10) return std::nullopt;
    v = v * 10 + (c - '0');
  }
  if (neg) {
    if (v > uint64_t{1} << 63) return std::nullopt;
    return static_cast<int64_t>(0 - v);
  }
  if (v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<long double> ParseLongDouble(std::string_view s) {
  if (s.empty() || s.size() >= 5120) return std::nullopt;
  if (std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  std::string buf(s);
  char* end;
  errno = 0;
  long double v = std::strtold(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || errno == ERANGE || std::isnan(v)) return std::nullopt;
  return v;
}

std::optional<double> ParseDouble(std::string_view s) {
  if (s.empty() || s.size() >= 5120) return std::nullopt;
  if (std::isspace(static_cast<unsigned char>(s[0]))) return std::nullopt;
  std::string buf(s);
  char* end;
  errno = 0;
  double v = std::strtod(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || (errno == ERANGE && (v == HUGE_VAL || v == -HUGE_VAL || v == 0)) ||
      std::isnan(v))
    return std::nullopt;
  return v;
}

std::string FormatInt64(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string FormatLongDoubleHuman(long double v) {
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[5120];
  int n = std::snprintf(buf, sizeof buf, "%.17Lf", v);
  if (n <= 0 || n >= static_cast<int>(sizeof buf)) return "0";
  std::string out(buf, n);
  if (out.find('.') != std::string::npos) {
    while (!out.empty() && out.back() == '0') out.pop_back();
    if (!out.empty() && out.back() == '.') out.pop_back();
  }
  if (out == "-0") out = "0";
  return out;
}

namespace {
// C-locale tolower on a signed char's value, as Redis's matcher sees bytes (plain char
// is signed on the platforms Redis and Darter build for: bytes >= 0x80 compare below
// 'A' in ranges).
inline int Fold(int c, bool nocase) { return nocase && c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c; }
inline int Byte(char c) { return static_cast<signed char>(c); }

// A run of stars beyond this many (counted from the pattern's start) cannot be
// expanded: Redis's matcher stops recursing there and reports no match. A trailing
// run still matches everything, as in Redis.
constexpr size_t kMaxStarRuns = 1000;

// Matches one class starting just after its '['; advances *pi past the class (the
// closing ']' included; an unterminated class runs to the pattern's end). `c` is the
// string byte being tested.
bool MatchClass(std::string_view p, size_t* pi, char c, bool nocase) {
  size_t i = *pi;
  bool negate = i < p.size() && p[i] == '^';
  if (negate) ++i;
  bool matched = false;
  while (i < p.size() && p[i] != ']') {
    if (p[i] == '\\' && p.size() - i >= 2) {
      // An escaped byte compares exactly, even with nocase (as Redis does).
      ++i;
      if (p[i] == c) matched = true;
    } else if (p.size() - i >= 3 && p[i + 1] == '-') {
      int lo = Byte(p[i]), hi = Byte(p[i + 2]);
      if (lo > hi) std::swap(lo, hi);
      int v = Fold(Byte(c), nocase);
      if (v >= Fold(lo, nocase) && v <= Fold(hi, nocase)) matched = true;
      i += 2;
    } else if (Fold(Byte(p[i]), nocase) == Fold(Byte(c), nocase)) {
      matched = true;
    }
    ++i;
  }
  *pi = i < p.size() ? i + 1 : i;  // past ']', or at the end of an unterminated class
  return matched != negate;
}
}  // namespace

// Same results as Redis 7.0's stringmatchlen, computed without recursion.
//
// Redis's recursive matcher gives up on a '*' once the rest of the pattern failed at
// every later position ("skipLongerMatches"): an earlier '*' taking more of the string
// could only make the rest start later still. So only the most recent '*' ever
// backtracks, which is what this loop does: on a mismatch it resumes right after the
// last '*' with that star taking one more byte, and fails once that star would take
// the whole remaining string (Redis's star never leaves the rest an empty string).
// Each byte of the string is thus the start of at most one attempt per star, and an
// attempt reads at most the pattern: O(pattern x string) time, O(1) space.
//
// Redis quirks kept: only the empty pattern matches the empty string ("*" does not:
// KEYS and SCAN special-case a lone "*" before matching); once the string is used up,
// trailing stars are skipped and the pattern must be used up too.
bool GlobMatch(std::string_view p, std::string_view s, bool nocase) {
  if (s.empty()) return p.empty();
  size_t pi = 0, si = 0;
  size_t star_runs = 0;
  // Resume point of the most recent star: pattern index after it, string index where
  // the rest was last tried.
  bool have_star = false;
  size_t star_p = 0, star_s = 0;
  while (true) {
    bool ok = true;
    if (pi == p.size()) {
      ok = false;  // pattern used up with string left
    } else if (p[pi] == '*') {
      while (pi + 1 < p.size() && p[pi + 1] == '*') ++pi;
      if (pi + 1 == p.size()) return true;
      if (++star_runs > kMaxStarRuns) return false;
      have_star = true;
      star_p = pi + 1;
      star_s = si;
      pi = star_p;
      continue;
    } else {
      char c = s[si];
      switch (p[pi]) {
        case '?':
          ++pi;
          break;
        case '[':
          ++pi;
          ok = MatchClass(p, &pi, c, nocase);
          break;
        case '\\':
          if (p.size() - pi >= 2) ++pi;
          [[fallthrough]];
        default:
          ok = Fold(Byte(p[pi]), nocase) == Fold(Byte(c), nocase);
          ++pi;
          break;
      }
      if (ok) {
        ++si;
        if (si == s.size()) {
          while (pi < p.size() && p[pi] == '*') ++pi;
          if (pi == p.size()) return true;
          ok = false;
        } else {
          continue;
        }
      }
    }
    // Mismatch: the most recent star takes one more byte, if it can leave the rest
    // a non-empty string.
    if (!have_star || star_s + 1 >= s.size()) return false;
    ++star_s;
    pi = star_p;
    si = star_s;
  }
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::optional<uint64_t> ParseMemorySize(std::string_view v, bool* overflow) {
  std::string s = ToLower(v);
  uint64_t mul = 1;
  static constexpr struct {
    std::string_view name;
    uint64_t mul;
  } kUnits[] = {{"kb", 1024}, {"mb", 1024 * 1024}, {"gb", 1024ull * 1024 * 1024}, {"k", 1000}, {"m", 1000 * 1000},
                {"g", 1000ull * 1000 * 1000}, {"b", 1}};
  for (const auto& u : kUnits) {
    if (s.size() > u.name.size() && s.compare(s.size() - u.name.size(), u.name.size(), u.name) == 0) {
      mul = u.mul;
      s.resize(s.size() - u.name.size());
      break;
    }
  }
  auto n = ParseInt64(s);
  if (!n || *n < 0) return std::nullopt;
  if (static_cast<uint64_t>(*n) > UINT64_MAX / mul) {
    if (overflow) *overflow = true;
    return std::nullopt;
  }
  return static_cast<uint64_t>(*n) * mul;
}

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace darter::store
