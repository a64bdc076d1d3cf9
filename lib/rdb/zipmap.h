// ZipmapReader: validating iterator over a zipmap blob (RDB type 9, hashes
// written by Redis 2.4 and older). Yields field, value, field, value, ...
//
// Borrows the blob; bounds-checks every access. One reader per thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "rdb/status.h"

namespace darter::rdb {

class ZipmapReader {
 public:
  Status Init(std::string_view blob);
  // Next field/value pair; false at the end marker or on error (status()).
  bool Next(std::string_view* field, std::string_view* value);
  const Status& status() const { return status_; }
  uint32_t pairs_read() const { return count_; }

 private:
  bool Fail(size_t at, std::string_view what);
  bool ReadLen(size_t* len);
  std::string_view blob_;
  size_t pos_ = 0;
  uint32_t declared_ = 0;
  uint32_t count_ = 0;
  bool done_ = false;
  Status status_;
};

}  // namespace darter::rdb
