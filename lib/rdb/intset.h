// IntsetReader: validating iterator over an intset blob (RDB type 11).
//
// Borrows the blob (it must outlive the reader). Checks the header, that the
// blob size is exactly header + length x width, and that members are
// strictly ascending (a set has no duplicates and Redis keeps them sorted).
// One reader per thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "rdb/status.h"

namespace darter::rdb {

class IntsetReader {
 public:
  Status Init(std::string_view blob);
  // Next member; false at the end or on error (see status()).
  bool Next(int64_t* v);
  const Status& status() const { return status_; }
  uint32_t length() const { return length_; }
  uint32_t width() const { return width_; }

 private:
  std::string_view blob_;
  uint32_t width_ = 0;
  uint32_t length_ = 0;
  uint32_t index_ = 0;
  int64_t prev_ = 0;
  Status status_;
};

// Encodes sorted, distinct members as an intset blob (width chosen from the
// widest member). REQUIRES: `members` strictly ascending.
void BuildIntset(const int64_t* members, size_t n, std::string* out);

}  // namespace darter::rdb
