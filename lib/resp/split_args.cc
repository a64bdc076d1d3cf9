#include "resp/split_args.h"

namespace darter::resp {

namespace {

// isspace() in the C locale, which is what sdssplitargs uses between arguments and
// after a closing quote.
bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

// sdssplitargs' grammar, re-implemented:
//  * arguments are separated by isspace() runs;
//  * outside quotes an argument ends at ' ', '\t', '\r' or '\n' ('\v' and '\f' are kept);
//    a '"' or '\'' inside an argument switches to quoted mode (ab"cd" is "abcd");
//  * in double quotes: \xHH (two hex digits), \n \r \t \b \a, and \<any> for <any>;
//  * in single quotes only \' is an escape;
//  * a closing quote must be followed by isspace() or the end of the line;
//  * the line ending inside quotes is "unbalanced quotes".
// Unlike Redis (C strings), a NUL byte is an ordinary character.
bool SplitArgsInto(std::string_view line, std::string* buf, std::vector<ArgSpan>* spans) {
  const size_t n = line.size();
  size_t i = 0;
  for (;;) {
    while (i < n && IsSpace(line[i])) ++i;
    if (i == n) return true;
    const size_t start = buf->size();
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && HexValue(line[i + 2]) >= 0 &&
            HexValue(line[i + 3]) >= 0) {
          buf->push_back(static_cast<char>(HexValue(line[i + 2]) * 16 + HexValue(line[i + 3])));
          i += 3;
        } else if (c == '\\' && i + 1 < n) {
          ++i;
          char e = line[i];
          switch (e) {
            case 'n': e = '\n'; break;
            case 'r': e = '\r'; break;
            case 't': e = '\t'; break;
            case 'b': e = '\b'; break;
            case 'a': e = '\a'; break;
            default: break;
          }
          buf->push_back(e);
        } else if (c == '"') {
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          done = true;
        } else {
          buf->push_back(c);
        }
        ++i;
      } else if (in_single) {
        if (i == n) return false;
        const char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          ++i;
          buf->push_back('\'');
        } else if (c == '\'') {
          if (i + 1 < n && !IsSpace(line[i + 1])) return false;
          done = true;
        } else {
          buf->push_back(c);
        }
        ++i;
      } else {
        if (i == n) {
          done = true;
          continue;
        }
        const char c = line[i];
        switch (c) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            buf->push_back(c);
            break;
        }
        ++i;
      }
    }
    spans->push_back({start, buf->size() - start});
  }
}

bool SplitArgs(std::string_view line, std::vector<std::string>* args, std::string* error) {
  args->clear();
  std::string buf;
  std::vector<ArgSpan> spans;
  if (!SplitArgsInto(line, &buf, &spans)) {
    *error = "unbalanced quotes, or a closing quote not followed by a space";
    return false;
  }
  for (const ArgSpan& s : spans) args->push_back(buf.substr(s.offset, s.len));
  return true;
}

void AppendRepr(std::string* out, std::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '\\': out->append("\\\\"); break;
      case '"': out->append("\\\""); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\a': out->append("\\a"); break;
      case '\b': out->append("\\b"); break;
      default:
        if (c >= 0x20 && c < 0x7f) {
          out->push_back(static_cast<char>(c));
        } else {
          static constexpr char kHex[] = "0123456789abcdef";
          out->append("\\x");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 15]);
        }
    }
  }
  out->push_back('"');
}

std::string Repr(std::string_view s) {
  std::string out;
  AppendRepr(&out, s);
  return out;
}

}  // namespace darter::resp
