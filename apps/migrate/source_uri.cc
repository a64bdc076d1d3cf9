#include "migrate/source_uri.h"

#include <cctype>
#include <charconv>

namespace darter::migrate {

namespace {

std::optional<std::string> PercentDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(s[i + 2])))
      return std::nullopt;
    out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  return out;
}

bool ParsePort(const std::string& s, int* port) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0 || v > 65535) return false;
  *port = v;
  return true;
}

}  // namespace

std::string SourceUri::Display() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::optional<SourceUri> ParseHostPort(const std::string& text, std::string* error) {
  SourceUri u;
  std::string hp = text;
  if (hp.empty()) {
    *error = "empty address";
    return std::nullopt;
  }
  if (hp[0] == '[') {  // [ipv6]:port
    size_t close = hp.find(']');
    if (close == std::string::npos) {
      *error = "unbalanced '[' in '" + text + "'";
      return std::nullopt;
    }
    u.host = hp.substr(1, close - 1);
    std::string rest = hp.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':' || !ParsePort(rest.substr(1), &u.port)) {
        *error = "invalid port in '" + text + "'";
        return std::nullopt;
      }
    }
    return u;
  }
  size_t colon = hp.rfind(':');
  if (colon == std::string::npos) {
    u.host = hp;
    return u;
  }
  u.host = hp.substr(0, colon);
  if (u.host.empty()) {
    *error = "missing host in '" + text + "'";
    return std::nullopt;
  }
  if (!ParsePort(hp.substr(colon + 1), &u.port)) {
    *error = "invalid port '" + hp.substr(colon + 1) + "' in '" + text + "' (want 1..65535)";
    return std::nullopt;
  }
  return u;
}

std::optional<SourceUri> ParseSourceUri(const std::string& text, std::string* error) {
  std::string rest = text;
  bool tls = false;
  if (rest.rfind("rediss://", 0) == 0) {
    rest = rest.substr(9);
    tls = true;
  } else if (rest.rfind("redis://", 0) == 0) {
    rest = rest.substr(8);
  } else if (rest.find("://") != std::string::npos) {
    *error = "unknown scheme in '" + text + "' (want redis:// or rediss://[user:password@]host:port)";
    return std::nullopt;
  }
  // A trailing /db is accepted and ignored: every database is migrated.
  size_t slash = rest.find('/');
  if (slash != std::string::npos) rest = rest.substr(0, slash);
  std::string user, password;
  size_t at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    size_t colon = cred.find(':');
    auto u = PercentDecode(colon == std::string::npos ? std::string() : cred.substr(0, colon));
    auto p = PercentDecode(colon == std::string::npos ? cred : cred.substr(colon + 1));
    if (!u || !p) {
      *error = "bad percent-escape in the credentials of the source URI";
      return std::nullopt;
    }
    user = *u;
    password = *p;
  }
  auto uri = ParseHostPort(rest, error);
  if (!uri) return std::nullopt;
  uri->user = user;
  uri->password = password;
  uri->tls.enabled = tls;
  return uri;
}

}  // namespace darter::migrate
