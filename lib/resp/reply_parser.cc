#include "resp/reply_parser.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "resp/int_parse.h"

namespace darter::resp {
namespace {

constexpr std::string_view kErrLine = "Protocol error: reply line not terminated by CRLF";
constexpr std::string_view kErrLineTooLong = "Protocol error: reply line too long";
constexpr std::string_view kErrType = "Protocol error: unknown reply type";
constexpr std::string_view kErrInteger = "Protocol error: invalid integer reply";
constexpr std::string_view kErrBulkLen = "Protocol error: invalid bulk length in reply";
constexpr std::string_view kErrBulkEnd = "Protocol error: bulk reply not terminated by CRLF";
constexpr std::string_view kErrCount = "Protocol error: invalid aggregate length in reply";
constexpr std::string_view kErrNull = "Protocol error: invalid null reply";
constexpr std::string_view kErrDouble = "Protocol error: invalid double reply";
constexpr std::string_view kErrBool = "Protocol error: invalid boolean reply";
constexpr std::string_view kErrBigNumber = "Protocol error: invalid big number reply";
constexpr std::string_view kErrVerbatim = "Protocol error: invalid verbatim string reply";
constexpr std::string_view kErrDepth = "Protocol error: reply nested too deeply";

// Every RESP value takes at least 3 bytes ("_\r\n"), which bounds how many elements
// the bytes present can justify reserving.
constexpr size_t kMinValueSize = 3;

bool ParseDouble(std::string_view s, double* out) {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);  // tolerate "+inf"
  if (s.empty()) return false;
  const std::from_chars_result r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool IsBigNumber(std::string_view s) {
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) s.remove_prefix(1);
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

void ReplyParser::Reset() { stack_.clear(); }

ParseResult ReplyParser::Parse(std::string_view input, Reply* out) {
  using internal::ParseStrictInt64;
  const auto need_more = [](size_t at_least = 0) {
    return ParseResult{ParseStatus::kNeedMore, 0, at_least, {}};
  };
  const auto fail = [](std::string_view message) {
    return ParseResult{ParseStatus::kError, 0, 0, message};
  };

  stack_.clear();
  *out = Reply{};
  Reply* target = out;
  size_t pos = 0;
  for (;;) {
    // Header line of the value at pos: type byte, text, CRLF.
    if (pos >= input.size()) return need_more();
    const char type = input[pos];
    const void* cr_ptr = std::memchr(input.data() + pos, '\r', input.size() - pos);
    if (cr_ptr == nullptr) {
      if (input.size() - pos > limits_.max_inline_len) return fail(kErrLineTooLong);
      return need_more();
    }
    const size_t cr = static_cast<size_t>(static_cast<const char*>(cr_ptr) - input.data());
    if (cr - pos > limits_.max_inline_len) return fail(kErrLineTooLong);
    if (cr + 1 >= input.size()) return need_more();
    if (input[cr + 1] != '\n') return fail(kErrLine);
    const std::string_view line = input.substr(pos + 1, cr - pos - 1);
    pos = cr + 2;

    Reply& r = *target;
    size_t children = 0;  // elements an aggregate header announces
    switch (type) {
      case '+':
        r.type = Reply::Type::kSimple;
        r.str.assign(line);
        break;
      case '-':
        r.type = Reply::Type::kError;
        r.str.assign(line);
        break;
      case ':':
        r.type = Reply::Type::kInteger;
        if (!ParseStrictInt64(line, &r.integer)) return fail(kErrInteger);
        break;
      case '_':
        if (!line.empty()) return fail(kErrNull);
        r.type = Reply::Type::kNull;
        break;
      case ',':
        r.type = Reply::Type::kDouble;
        if (!ParseDouble(line, &r.dbl)) return fail(kErrDouble);
        r.str.assign(line);
        break;
      case '#':
        if (line != "t" && line != "f") return fail(kErrBool);
        r.type = Reply::Type::kBool;
        r.boolean = line == "t";
        break;
      case '(':
        if (!IsBigNumber(line)) return fail(kErrBigNumber);
        r.type = Reply::Type::kBigNumber;
        r.str.assign(line);
        break;
      case '$':
      case '!':
      case '=': {
        int64_t len = 0;
        if (!ParseStrictInt64(line, &len)) return fail(kErrBulkLen);
        if (len == -1 && type == '$') {
          r.type = Reply::Type::kNull;
          break;
        }
        if (len < 0 || static_cast<uint64_t>(len) > limits_.max_bulk_len) return fail(kErrBulkLen);
        const size_t n = static_cast<size_t>(len);
        if (input.size() - pos < n + 2) return need_more(pos + n + 2);
        if (input[pos + n] != '\r' || input[pos + n + 1] != '\n') return fail(kErrBulkEnd);
        const std::string_view payload = input.substr(pos, n);
        pos += n + 2;
        if (type == '$') {
          r.type = Reply::Type::kBulk;
          r.str.assign(payload);
        } else if (type == '!') {
          r.type = Reply::Type::kError;
          r.str.assign(payload);
        } else {
          if (payload.size() < 4 || payload[3] != ':') return fail(kErrVerbatim);
          r.type = Reply::Type::kVerbatim;
          r.format.assign(payload.substr(0, 3));
          r.str.assign(payload.substr(4));
        }
        break;
      }
      case '*':
      case '%':
      case '~':
      case '>':
      case '|': {
        int64_t count = 0;
        if (!ParseStrictInt64(line, &count)) return fail(kErrCount);
        if (count == -1 && type == '*') {
          r.type = Reply::Type::kNull;
          break;
        }
        if (count < 0 || static_cast<uint64_t>(count) > limits_.max_multibulk_len) {
          return fail(kErrCount);
        }
        switch (type) {
          case '*': r.type = Reply::Type::kArray; break;
          case '%': r.type = Reply::Type::kMap; break;
          case '~': r.type = Reply::Type::kSet; break;
          case '>': r.type = Reply::Type::kPush; break;
          default: r.type = Reply::Type::kAttribute; break;
        }
        // count <= max_multibulk_len; doubling cannot overflow a 64-bit size_t for any
        // count a ParseStrictInt64 can return.
        children = static_cast<size_t>(count);
        if (type == '%' || type == '|') children *= 2;
        break;
      }
      default:
        return fail(kErrType);
    }

    if (children > 0) {
      if (stack_.size() >= kMaxDepth) return fail(kErrDepth);
      r.elements.reserve(std::min(children, (input.size() - pos) / kMinValueSize));
      stack_.push_back({&r, children});
      // Only the top frame's vector grows, so pointers held by lower frames (into their
      // parents' vectors) stay valid.
      target = &r.elements.emplace_back();
      continue;
    }

    // The value is complete; close every aggregate it completes.
    bool finished_attribute = r.type == Reply::Type::kAttribute;
    for (;;) {
      if (stack_.empty()) return {ParseStatus::kCommand, pos, 0, {}};
      Frame& f = stack_.back();
      if (!finished_attribute) --f.left;
      if (f.left > 0) break;
      finished_attribute = f.node->type == Reply::Type::kAttribute;
      stack_.pop_back();
    }
    target = &stack_.back().node->elements.emplace_back();
  }
}

}  // namespace darter::resp
