// RdbFilePrimary: serves an RDB file as if it were a Redis primary's full sync, so a
// Darter target (embedded or remote) loads it through its ordinary replica path —
// streamed into the shards, never RESTOREd key by key. It answers the handshake
// (PING, AUTH, REPLCONF: +PONG/+OK), replies +FULLRESYNC <random id> 0 to PSYNC and
// sends `$<size>` followed by the file, then keeps the link open (idle, reading
// REPLCONF ACKs) until stopped. A replica that reconnects is served again.
//
// Thread-safety: Start/Stop/bytes_sent from any thread; the server runs on its own.
#pragma once

#include <atomic>
#include <optional>
#include <string>
#include <thread>

namespace darter::migrate {

class RdbFilePrimary {
 public:
  RdbFilePrimary(std::string path, std::string bind);
  ~RdbFilePrimary();

  // Opens the file and listens on bind:0. Returns an error or nullopt.
  std::optional<std::string> Start();
  void Stop();
  int port() const { return port_; }
  int64_t file_size() const { return size_; }
  uint64_t sessions() const { return sessions_.load(); }

 private:
  void Serve();
  bool Session(int fd);

  std::string path_;
  std::string bind_;
  int listen_fd_ = -1;
  int port_ = 0;
  int64_t size_ = 0;
  std::string replid_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> sessions_{0};
  std::thread thread_;
};

}  // namespace darter::migrate
