// Reading Redis's configuration syntax: a redis.conf file (with `include`) and the
// `--name value ...` options of the command line, both turned into one list of
// directives in the order they apply (file first, command line last, so a command-line
// option overrides the file, as in redis-server).
//
// Only syntax lives here: which directives exist and what they do is the caller's
// (apps/server applies each to the ConfigRegistry). IsRedisDirective says whether some
// Redis 7.0 knows a name, so the caller can tell "Redis has it, Darter does not" (a
// warning) from "no Redis has it" (an error).
//
// Thread-safety: plain functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace darter::server {

struct ConfigDirective {
  std::string name;               // lower case
  std::vector<std::string> args;  // after the name, unquoted
  std::string origin;             // "<file>:<line>" or "command line"
  std::string text;               // the line as written, for messages
};

// Splits one line as Redis's sdssplitargs does: blanks separate arguments; "double
// quotes" take \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' take \' only; a
// closing quote must be followed by a blank or the end. nullopt when quotes do not
// balance.
std::optional<std::vector<std::string>> SplitConfigLine(std::string_view line);

// Parses `text` (the contents of `file`): comment lines (#) and blank lines are skipped,
// directive names are lower-cased, `include <glob>` is followed (each match in sorted
// order, as Redis 7.0; a missing file is an error) at most `max_depth` files deep.
// Returns false with a message naming file, line and reason.
bool ParseConfigText(std::string_view text, const std::string& file, std::vector<ConfigDirective>* out,
                     std::string* error, int max_depth = 16);
bool ReadConfigFile(const std::string& path, std::vector<ConfigDirective>* out, std::string* error,
                    int max_depth = 16);

// redis-server's command line after the optional config file: `--name` starts a
// directive, the words after it up to the next `--name` are its arguments (an empty word
// stays an argument: `--save ""`); `--name=value` gives the directive its first
// argument. A word before any `--name` is an error.
bool ParseCommandLineDirectives(const std::vector<std::string>& words, std::vector<ConfigDirective>* out,
                                std::string* error);

// Whether Redis 7.0 has a directive of this name (its CONFIG parameters, their aliases,
// and include / rename-command / user / loadmodule / sentinel).
bool IsRedisDirective(std::string_view name);

}  // namespace darter::server
