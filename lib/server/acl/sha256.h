// SHA-256 (OpenSSL's, already linked for TLS), for ACL passwords: a user's passwords are kept only as the
// lowercase hex of their SHA-256, as Redis stores and shows them (ACL GETUSER, '#<hash>').
#pragma once

#include <string>
#include <string_view>

namespace darter::server::acl {

// The 64 lowercase hex characters of SHA-256(`data`).
std::string Sha256Hex(std::string_view data);

}  // namespace darter::server::acl
