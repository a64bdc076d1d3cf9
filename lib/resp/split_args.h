// Splitting one line into arguments as Redis's sdssplitargs does, and its inverse: inline commands
// (RequestParser), Redis's configuration file (config_file.h) and redis-cli-style
// script lines in tests all use this one grammar.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace darter::resp {

// One argument: `len` bytes at `offset` of the buffer SplitArgsInto appended to.
struct ArgSpan {
  size_t offset;
  size_t len;
};

// Appends the unescaped arguments of `line` to *buf back to back, one span each; false
// on unbalanced quotes (or a closing quote followed by something else than a space).
bool SplitArgsInto(std::string_view line, std::string* buf, std::vector<ArgSpan>* spans);

// The same, each argument as its own string; *error says why on false.
bool SplitArgs(std::string_view line, std::vector<std::string>* args, std::string* error);

// The inverse, Redis's sdscatrepr: `s` double-quoted with \n \r \t \a \b \\ \"
// escaped and any other byte outside printable ASCII as \xHH (MONITOR's lines, logs,
// CONFIG REWRITE's values); SplitArgs reads it back as `s`.
void AppendRepr(std::string* out, std::string_view s);
std::string Repr(std::string_view s);

}  // namespace darter::resp
