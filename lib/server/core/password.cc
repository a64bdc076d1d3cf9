#include "server/core/password.h"

#include <array>
#include <cstdint>

#include "store/sha1.h"

namespace darter::server {

namespace {

std::array<uint8_t, 20> Digest(std::string_view s) {
  store::Sha1 h;
  h.Update(s);
  return h.Final();
}

}  // namespace

bool PasswordsMatch(std::string_view given, std::string_view required) {
  const std::array<uint8_t, 20> a = Digest(given), b = Digest(required);
  // volatile: the compiler must not turn the loop into an early-exit memcmp.
  volatile uint8_t diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff = diff | (a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace darter::server
