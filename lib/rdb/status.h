// Status: the result of an RDB library operation that can fail.
//
// A Status is either OK or carries a message that says what went wrong and
// where ("offset 1234: ziplist entry runs past the end of the blob (key
// 'list:a')"). Library code never throws across its boundary; every fallible
// call returns a Status. Status is a value type: copying is cheap when OK
// (no allocation) and it is safe to use from any thread (no shared state).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace darter::rdb {

class Status {
 public:
  Status() = default;  // OK

  static Status Ok() { return Status(); }
  // An error with a free-form message.
  static Status Error(std::string message) { return Status(std::move(message)); }
  // An error tied to a byte offset of the input ("offset N: what").
  static Status Corrupt(uint64_t offset, std::string_view what) {
    std::string m = "offset ";
    m += std::to_string(offset);
    m += ": ";
    m += what;
    return Status(std::move(m));
  }

  bool ok() const { return msg_ == nullptr; }
  explicit operator bool() const { return ok(); }
  // Empty for OK.
  const std::string& message() const {
    static const std::string kEmpty;
    return msg_ ? *msg_ : kEmpty;
  }
  std::string ToString() const { return ok() ? "OK" : *msg_; }

  // Returns a copy whose message is "<prefix><message>" (no-op when OK).
  Status WithPrefix(std::string_view prefix) const {
    if (ok()) return *this;
    std::string m(prefix);
    m += *msg_;
    return Status(std::move(m));
  }
  Status WithSuffix(std::string_view suffix) const {
    if (ok()) return *this;
    return Status(*msg_ + std::string(suffix));
  }

 private:
  explicit Status(std::string m) : msg_(std::make_shared<const std::string>(std::move(m))) {}
  // Shared and immutable, so copies of an error are cheap; null means OK.
  std::shared_ptr<const std::string> msg_;
};

}  // namespace darter::rdb

// Returns from the enclosing function when `expr` yields an error Status.
#define DARTER_RDB_RETURN_IF_ERROR(expr)        \
  do {                                          \
    ::darter::rdb::Status darter_rdb_s_ = (expr); \
    if (!darter_rdb_s_.ok()) return darter_rdb_s_; \
  } while (0)
