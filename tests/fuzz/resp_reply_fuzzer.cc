// libFuzzer target for resp::ReplyParser.
//
// Parses the input as a stream of replies. For every reply: consumed is within the
// input, the reply's last-byte-less prefix asks for more, and re-encoding the parsed tree
// with ReplyBuilder (RESP3) parses back to an equal tree.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "resp/reply_builder.h"
#include "resp/reply_parser.h"

namespace {

using darter::resp::ParseResult;
using darter::resp::ParseStatus;
using darter::resp::Reply;
using darter::resp::ReplyBuilder;
using darter::resp::ReplyParser;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant violated: %s\n", what);
    std::abort();
  }
}

// Re-encodes `r` in RESP3. Returns false for trees the builder cannot reproduce
// faithfully (an error text with CR/LF, which the builder rewrites).
bool Encode(const Reply& r, ReplyBuilder* b) {
  using Type = Reply::Type;
  switch (r.type) {
    case Type::kSimple: b->SimpleString(r.str); return true;
    case Type::kError:
      if (r.str.find_first_of("\r\n") != std::string::npos) return false;
      if (!r.str.empty() && r.str[0] == '-') return false;  // the builder drops one '-'
      b->Error(r.str);
      return true;
    case Type::kInteger: b->Integer(r.integer); return true;
    case Type::kBulk: b->Bulk(r.str); return true;
    case Type::kNull: b->Null(); return true;
    case Type::kDouble: b->Double(r.dbl); return true;
    case Type::kBool: b->Bool(r.boolean); return true;
    case Type::kBigNumber: b->BigNumber(r.str); return true;
    case Type::kVerbatim: b->Verbatim(r.str, r.format); return true;
    case Type::kArray:
    case Type::kSet:
    case Type::kPush:
    case Type::kMap:
    case Type::kAttribute: {
      size_t attributes = 0;
      for (const Reply& e : r.elements) attributes += e.type == Type::kAttribute;
      const size_t n = r.elements.size() - attributes;
      if (r.type == Type::kArray) b->ArrayHeader(n);
      if (r.type == Type::kSet) b->SetHeader(n);
      if (r.type == Type::kPush) b->PushHeader(n);
      if (r.type == Type::kMap) {
        if (n % 2 != 0) return false;  // attributes broke the pairing; skip
        b->MapHeader(n / 2);
      }
      if (r.type == Type::kAttribute) {
        if (n % 2 != 0) return false;
        b->Raw("|" + std::to_string(n / 2) + "\r\n");
      }
      for (const Reply& e : r.elements) {
        if (!Encode(e, b)) return false;
      }
      return true;
    }
  }
  return false;
}

bool Equal(const Reply& a, const Reply& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Reply::Type::kDouble:
      if (std::isnan(a.dbl)) return std::isnan(b.dbl);
      return std::memcmp(&a.dbl, &b.dbl, sizeof a.dbl) == 0;
    case Reply::Type::kInteger: return a.integer == b.integer;
    case Reply::Type::kBool: return a.boolean == b.boolean;
    default: break;
  }
  if (a.str != b.str || a.format != b.format || a.elements.size() != b.elements.size()) return false;
  for (size_t i = 0; i < a.elements.size(); ++i) {
    if (!Equal(a.elements[i], b.elements[i])) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view stream(reinterpret_cast<const char*>(data), size);
  ReplyParser parser;
  Reply reply;
  while (!stream.empty()) {
    const ParseResult r = parser.Parse(stream, &reply);
    if (r.status == ParseStatus::kNeedMore) {
      Check(r.need_at_least == 0 || r.need_at_least > stream.size(), "need_at_least beyond input");
      break;
    }
    if (r.status == ParseStatus::kError) {
      Check(!r.error.empty(), "error has a message");
      break;
    }
    Check(r.consumed > 0 && r.consumed <= stream.size(), "0 < consumed <= size");
    {
      // A strict prefix of a complete reply is incomplete, never an error or a reply.
      Reply partial;
      ReplyParser p2;
      Check(p2.Parse(stream.substr(0, r.consumed - 1), &partial).status == ParseStatus::kNeedMore,
            "prefix needs more");
    }
    std::string encoded;
    ReplyBuilder builder(&encoded);
    builder.SetProtocol(3);
    if (Encode(reply, &builder)) {
      Reply again;
      ReplyParser p3;
      const ParseResult r3 = p3.Parse(encoded, &again);
      Check(r3.status == ParseStatus::kCommand && r3.consumed == encoded.size(), "re-encoded parses");
      Check(Equal(reply, again), "re-encoded reply is equal");
    }
    stream.remove_prefix(r.consumed);
  }
  return 0;
}
