// SHA-1 (FIPS 180-4) of a byte string, as lower-case hex: the name of a script in
// EVALSHA / SCRIPT LOAD and the result of redis.sha1hex (on store/sha1.h). Not used for
// security.
#pragma once

#include <string>
#include <string_view>

namespace darter::server {

std::string Sha1Hex(std::string_view data);

}  // namespace darter::server
