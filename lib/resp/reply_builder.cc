#include "resp/reply_builder.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstring>

namespace darter::resp {
namespace {

// Longest "%.17g" output is "-1.2345678901234567e-308" (24 bytes).
constexpr size_t kDoubleBufSize = 32;

}  // namespace

void ReplyBuilder::Header(char prefix, uint64_t n) {
  char buf[24];
  buf[0] = prefix;
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n).ptr;
  end[0] = '\r';
  end[1] = '\n';
  out_->append(buf, static_cast<size_t>(end + 2 - buf));
}

void ReplyBuilder::SimpleString(std::string_view s) {
  out_->push_back('+');
  out_->append(s);
  out_->append("\r\n", 2);
}

void ReplyBuilder::Ok() { out_->append("+OK\r\n", 5); }

void ReplyBuilder::Error(std::string_view msg) {
  if (!msg.empty() && msg.front() == '-') msg.remove_prefix(1);
  const size_t start = out_->size();
  out_->push_back('-');
  out_->append(msg);
  // A CR or LF would end the line early and desynchronise the client.
  if (msg.find_first_of("\r\n") != std::string_view::npos) {
    for (size_t i = start + 1; i < out_->size(); ++i) {
      char& c = (*out_)[i];
      if (c == '\r' || c == '\n') c = ' ';
    }
  }
  out_->append("\r\n", 2);
}

void ReplyBuilder::Integer(int64_t v) {
  char buf[24];
  buf[0] = ':';
  char* end = std::to_chars(buf + 1, buf + sizeof(buf) - 2, v).ptr;
  end[0] = '\r';
  end[1] = '\n';
  out_->append(buf, static_cast<size_t>(end + 2 - buf));
}

void ReplyBuilder::Bulk(std::string_view s) {
  Header('$', s.size());
  out_->append(s);
  out_->append("\r\n", 2);
}

void ReplyBuilder::Null() {
  if (protocol_ == 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void ReplyBuilder::NullArray() {
  if (protocol_ == 3) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void ReplyBuilder::ArrayHeader(size_t n) { Header('*', n); }

void ReplyBuilder::MapHeader(size_t n) {
  if (protocol_ == 3) {
    Header('%', n);
  } else {
    Header('*', static_cast<uint64_t>(n) * 2);
  }
}

void ReplyBuilder::SetHeader(size_t n) { Header(protocol_ == 3 ? '~' : '*', n); }

void ReplyBuilder::PushHeader(size_t n) { Header(protocol_ == 3 ? '>' : '*', n); }

size_t ReplyBuilder::FormatDouble(double d, char* buf) {
  // Fast path for integral values (common sorted-set scores): below 1e17 "%.17g" prints
  // them as plain integers, so integer formatting gives the same bytes in about a
  // third of the time. -0.0 must stay "-0".
  if (d > -1e17 && d < 1e17 && d == static_cast<double>(static_cast<int64_t>(d)) &&
      !(d == 0 && std::signbit(d))) {
    return static_cast<size_t>(std::to_chars(buf, buf + kDoubleBufSize, static_cast<int64_t>(d)).ptr - buf);
  }
  // std::to_chars with chars_format::general and a precision is specified to produce
  // what printf("%.*g") produces in the C locale, including "inf", "-inf", "nan" and
  // "-nan" (glibc prints NaN's sign) — exactly the strings Redis 7.0 sends.
  const std::to_chars_result r =
      std::to_chars(buf, buf + kDoubleBufSize, d, std::chars_format::general, 17);
  assert(r.ec == std::errc());
  return static_cast<size_t>(r.ptr - buf);
}

void ReplyBuilder::Double(double d) {
  char buf[kDoubleBufSize + 4];
  if (protocol_ == 3) {
    buf[0] = ',';
    size_t len = 1 + FormatDouble(d, buf + 1);
    buf[len++] = '\r';
    buf[len++] = '\n';
    out_->append(buf, len);
  } else {
    const size_t len = FormatDouble(d, buf);
    Bulk(std::string_view(buf, len));
  }
}

void ReplyBuilder::Bool(bool b) {
  if (protocol_ == 3) {
    out_->append(b ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(b ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyBuilder::BigNumber(std::string_view digits) {
  if (protocol_ == 3) {
    out_->push_back('(');
    out_->append(digits);
    out_->append("\r\n", 2);
  } else {
    Bulk(digits);
  }
}

void ReplyBuilder::Verbatim(std::string_view text, std::string_view format) {
  if (protocol_ != 3) {
    Bulk(text);
    return;
  }
  assert(format.size() == 3);
  Header('=', format.size() + 1 + text.size());
  out_->append(format);
  out_->push_back(':');
  out_->append(text);
  out_->append("\r\n", 2);
}

void ReplyBuilder::BulkArray(std::span<const std::string_view> items) {
  // One growth step for the whole array: each element costs at most 24 header bytes
  // plus its payload and CRLF.
  size_t total = 24;
  for (std::string_view s : items) total += s.size() + 26;
  out_->reserve(out_->size() + total);
  Header('*', items.size());
  for (std::string_view s : items) Bulk(s);
}

void ReplyBuilder::Raw(std::string_view bytes) { out_->append(bytes); }

}  // namespace darter::resp
