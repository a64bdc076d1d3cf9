// darter-migrate's status page (--status-port, docs/metrics.md): the progress the
// display shows (phase, keys, bytes, rate, ETA, lag), served over HTTP as Prometheus
// metrics at /metrics (darter_migrate_*) and as JSON at /status, for dashboards and
// scripts that watch a long migration.
//
// Thread-safety: StatusBoard is safe for concurrent use (the migration thread publishes,
// the server's thread reads). StatusHttpServer: Start and Stop from one thread; it
// serves on a thread of its own.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "migrate/progress.h"
#include "server/core/asio.h"

namespace darter::migrate {

class StatusBoard {
 public:
  // What the run is ("follow", "one-shot", "rdb-file") and its source, for both forms.
  void SetRun(const std::string& mode, const std::string& source);
  // The latest sample the display got, `elapsed_s` after the run started.
  void Publish(const ProgressSample& s, double elapsed_s);
  std::string MetricsText() const;
  std::string Json() const;

 private:
  mutable std::mutex mu_;
  std::string mode_, source_;
  ProgressSample sample_;
  double elapsed_s_ = 0;
};

class StatusHttpServer {
 public:
  explicit StatusHttpServer(const StatusBoard& board) : board_(board) {}
  ~StatusHttpServer() { Stop(); }
  // Listens on bind:port (port 0: a free one) and starts serving. Returns an error.
  std::optional<std::string> Start(const std::string& bind, int port);
  void Stop();
  uint16_t port() const { return port_; }

 private:
  server::awaitable<void> AcceptLoop();

  const StatusBoard& board_;
  server::asio::io_context ctx_{1};
  std::unique_ptr<server::asio::ip::tcp::acceptor> acceptor_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace darter::migrate
