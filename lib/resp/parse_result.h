// Result type shared by the RESP parsers (RequestParser, ReplyParser).
// Plain value type; safe to copy between threads (the error view's lifetime is
// documented by the parser that produced it).
#ifndef DARTER_RESP_PARSE_RESULT_H_
#define DARTER_RESP_PARSE_RESULT_H_

#include <cstddef>
#include <string_view>

namespace darter::resp {

enum class ParseStatus { kCommand, kNeedMore, kError };

struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  // kCommand: bytes of `input` the command (or reply) occupied; the caller drops them
  // after use. 0 otherwise.
  size_t consumed = 0;
  // kNeedMore: a hint — total bytes of input needed to make progress (e.g. a big
  // bulk's full size), 0 if unknown.
  size_t need_at_least = 0;
  // kError: Redis's message without the leading '-', e.g.
  // "ERR Protocol error: invalid bulk length". Points to static storage or to the
  // parser; valid until the parser's next Parse/Reset call.
  std::string_view error = {};
};

}  // namespace darter::resp

#endif  // DARTER_RESP_PARSE_RESULT_H_
