#include "resp/request_parser.h"

#include <algorithm>
#include <cstring>

#include "resp/int_parse.h"

namespace darter::resp {
namespace {

constexpr std::string_view kErrInvalidMultibulkLen = "ERR Protocol error: invalid multibulk length";
constexpr std::string_view kErrInvalidBulkLen = "ERR Protocol error: invalid bulk length";
constexpr std::string_view kErrTooBigInline = "ERR Protocol error: too big inline request";
constexpr std::string_view kErrTooBigMbulk = "ERR Protocol error: too big mbulk count string";
constexpr std::string_view kErrTooBigBulk = "ERR Protocol error: too big bulk count string";
constexpr std::string_view kErrUnbalancedQuotes = "ERR Protocol error: unbalanced quotes in request";
constexpr std::string_view kErrUnauthMultibulkLen = "ERR Protocol error: unauthenticated multibulk length";
constexpr std::string_view kErrUnauthBulkLen = "ERR Protocol error: unauthenticated bulk length";

// Redis preallocates at most this many argv slots from a "*N" header, so a hostile N
// costs nothing until the arguments actually arrive.
constexpr size_t kMaxArgsReserve = 1024;

// Position of the first `c` in input[from, end), or npos.
size_t Find(std::string_view input, size_t from, char c) {
  if (from >= input.size()) return std::string_view::npos;
  const void* p = std::memchr(input.data() + from, c, input.size() - from);
  if (p == nullptr) return std::string_view::npos;
  return static_cast<size_t>(static_cast<const char*>(p) - input.data());
}

}  // namespace

RequestParser::RequestParser(ParserLimits limits) : limits_(limits) {}

void RequestParser::Reset() {
  state_ = State::kIdle;
  pos_ = 0;
  scan_from_ = 0;
  args_left_ = 0;
  bulk_len_ = 0;
  spans_.clear();
  inline_buf_.clear();
  error_ = {};
}

ParseResult RequestParser::Fail(std::string_view message) {
  state_ = State::kError;
  error_ = message;
  return {ParseStatus::kError, 0, 0, message};
}

ParseResult RequestParser::Complete(size_t consumed, std::string_view base,
                                    std::vector<std::string_view>* args) {
  args->clear();
  args->reserve(spans_.size());
  for (const Span& s : spans_) args->push_back(base.substr(s.offset, s.len));
  // Back to idle, keeping buffer capacity and inline_buf_ (the args may point into it).
  state_ = State::kIdle;
  pos_ = 0;
  scan_from_ = 0;
  args_left_ = 0;
  bulk_len_ = 0;
  spans_.clear();
  return {ParseStatus::kCommand, consumed, 0, {}};
}

ParseResult RequestParser::Parse(std::string_view input, std::vector<std::string_view>* args) {
  if (state_ == State::kError) return {ParseStatus::kError, 0, 0, error_};
  if (state_ != State::kIdle && input.size() < std::max(pos_, scan_from_)) {
    // The caller broke the contract (the input shrank); start over rather than read
    // out of bounds.
    Reset();
  }
  if (state_ == State::kIdle) {
    if (input.empty()) return {ParseStatus::kNeedMore};
    spans_.clear();
    pos_ = 0;
    if (input[0] == '*') {
      state_ = State::kMultibulkCount;
      scan_from_ = 1;
    } else {
      state_ = State::kInline;
      scan_from_ = 0;
    }
  }
  if (state_ == State::kInline) return ParseInline(input, args);
  return ParseMultibulk(input, args);
}

ParseResult RequestParser::ParseInline(std::string_view input,
                                       std::vector<std::string_view>* args) {
  // A line ends at '\n'; a '\r' just before it is dropped (Redis accepts bare "\n").
  const size_t nl = Find(input, scan_from_, '\n');
  if (nl == std::string_view::npos) {
    if (input.size() > limits_.max_inline_len) return Fail(kErrTooBigInline);
    scan_from_ = input.size();
    return {ParseStatus::kNeedMore};
  }
  // Same verdict as if the line had arrived byte by byte: some prefix without '\n'
  // would have been longer than the limit.
  if (nl > limits_.max_inline_len) return Fail(kErrTooBigInline);
  size_t end = nl;
  if (end > 0 && input[end - 1] == '\r') --end;
  if (!SplitInline(input.substr(0, end))) return Fail(kErrUnbalancedQuotes);
  return Complete(nl + 1, inline_buf_, args);
}

bool RequestParser::SplitInline(std::string_view line) {
  inline_buf_.clear();
  spans_.clear();
  return SplitArgsInto(line, &inline_buf_, &spans_);
}

ParseResult RequestParser::ParseMultibulk(std::string_view input,
                                          std::vector<std::string_view>* args) {
  using internal::ParseStrictInt64;
  if (state_ == State::kMultibulkCount) {
    // "*N\r\n", starting at offset 0.
    const size_t cr = Find(input, scan_from_, '\r');
    if (cr == std::string_view::npos) {
      if (input.size() > limits_.max_inline_len) return Fail(kErrTooBigMbulk);
      scan_from_ = input.size();
      return {ParseStatus::kNeedMore};
    }
    if (cr > limits_.max_inline_len) return Fail(kErrTooBigMbulk);
    if (cr + 1 >= input.size()) {
      scan_from_ = cr;
      return {ParseStatus::kNeedMore};
    }
    if (input[cr + 1] != '\n') return Fail(kErrInvalidMultibulkLen);
    int64_t count = 0;
    if (!ParseStrictInt64(input.substr(1, cr - 1), &count) ||
        (count > 0 && static_cast<uint64_t>(count) > limits_.max_multibulk_len)) {
      return Fail(kErrInvalidMultibulkLen);
    }
    if (!authenticated_ && count > 0 &&
        static_cast<uint64_t>(count) > limits_.unauthenticated_max_multibulk_len) {
      return Fail(kErrUnauthMultibulkLen);
    }
    if (count <= 0) return Complete(cr + 2, input, args);  // "*0" / "*-1": empty command
    args_left_ = count;
    spans_.reserve(std::min<size_t>(static_cast<size_t>(count), kMaxArgsReserve));
    pos_ = cr + 2;
    scan_from_ = pos_;
    state_ = State::kBulkLen;
  }

  for (;;) {
    if (state_ == State::kBulkLen) {
      // "$N\r\n", starting at pos_. Like Redis, the whole line must be present before
      // its first byte is judged.
      const size_t cr = Find(input, scan_from_, '\r');
      if (cr == std::string_view::npos) {
        if (input.size() - pos_ > limits_.max_inline_len) return Fail(kErrTooBigBulk);
        scan_from_ = input.size();
        return {ParseStatus::kNeedMore};
      }
      if (cr - pos_ > limits_.max_inline_len) return Fail(kErrTooBigBulk);
      if (cr + 1 >= input.size()) {
        scan_from_ = cr;
        return {ParseStatus::kNeedMore};
      }
      if (input[pos_] != '$') {
        // Redis formats the byte with %c and then turns CR/LF into spaces.
        char got = input[pos_];
        if (got == '\r' || got == '\n') got = ' ';
        error_buf_.assign("ERR Protocol error: expected '$', got '");
        error_buf_.push_back(got);
        error_buf_.push_back('\'');
        return Fail(error_buf_);
      }
      if (input[cr + 1] != '\n') return Fail(kErrInvalidBulkLen);
      int64_t len = 0;
      if (!ParseStrictInt64(input.substr(pos_ + 1, cr - pos_ - 1), &len) || len < 0 ||
          static_cast<uint64_t>(len) > limits_.max_bulk_len) {
        return Fail(kErrInvalidBulkLen);
      }
      if (!authenticated_ && static_cast<uint64_t>(len) > limits_.unauthenticated_max_bulk_len) {
        return Fail(kErrUnauthBulkLen);
      }
      bulk_len_ = static_cast<size_t>(len);
      pos_ = cr + 2;
      state_ = State::kBulkData;
    }
    // kBulkData: payload plus two trailing bytes, skipped unchecked as Redis does.
    // bulk_len_ <= INT64_MAX, so the + 2 cannot wrap.
    if (input.size() - pos_ < bulk_len_ + 2) {
      return {ParseStatus::kNeedMore, 0, pos_ + bulk_len_ + 2, {}};
    }
    spans_.push_back({pos_, bulk_len_});
    pos_ += bulk_len_ + 2;
    if (--args_left_ == 0) return Complete(pos_, input, args);
    state_ = State::kBulkLen;
    scan_from_ = pos_;
  }
}

}  // namespace darter::resp
