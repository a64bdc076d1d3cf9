// Password comparison for AUTH and HELLO .. AUTH.
#pragma once

#include <string_view>

namespace darter::server {

// True when `given` equals `required`. Its running time depends on neither the position
// of the first differing byte nor on whether the lengths match: both sides are hashed to
// fixed-size digests, which are compared in full (as Redis's time_independent_strcmp and
// its ACL's SHA-256 checks do), so timing tells an attacker nothing about the password.
bool PasswordsMatch(std::string_view given, std::string_view required);

}  // namespace darter::server
