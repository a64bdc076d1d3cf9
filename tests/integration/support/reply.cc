#include "support/reply.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>
#include <charconv>
#include <cstring>

namespace darter::test {

const char* TypeName(Reply::Type type) {
  switch (type) {
    case Reply::Type::kStatus: return "status";
    case Reply::Type::kError: return "error";
    case Reply::Type::kInteger: return "integer";
    case Reply::Type::kString: return "string";
    case Reply::Type::kNil: return "nil";
    case Reply::Type::kNilArray: return "nil-array";
    case Reply::Type::kNull: return "null";
    case Reply::Type::kArray: return "array";
    case Reply::Type::kMap: return "map";
    case Reply::Type::kSet: return "set";
    case Reply::Type::kPush: return "push";
    case Reply::Type::kDouble: return "double";
    case Reply::Type::kBool: return "bool";
    case Reply::Type::kVerbatim: return "verbatim";
    case Reply::Type::kBigNumber: return "bignum";
    case Reply::Type::kIoError: return "io-error";
  }
  return "?";
}

std::string Quote(const std::string& bytes) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() + 2);
  out.push_back('"');
  for (unsigned char c : bytes) {
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(c));
    } else if (c >= 0x20 && c <= 0x7e) {
      out.push_back(static_cast<char>(c));
    } else {
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  out.push_back('"');
  return out;
}

namespace {

void AppendList(const std::vector<Reply>& elements, std::string* out) {
  for (size_t i = 0; i < elements.size(); ++i) {
    if (i) *out += ", ";
    *out += Format(elements[i]);
  }
}

void AppendPairs(const std::vector<Reply>& elements, std::string* out) {
  for (size_t i = 0; i + 1 < elements.size(); i += 2) {
    if (i) *out += ", ";
    *out += Format(elements[i]);
    *out += ": ";
    *out += Format(elements[i + 1]);
  }
}

}  // namespace

std::string Format(const Reply& reply) {
  std::string out;
  if (!reply.attributes.empty()) {
    out += "|{";
    AppendPairs(reply.attributes, &out);
    out += "} ";
  }
  switch (reply.type) {
    case Reply::Type::kStatus: out += "+" + reply.str; break;
    case Reply::Type::kError: out += "-" + reply.str; break;
    case Reply::Type::kInteger: out += ":" + std::to_string(reply.integer); break;
    case Reply::Type::kString: out += Quote(reply.str); break;
    case Reply::Type::kNil: out += "(nil)"; break;
    case Reply::Type::kNilArray: out += "(nil-array)"; break;
    case Reply::Type::kNull: out += "(null)"; break;
    case Reply::Type::kArray:
      out += "[";
      AppendList(reply.elements, &out);
      out += "]";
      break;
    case Reply::Type::kMap:
      out += "{";
      AppendPairs(reply.elements, &out);
      out += "}";
      break;
    case Reply::Type::kSet:
      out += "~[";
      AppendList(reply.elements, &out);
      out += "]";
      break;
    case Reply::Type::kPush:
      out += ">[";
      AppendList(reply.elements, &out);
      out += "]";
      break;
    case Reply::Type::kDouble: out += "," + reply.str; break;
    case Reply::Type::kBool: out += reply.integer ? "#t" : "#f"; break;
    case Reply::Type::kVerbatim: out += "=" + Quote(reply.str); break;
    case Reply::Type::kBigNumber: out += "(bignum " + reply.str + ")"; break;
    case Reply::Type::kIoError: out += "<io-error: " + reply.str + ">"; break;
  }
  return out;
}

std::string Format(const redisReply* reply) {
  if (reply == nullptr) return "<io-error: no reply>";
  switch (reply->type) {
    case REDIS_REPLY_STATUS: return "+" + std::string(reply->str, reply->len);
    case REDIS_REPLY_ERROR: return "-" + std::string(reply->str, reply->len);
    case REDIS_REPLY_INTEGER: return ":" + std::to_string(reply->integer);
    case REDIS_REPLY_STRING: return Quote(std::string(reply->str, reply->len));
    case REDIS_REPLY_NIL: return "(nil)";
    case REDIS_REPLY_ARRAY: {
      std::string out = "[";
      for (size_t i = 0; i < reply->elements; ++i) {
        if (i) out += ", ";
        out += Format(reply->element[i]);
      }
      return out + "]";
    }
  }
  return "<unknown hiredis reply type " + std::to_string(reply->type) + ">";
}

std::string Shape(const Reply& reply) {
  std::string out = TypeName(reply.type);
  if (reply.IsAggregate()) {
    out += "[";
    for (size_t i = 0; i < reply.elements.size(); ++i) {
      if (i) out += ", ";
      out += Shape(reply.elements[i]);
    }
    out += "]";
  }
  return out;
}

