// Splitting one line into arguments as Redis's sdssplitargs does: inline commands
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

}  // namespace darter::resp
