// SourceUri: where darter-migrate reads from, parsed from
// redis://[user:password@]host:port[/db] (also "host:port" and "rediss://", which is
// refused: TLS is not supported yet). Percent-escapes in user and password are decoded.
//
// Thread-safety: a value type.
#pragma once

#include <optional>
#include <string>

namespace darter::migrate {

struct SourceUri {
  std::string host;
  int port = 6379;
  std::string user;      // empty: the default user (AUTH <password>)
  std::string password;  // empty: no AUTH

  // host:port, for messages (never the password).
  std::string Display() const;
};

// Parses `text`; on failure returns nullopt and sets *error to what is wrong.
std::optional<SourceUri> ParseSourceUri(const std::string& text, std::string* error);

// Parses "host:port" (the --target form).
std::optional<SourceUri> ParseHostPort(const std::string& text, std::string* error);

}  // namespace darter::migrate
