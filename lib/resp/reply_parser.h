// ReplyParser: client-side parser for RESP2/RESP3 replies, used where Darter talks to
// another server (replication, the migrate tool) and by tests.
//
// Thread-safety: none; one parser per connection.
//
// Cost model: the parser keeps no partial state between calls. An incomplete reply
// returns kNeedMore and is parsed again from its first byte on the next call, so feeding
// a reply of n bytes in k pieces costs O(n*k). That is fine for the small replies of our
// uses; stream big payloads (e.g. the RDB of a full resync) outside this parser. For a
// bulk, kNeedMore carries need_at_least so callers can wait for the whole payload.
//
// Safety: nesting deeper than kMaxDepth is an error; lengths are bounded by the limits;
// no allocation is sized from a length prefix beyond what the bytes present can hold.
#ifndef DARTER_RESP_REPLY_PARSER_H_
#define DARTER_RESP_REPLY_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/parse_result.h"
#include "resp/request_parser.h"  // ParserLimits

namespace darter::resp {

struct Reply {
  enum class Type {
    kSimple,     // "+str"               -> str
    kError,      // "-str" or "!len"     -> str (without '-')
    kInteger,    // ":n"                 -> integer
    kBulk,       // "$len"               -> str
    kNull,       // "$-1", "*-1", "_"
    kArray,      // "*n"                 -> elements
    kMap,        // "%n"                 -> elements k,v,k,v...
    kSet,        // "~n"                 -> elements
    kPush,       // ">n"                 -> elements
    kDouble,     // ",repr"              -> dbl (str keeps repr)
    kBool,       // "#t" / "#f"          -> boolean
    kBigNumber,  // "(digits"            -> str
    kVerbatim,   // "=len\r\nfmt:text"   -> str = text, format = fmt
    kAttribute,  // "|n"                 -> elements k,v,k,v...
  };
  Type type = Type::kNull;
  std::string str;
  int64_t integer = 0;
  double dbl = 0;
  bool boolean = false;
  // Arrays, sets, pushes; maps and attributes as k,v,k,v... An attribute ("|n") that
  // precedes a value inside an aggregate is kept as a kAttribute element just before
  // that value and does not count towards the aggregate's declared length; at top level
  // it is returned by itself and the value it annotates is the next reply.
  std::vector<Reply> elements;
  std::string format;  // kVerbatim: the 3-byte format ("txt", "mkd")
};

class ReplyParser {
 public:
  // Aggregates nested deeper than this are rejected.
  static constexpr size_t kMaxDepth = 1024;

  // Uses limits.max_bulk_len for bulk/verbatim/blob-error lengths, max_inline_len for
  // line lengths and max_multibulk_len for aggregate counts.
  explicit ReplyParser(ParserLimits limits = {}) : limits_(limits) {}

  // Parses one complete reply from the start of input. ParseStatus::kCommand means "one
  // reply parsed" (consumed = its size); *out is overwritten (partially on kNeedMore or
  // kError, then meaningless). Errors are static strings.
  ParseResult Parse(std::string_view input, Reply* out);
  void Reset();

 private:
  struct Frame {
    Reply* node;
    size_t left;  // elements still expected, not counting attributes
  };
  ParserLimits limits_;
  std::vector<Frame> stack_;  // reused between calls
};

}  // namespace darter::resp

#endif  // DARTER_RESP_REPLY_PARSER_H_
