// Listpack support: ListpackReader, a validating forward iterator over a
// listpack blob (RDB types 16, 17, 20, 23, 25, quicklist version 2 nodes and
// stream nodes), and ListpackBuilder, which encodes one for the writer.
//
// The reader borrows its blob (it must outlive the reader and the views it
// hands out) and bounds-checks every access, so hostile blobs yield errors.
// Neither class shares state: one instance per thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "rdb/format.h"
#include "rdb/status.h"

namespace darter::rdb {

class ListpackReader {
 public:
  // Checks the header (total bytes equals the blob size) and the end marker.
  Status Init(std::string_view blob);

  // Decodes the next element. Returns false at the end marker or on error;
  // status() says which. At the end it checks the element count against the
  // header (unless the header says 65535, "unknown").
  bool Next(BlobElement* e);
  const Status& status() const { return status_; }

  uint32_t declared_count() const { return declared_; }  // 65535 = unknown
  uint32_t elements_read() const { return count_; }
  // Byte offset of the next element inside the blob (for error messages).
  size_t position() const { return pos_; }

 private:
  bool Fail(size_t at, std::string_view what);

  std::string_view blob_;
  size_t pos_ = 0;
  uint32_t declared_ = 0;
  uint32_t count_ = 0;
  bool done_ = false;
  Status status_;
};

// Builds a listpack in memory. Strings that are the canonical decimal form
// of an int64 are stored as integers, as Redis does; readers turn them back
// into the same text.
class ListpackBuilder {
 public:
  ListpackBuilder() { Clear(); }
  void Clear();
  void Append(std::string_view s);
  void AppendInt(int64_t v);
  // Appends the elements of another (unfinished) builder; element
  // encodings are position independent.
  void AppendElementsOf(const ListpackBuilder& other);
  uint32_t size() const { return count_; }
  size_t bytes() const { return buf_.size() + 1; }
  // Writes the header and end marker; returns the finished blob. The builder
  // must be Clear()ed before reuse.
  const std::string& Finish();

 private:
  void AppendBacklen(size_t len);
  std::string buf_;
  uint32_t count_ = 0;
};

}  // namespace darter::rdb
