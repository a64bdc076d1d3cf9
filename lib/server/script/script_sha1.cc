#include "server/script/script_sha1.h"

#include "store/sha1.h"

namespace darter::server {

std::string Sha1Hex(std::string_view data) {
  store::Sha1 sha;
  sha.Update(data);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(40);
  for (uint8_t b : sha.Final()) {
    out.push_back(kHex[b >> 4]);
    out.push_back(kHex[b & 15]);
  }
  return out;
}

}  // namespace darter::server
