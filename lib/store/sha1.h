// SHA-1 (FIPS 180-4), for DEBUG DIGEST. Not for security.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace darter::store {

class Sha1 {
 public:
  Sha1() { Reset(); }
  void Reset();
  void Update(const void* data, size_t n);
  void Update(std::string_view s) { Update(s.data(), s.size()); }
  std::array<uint8_t, 20> Final();

 private:
  void Block(const uint8_t* p);
  uint32_t h_[5];
  uint8_t buf_[64];
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace darter::store
