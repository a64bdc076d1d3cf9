// Reply: one RESP2/RESP3 reply as the integration tests see it, a blocking
// RESP reader that produces it, and the canonical text form the tests compare.
//
// Why not hiredis' reader: Debian 12 ships hiredis 0.14.1, whose reader knows
// only RESP2 (+ - : $ *) and fails with a protocol error on any RESP3 type.
// The tests still use hiredis to connect and to encode commands (see client.h);
// replies are read here so that HELLO 3 works and RESP3 types can be compared.
//
// Thread-safety: values are plain data; a RespReader is used by one thread.
#pragma once

#include <hiredis/hiredis.h>

#include <cstdint>
#include <string>
#include <vector>

namespace darter::test {

struct Reply {
  enum class Type {
    kStatus,      // +OK
    kError,       // -ERR ...
    kInteger,     // :5
    kString,      // $3\r\nabc
    kNil,         // $-1 (RESP2 null bulk string)
    kNilArray,    // *-1 (RESP2 null array)
    kNull,        // _ (RESP3)
    kArray,       // *N
    kMap,         // %N (elements hold key, value, key, value, ...)
    kSet,         // ~N
    kPush,        // >N
    kDouble,      // ,3.14 (str holds the text as sent)
    kBool,        // #t / #f (integer holds 1 / 0)
    kVerbatim,    // =N\r\ntxt:... (str holds "txt:..." as sent)
    kBigNumber,   // (123 (str holds the digits)
    kIoError,     // not a reply: the client could not read or write (str says why)
  };

  Type type = Type::kNil;
  std::string str;
  long long integer = 0;
  std::vector<Reply> elements;
  // RESP3 attribute (|N) that preceded this reply, if any: key, value, ...
  std::vector<Reply> attributes;

  bool IsError() const { return type == Type::kError; }
  bool IsIoError() const { return type == Type::kIoError; }
  bool IsAggregate() const {
    return type == Type::kArray || type == Type::kMap || type == Type::kSet ||
           type == Type::kPush;
  }
};

// Name of a reply type as used by the `!type` directive: "status", "error",
// "integer", "string", "nil", "nil-array", "null", "array", "map", "set",
// "push", "double", "bool", "verbatim", "bignum", "io-error".
const char* TypeName(Reply::Type type);

// Canonical text of a reply, equal for two replies iff they are equal on the
// wire (up to the length prefixes):
//   +OK   -ERR msg   :5   "bulk\x00"   (nil)   (nil-array)   (null)
//   [a, b]   {k: v, k2: v2}   ~[a, b]   >[a, b]   ,3.14   #t   =txt:"..."
//   (bignum 123)   <io-error: why>
// Strings escape '"', '\\' and every byte outside 0x20..0x7e as \xHH.
std::string Format(const Reply& reply);

// The same rendering for a reply read by hiredis itself (RESP2 only); for
// tests that drive a redisContext directly.
std::string Format(const redisReply* reply);

// Renders a byte string the way Format renders bulk strings, with quotes.
std::string Quote(const std::string& bytes);

// Shape of a reply: the type names, recursively for aggregates, with no
// values, e.g. "array[string, string]". Used by the `!shape` directive.
std::string Shape(const Reply& reply);

// Reads replies from a connected, blocking socket. Honors the socket's
// SO_RCVTIMEO: a timeout surfaces as a kIoError reply, as does a closed
// connection or a protocol error. After an I/O error the reader is unusable.
class RespReader {
 public:
  explicit RespReader(int fd) : fd_(fd) {}
  Reply Read();
  // Bytes received but not yet consumed (pushes or pipelined replies).
  bool HasBufferedInput() const { return pos_ < buf_.size(); }

 private:
  bool Fill();
  bool ReadLine(std::string* line);
  bool ReadExact(size_t n, std::string* out);
  bool ReadOne(Reply* out, int depth);

  int fd_;
  std::string buf_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace darter::test
