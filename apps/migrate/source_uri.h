// SourceUri: where darter-migrate reads from, parsed from
// redis://[user:password@]host:port[/db] (also "host:port"), or rediss://... for TLS
// (the certificate settings come from flags, see main.cc). Percent-escapes in user and
// password are decoded.
//
// Thread-safety: a value type.
#pragma once

#include <optional>
#include <string>

#include "migrate/tls_settings.h"

namespace darter::migrate {

struct SourceUri {
  std::string host;
  int port = 6379;
  std::string user;      // empty: the default user (AUTH <password>)
  std::string password;  // empty: no AUTH
  TlsSettings tls;       // tls.enabled: rediss://

  // host:port, for messages (never the password).
  std::string Display() const;
};

// Parses `text`; on failure returns nullopt and sets *error to what is wrong.
std::optional<SourceUri> ParseSourceUri(const std::string& text, std::string* error);

// Parses "host:port" (the --target form).
std::optional<SourceUri> ParseHostPort(const std::string& text, std::string* error);

}  // namespace darter::migrate