// ---------------------------------------------------------------------------
// RespReader

bool RespReader::Fill() {
  if (pos_ > 0 && pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  }
  char chunk[16384];
  for (;;) {
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buf_.append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n == 0) {
      error_ = "connection closed by server";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      error_ = "timed out waiting for a reply";
    } else {
      error_ = std::string("recv: ") + std::strerror(errno);
    }
    return false;
  }
}

bool RespReader::ReadLine(std::string* line) {
  for (;;) {
    size_t end = buf_.find("\r\n", pos_);
    if (end != std::string::npos) {
      line->assign(buf_, pos_, end - pos_);
      pos_ = end + 2;
      return true;
    }
    if (!Fill()) return false;
  }
}

bool RespReader::ReadExact(size_t n, std::string* out) {
  while (buf_.size() - pos_ < n + 2) {
    if (!Fill()) return false;
  }
  out->assign(buf_, pos_, n);
  if (buf_.compare(pos_ + n, 2, "\r\n") != 0) {
    error_ = "protocol error: bulk payload not followed by CRLF";
    return false;
  }
  pos_ += n + 2;
  return true;
}

namespace {

bool ParseLength(const std::string& text, long long* value) {
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, *value);
  return ec == std::errc() && ptr == last && first != last;
}

}  // namespace

bool RespReader::ReadOne(Reply* out, int depth) {
  if (depth > 64) {
    error_ = "protocol error: nesting deeper than 64";
    return false;
  }
  std::string line;
  if (!ReadLine(&line)) return false;
  if (line.empty()) {
    error_ = "protocol error: empty line where a reply type was expected";
    return false;
  }
  const char kind = line[0];
  const std::string rest = line.substr(1);
  long long n = 0;
  auto need_length = [&]() {
    if (!ParseLength(rest, &n)) {
      error_ = "protocol error: bad length in line '" + line + "'";
      return false;
    }
    return true;
  };
  auto read_elements = [&](long long count, std::vector<Reply>* elements) {
    elements->resize(static_cast<size_t>(count));
    for (auto& element : *elements) {
      if (!ReadOne(&element, depth + 1)) return false;
    }
    return true;
  };

  switch (kind) {
    case '+': out->type = Reply::Type::kStatus; out->str = rest; return true;
    case '-': out->type = Reply::Type::kError; out->str = rest; return true;
    case ':':
      out->type = Reply::Type::kInteger;
      if (!ParseLength(rest, &out->integer)) {
        error_ = "protocol error: bad integer '" + line + "'";
        return false;
      }
      return true;
    case '$':
    case '=':
    case '!':  // RESP3 blob error
      if (!need_length()) return false;
      if (n < 0) {
        out->type = Reply::Type::kNil;
        return true;
      }
      out->type = kind == '$'   ? Reply::Type::kString
                  : kind == '=' ? Reply::Type::kVerbatim
                                : Reply::Type::kError;
      return ReadExact(static_cast<size_t>(n), &out->str);
    case '*':
    case '~':
    case '>':
    case '%':
      if (!need_length()) return false;
      if (n < 0) {
        out->type = Reply::Type::kNilArray;
        return true;
      }
      out->type = kind == '*'   ? Reply::Type::kArray
                  : kind == '~' ? Reply::Type::kSet
                  : kind == '>' ? Reply::Type::kPush
                                : Reply::Type::kMap;
      return read_elements(kind == '%' ? 2 * n : n, &out->elements);
    case '_': out->type = Reply::Type::kNull; return true;
    case ',': out->type = Reply::Type::kDouble; out->str = rest; return true;
    case '(': out->type = Reply::Type::kBigNumber; out->str = rest; return true;
    case '#':
      out->type = Reply::Type::kBool;
      if (rest != "t" && rest != "f") {
        error_ = "protocol error: bad boolean '" + line + "'";
        return false;
      }
      out->integer = rest == "t";
      return true;
    case '|': {
      // An attribute decorates the reply that follows it.
      if (!need_length()) return false;
      std::vector<Reply> attributes;
      if (!read_elements(2 * n, &attributes)) return false;
      if (!ReadOne(out, depth + 1)) return false;
      out->attributes = std::move(attributes);
      return true;
    }
    default:
      error_ = "protocol error: unknown reply type byte in line '" + line + "'";
      return false;
  }
}

Reply RespReader::Read() {
  Reply reply;
  if (!error_.empty() || !ReadOne(&reply, 0)) {
    Reply failure;
    failure.type = Reply::Type::kIoError;
    failure.str = error_;
    return failure;
  }
  return reply;
}

}  // namespace darter::test
