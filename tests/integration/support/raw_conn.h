// A plain loopback TCP socket for tests that send bytes no client library would and must
// see exactly what comes back: partial replies, pushed lines and the server closing.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace darter::test {

class RawConn {
 public:
  // `rcvbuf` > 0 shrinks the receive buffer (set before connecting, so the window is
  // small from the start): a client that does not read then stalls the server sooner.
  explicit RawConn(int port, int rcvbuf = 0);
  ~RawConn() { Close(); }
  RawConn(const RawConn&) = delete;
  RawConn& operator=(const RawConn&) = delete;

  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  void Close();

  // Sends everything; false when the peer closed or the send timed out (5 s).
  bool Send(std::string_view bytes);

  struct Received {
    std::string data;
    bool closed = false;  // EOF or reset seen
  };
  // Reads until the peer closes, nothing arrives for `quiet`, or `limit` passes.
  Received Read(std::chrono::milliseconds quiet = std::chrono::milliseconds(300),
                std::chrono::milliseconds limit = std::chrono::seconds(10));
  // Reads until `want` bytes arrived, the peer closed, or `limit` passed.
  std::string ReadAtLeast(size_t want, std::chrono::milliseconds limit = std::chrono::seconds(3));

 private:
  int fd_ = -1;
  bool ok_ = false;
};

}  // namespace darter::test
