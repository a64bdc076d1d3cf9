// Client: a blocking connection to a Redis-protocol server for integration
// tests. hiredis connects (with a timeout) and encodes commands binary-safely
// (redisAppendCommandArgv); replies are read by RespReader so RESP3 works
// with Debian's hiredis 0.14 (see reply.h).
//
// Every operation is bounded by the timeout given at construction; a timeout,
// a closed connection or a protocol error becomes a Reply of type kIoError
// and the client stays broken (ok() == false) from then on.
//
// Thread-safety: requires external synchronization; use one Client per thread.
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "support/reply.h"

namespace darter::test {

class Client {
 public:
  // Connects to host:port. Check ok() / error() before use.
  Client(const std::string& host, int port,
         std::chrono::milliseconds timeout = std::chrono::seconds(10));
  explicit Client(int port, std::chrono::milliseconds timeout = std::chrono::seconds(10))
      : Client("127.0.0.1", port, timeout) {}
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  bool ok() const { return context_ != nullptr && error_.empty(); }
  const std::string& error() const { return error_; }

  // Sends one command and reads its reply.
  Reply Cmd(const std::vector<std::string>& argv);

  // Sends every command, then reads one reply per command, in order.
  std::vector<Reply> Pipeline(const std::vector<std::vector<std::string>>& commands);

  // Lower level, for tests that interleave: queue commands, flush, read.
  void Append(const std::vector<std::string>& argv);
  bool Flush();
  Reply ReadReply();

  // The underlying hiredis context (for fd-level tricks); may be null.
  redisContext* context() { return context_; }

 private:
  Reply IoError() const;

  redisContext* context_ = nullptr;
  std::unique_ptr<RespReader> reader_;
  std::string error_;
};

// Formats a command the way scripts and messages show it: words separated by
// spaces, each quoted only if it needs to be.
std::string FormatCommand(const std::vector<std::string>& argv);

}  // namespace darter::test
