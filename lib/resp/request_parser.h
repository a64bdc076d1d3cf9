// RequestParser: incremental parser for client requests in RESP multibulk form
// ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and the inline form ("GET k\r\n"), with Redis 7.0's
// rules and error strings.
//
// Thread-safety: none; one parser per connection, used by the thread that owns it.
//
// Deliberate differences from Redis 7.0 (which scans with strchr and so stalls on NUL):
//   * A NUL byte is an ordinary byte everywhere (Redis waits forever for a line
//     terminator when a NUL precedes it).
//   * "*N" and "$N" lines must end in "\r\n"; a '\r' followed by anything else is
//     "invalid multibulk length" / "invalid bulk length" (Redis skips the byte unchecked).
//     As in Redis, the two bytes after a bulk's payload are skipped without checking.
//   * "too big inline request" / "too big ... count string" are decided by the line's
//     length (> max_inline_len bytes before its terminator), not by how much happened to
//     be buffered, so the outcome does not depend on how the input was split.
#ifndef DARTER_RESP_REQUEST_PARSER_H_
#define DARTER_RESP_REQUEST_PARSER_H_

#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "resp/parse_result.h"
#include "resp/split_args.h"

namespace darter::resp {

struct ParserLimits {
  // Largest accepted bulk argument (Redis proto-max-bulk-len, default 512 MiB). Redis
  // exempts its master link from this limit; a replica sets it to SIZE_MAX there.
  size_t max_bulk_len = 512ull * 1024 * 1024;
  // Longest inline request line, and longest "*N"/"$N" line (PROTO_INLINE_MAX_SIZE),
  // counted from the line's first byte up to its '\n' (inline) or '\r' (length lines).
  size_t max_inline_len = 64 * 1024;
  // Largest accepted "*N" element count; Redis 7.0 rejects N > INT_MAX.
  size_t max_multibulk_len = INT_MAX;
  // Tighter limits while the connection is unauthenticated (see set_authenticated);
  // Redis 7.0.15's values.
  size_t unauthenticated_max_multibulk_len = 10;
  size_t unauthenticated_max_bulk_len = 16 * 1024;
};

class RequestParser {
 public:
  explicit RequestParser(ParserLimits limits = {});

  // Parses at most one command from the start of `input`.
  //
  // REQUIRES: `input` begins at the first byte not consumed by a previous kCommand. After
  // kNeedMore, the next call passes the same bytes plus more appended (the buffer may have
  // moved: the parser keeps offsets, not pointers, and resumes where it stopped, so a big
  // bulk is never rescanned).
  //
  // kCommand: `args` (cleared first) holds views into `input` (multibulk) or into the
  // parser's own storage (inline commands, unescaped); valid until the next Parse/Reset
  // or until the caller changes the buffer. An empty inline line, "*0" or "*-N" yields
  // kCommand with empty args (the caller skips it), consuming its bytes.
  // kError: the parser stays in error and returns the same error until Reset(); the
  // caller replies with the error and closes the connection, as Redis does.
  ParseResult Parse(std::string_view input, std::vector<std::string_view>* args);

  // Forgets any partial command and error.
  void Reset();

  // Limits apply from the next command.
  void set_limits(const ParserLimits& limits) { limits_ = limits; }
  const ParserLimits& limits() const { return limits_; }

  // While false, "*N" with N > unauthenticated_max_multibulk_len and "$N" with
  // N > unauthenticated_max_bulk_len are rejected with Redis's "unauthenticated ..."
  // errors. Default true; a server with a password clears it for new connections and sets
  // it after a successful AUTH/HELLO (Redis's authRequired()). Applies from the next
  // "*N"/"$N" line parsed.
  void set_authenticated(bool authenticated) { authenticated_ = authenticated; }
  bool authenticated() const { return authenticated_; }

  // True if a command has been partially parsed (some bytes examined, none consumed).
  bool in_progress() const { return state_ != State::kIdle; }

 private:
  enum class State : uint8_t { kIdle, kInline, kMultibulkCount, kBulkLen, kBulkData, kError };
  using Span = ArgSpan;

  ParseResult ParseInline(std::string_view input, std::vector<std::string_view>* args);
  ParseResult ParseMultibulk(std::string_view input, std::vector<std::string_view>* args);
  // Splits an inline line into inline_buf_/spans_ following sdssplitargs' rules.
  // Returns false on unbalanced quotes.
  bool SplitInline(std::string_view line);
  ParseResult Fail(std::string_view message);
  ParseResult Complete(size_t consumed, std::string_view base,
                       std::vector<std::string_view>* args);

  ParserLimits limits_;
  bool authenticated_ = true;
  State state_ = State::kIdle;
  // Offset (from the start of the command) of the next unparsed byte: start of the
  // current "*N"/"$N" line or of the pending bulk payload.
  size_t pos_ = 0;
  // Offset where the search for the current line's terminator resumes; bytes before it
  // are known not to contain the terminator. Keeps byte-at-a-time input linear.
  size_t scan_from_ = 0;
  int64_t args_left_ = 0;  // bulks still expected in the current multibulk
  size_t bulk_len_ = 0;    // kBulkData: payload length of the pending bulk
  // Arguments parsed so far, as offsets: into the input (multibulk) or into inline_buf_.
  std::vector<Span> spans_;
  std::string inline_buf_;  // unescaped inline arguments, back to back
  std::string error_buf_;   // storage for formatted error messages
  std::string_view error_;  // sticky error while state_ == kError
};

}  // namespace darter::resp

#endif  // DARTER_RESP_REQUEST_PARSER_H_
