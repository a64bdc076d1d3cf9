#include "rdb/intset.h"

#include <cstring>
#include <string>

namespace darter::rdb {

Status IntsetReader::Init(std::string_view blob) {
  blob_ = blob;
  if (blob.size() < 8) {
    status_ = Status::Error("intset of " + std::to_string(blob.size()) +
                            " bytes is shorter than its 8-byte header");
    return status_;
  }
  std::memcpy(&width_, blob.data(), 4);
  std::memcpy(&length_, blob.data() + 4, 4);
  if (width_ != 2 && width_ != 4 && width_ != 8) {
    status_ = Status::Error("intset byte 0: invalid encoding width " + std::to_string(width_));
    return status_;
  }
  if (uint64_t{length_} * width_ + 8 != blob.size()) {
    status_ = Status::Error("intset byte 4: length " + std::to_string(length_) + " x width " +
                            std::to_string(width_) + " does not match blob size " +
                            std::to_string(blob.size()));
    return status_;
  }
  return status_;
}

bool IntsetReader::Next(int64_t* v) {
  if (!status_.ok() || index_ >= length_) return false;
  const char* p = blob_.data() + 8 + size_t{index_} * width_;
  int64_t x;
  if (width_ == 2) { int16_t t; std::memcpy(&t, p, 2); x = t; }
  else if (width_ == 4) { int32_t t; std::memcpy(&t, p, 4); x = t; }
  else { std::memcpy(&x, p, 8); }
  if (index_ > 0 && x <= prev_) {
    status_ = Status::Error("intset byte " + std::to_string(8 + size_t{index_} * width_) +
                            ": members not strictly ascending");
    return false;
  }
  prev_ = x;
  ++index_;
  *v = x;
  return true;
}

void BuildIntset(const int64_t* members, size_t n, std::string* out) {
  uint32_t width = 2;
  for (size_t i = 0; i < n; ++i) {
    int64_t v = members[i];
    if (v < INT32_MIN || v > INT32_MAX) { width = 8; break; }
    if (v < INT16_MIN || v > INT16_MAX) width = 4;
  }
  uint32_t len = static_cast<uint32_t>(n);
  out->resize(8 + n * width);
  char* p = out->data();
  std::memcpy(p, &width, 4);
  std::memcpy(p + 4, &len, 4);
  p += 8;
  for (size_t i = 0; i < n; ++i, p += width) {
    if (width == 2) { int16_t t = static_cast<int16_t>(members[i]); std::memcpy(p, &t, 2); }
    else if (width == 4) { int32_t t = static_cast<int32_t>(members[i]); std::memcpy(p, &t, 4); }
    else { std::memcpy(p, &members[i], 8); }
  }
}

}  // namespace darter::rdb
