// ZiplistReader: validating forward iterator over a ziplist blob (RDB types
// 10, 12, 13 and quicklist version 1 nodes).
//
// The blob is borrowed, not copied: it must outlive the reader and the
// string views it hands out. Every read is bounds-checked against the blob,
// so a hostile blob yields an error, never an out-of-range access. One
// reader per thread; no shared state.
#pragma once

#include <cstdint>
#include <string_view>

#include "rdb/format.h"
#include "rdb/status.h"

namespace darter::rdb {

class ZiplistReader {
 public:
  // Checks the header: zlbytes equals the blob size, zltail points inside
  // it, the blob ends with 0xFF.
  Status Init(std::string_view blob);

  // Decodes the next entry into `*e`. Returns false at the end marker or on
  // error; then status() says which. At the end it also checks that the
  // entry count matches zllen (unless zllen is 65535, "unknown") and that
  // zltail named the last entry.
  bool Next(BlobElement* e);
  const Status& status() const { return status_; }

  uint32_t declared_count() const { return declared_; }  // 65535 = unknown
  uint32_t entries_read() const { return count_; }

 private:
  bool Fail(size_t at, std::string_view what);

  std::string_view blob_;
  size_t pos_ = 0;
  size_t prev_entry_size_ = 0;
  size_t last_entry_off_ = 0;
  uint32_t declared_ = 0;
  uint32_t tail_ = 0;
  uint32_t count_ = 0;
  bool done_ = false;
  Status status_;
};

}  // namespace darter::rdb
