#include "resp/split_args.h"

#include <cctype>

namespace darter::resp {

namespace {

// isspace()'s blanks, and NUL (sdssplitargs reads C strings).
bool IsBlank(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f' || c == '\0';
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool SplitArgs(std::string_view line, std::vector<std::string>* args, std::string* error) {
  args->clear();
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    while (i < n && IsBlank(line[i])) ++i;
    if (i >= n) return true;
    std::string current;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (i >= n) {
          *error = "unbalanced double quote";
          return false;
        }
        char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && HexValue(line[i + 2]) >= 0 &&
            HexValue(line[i + 3]) >= 0) {
          current.push_back(static_cast<char>(HexValue(line[i + 2]) * 16 + HexValue(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < n) {
          char e = line[i + 1];
          switch (e) {
            case 'n': current.push_back('\n'); break;
            case 'r': current.push_back('\r'); break;
            case 't': current.push_back('\t'); break;
            case 'b': current.push_back('\b'); break;
            case 'a': current.push_back('\a'); break;
            default: current.push_back(e); break;
          }
          i += 2;
        } else if (c == '"') {
          if (i + 1 < n && !IsBlank(line[i + 1])) {
            *error = "closing quote must be followed by a space";
            return false;
          }
          done = true;
          ++i;
        } else {
          current.push_back(c);
          ++i;
        }
      } else if (in_single) {
        if (i >= n) {
          *error = "unbalanced single quote";
          return false;
        }
        char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          current.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < n && !IsBlank(line[i + 1])) {
            *error = "closing quote must be followed by a space";
            return false;
          }
          done = true;
          ++i;
        } else {
          current.push_back(c);
          ++i;
        }
      } else {
        if (i >= n || IsBlank(line[i])) {
          done = true;
        } else if (line[i] == '"') {
          in_double = true;
          ++i;
        } else if (line[i] == '\'') {
          in_single = true;
          ++i;
        } else {
          current.push_back(line[i]);
          ++i;
        }
      }
    }
    args->push_back(std::move(current));
  }
}

}  // namespace darter::resp
