// ReplyBuilder: encodes replies in RESP2 or RESP3 and appends them to a caller-owned
// output buffer. Every command writes its reply through one of these; the encodings
// (including doubles) match Redis 7.0 byte for byte.
//
// Thread-safety: none; the builder and its buffer belong to one connection and are used
// on the thread that owns it. The builder does not own the buffer.
//
// Cost: each call appends with no allocation beyond growing the string; numbers are
// formatted with std::to_chars into a stack buffer.
#ifndef DARTER_RESP_REPLY_BUILDER_H_
#define DARTER_RESP_REPLY_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <iterator>
#include <string_view>

namespace darter::resp {

class ReplyBuilder {
 public:
  // REQUIRES: out != nullptr and outlives the builder.
  explicit ReplyBuilder(std::string* out) : out_(out) {}

  // 2 (the default) or 3; other values are ignored.
  void SetProtocol(int version) {
    if (version == 2 || version == 3) protocol_ = version;
  }
  int protocol() const { return protocol_; }

  void SimpleString(std::string_view s);  // "+s\r\n"; REQUIRES: no CR/LF in s
  void Ok();                               // "+OK\r\n"
  // "-msg\r\n". `msg` is passed without the leading '-' (one is dropped if present) and
  // starts with the error code ("ERR ...", "WRONGTYPE ..."); CR/LF inside become spaces.
  void Error(std::string_view msg);
  void Integer(int64_t v);  // ":v\r\n"
  void Bulk(std::string_view s);  // "$len\r\ns\r\n"
  void Null();                     // RESP2 "$-1\r\n", RESP3 "_\r\n"
  void NullArray();                // RESP2 "*-1\r\n", RESP3 "_\r\n"
  void ArrayHeader(size_t n);      // "*n\r\n"; n elements follow
  // An array of simple strings (HELP replies): `lines` is any range of text.
  template <typename Lines>
  void SimpleStringArray(const Lines& lines) {
    ArrayHeader(std::size(lines));
    for (std::string_view l : lines) SimpleString(l);
  }
  void MapHeader(size_t n);        // RESP3 "%n\r\n", RESP2 "*<2n>\r\n"; n key/value pairs follow
  void SetHeader(size_t n);        // RESP3 "~n\r\n", RESP2 "*n\r\n"
  void PushHeader(size_t n);       // RESP3 ">n\r\n", RESP2 "*n\r\n"
  // RESP3 ",<repr>\r\n", RESP2 a bulk of <repr>. <repr> is printf's "%.17g" (Redis 7.0),
  // "inf"/"-inf" for infinities and "nan"/"-nan" (by sign bit) for NaN.
  void Double(double d);
  void Bool(bool b);                       // RESP3 "#t"/"#f", RESP2 ":1"/":0"
  void BigNumber(std::string_view digits); // RESP3 "(digits\r\n", RESP2 bulk
  // RESP3 "=<len>\r\n<format>:<text>\r\n", RESP2 a bulk of `text`.
  // REQUIRES: format is exactly 3 bytes ("txt" or "mkd").
  void Verbatim(std::string_view text, std::string_view format = "txt");
  void BulkArray(std::span<const std::string_view> items);  // array of bulks
  void Raw(std::string_view bytes);                          // pre-encoded bytes, verbatim
  std::string* out() { return out_; }

  // Writes Double()'s <repr> of `d` into buf (no terminator) and returns its length.
  // Exposed for commands that need the text itself (e.g. to store it). REQUIRES: size >= 32.
  static size_t FormatDouble(double d, char* buf);

 private:
  // Appends "<prefix><n>\r\n".
  void Header(char prefix, uint64_t n);

  std::string* out_;
  int protocol_ = 2;
};

}  // namespace darter::resp

#endif  // DARTER_RESP_REPLY_BUILDER_H_
