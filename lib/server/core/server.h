// Server: owns the shard threads, the listening socket, the configuration and the
// registry of client connections; starts and stops them.
//
// Thread-safety: Start/Wait/RequestShutdown may be called from any thread. The
// per-thread connection registries are touched only on their own threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/core/asio.h"
#include "server/core/config.h"
#include "server/core/memory_accounting.h"
#include "server/core/replication_state.h"
#include "server/core/shard_set.h"
#include "server/core/tls_context.h"

namespace darter::server {

class Connection;
class PubSubRegistry;
class ReplicaLink;
class WatchRegistry;
class ReplicationMaster;
class Persistence;

// Counters a thread keeps for its own connections; summed by INFO.
struct ThreadStats {
  uint64_t commands_processed = 0;
  uint64_t net_input_bytes = 0;
  uint64_t net_output_bytes = 0;
};

class Server {
 public:
  explicit Server(ServerOptions options);
  ~Server();

  // Binds and starts the threads. Returns an error message on failure.
  std::optional<std::string> Start();
  // Blocks until SIGINT/SIGTERM or SHUTDOWN, then stops everything.
  void Run();
  void RequestShutdown();

  ShardSet& shards() { return *shards_; }
  // Pub/sub subscriptions of every connection (pubsub_registry.h); thread-safe.
  PubSubRegistry& pubsub() { return *pubsub_; }
  ConfigRegistry& config() { return config_; }
  unsigned db_count() const { return db_count_; }
  // The TCP port listened on (0: none, when only --tls-port is), and the TLS port (0: none).
  uint16_t bound_port() const { return bound_port_; }
  uint16_t tls_bound_port() const { return tls_bound_port_; }
  // The --metrics-port listener's port (0: none; docs/metrics.md).
  uint16_t metrics_bound_port() const { return metrics_bound_port_; }
  // The TLS contexts in use (net/tls_context.h): rebuilt by CONFIG SET of a tls-* file.
  net::TlsContextStore& tls() { return tls_; }
  const std::string& run_id() const { return run_id_; }
  int64_t start_time_ms() const { return start_time_ms_; }

  // Per-thread connection registry and stats (thread i only).
  std::unordered_map<uint64_t, std::shared_ptr<Connection>>& connections(unsigned thread) {
    return per_thread_[thread]->connections;
  }
  ThreadStats& thread_stats(unsigned thread) { return per_thread_[thread]->stats; }
  // WATCH bookkeeping of shard i (watch_registry.h); shard thread i only.
  WatchRegistry& watches(unsigned shard) { return *watches_[shard]; }

  std::atomic<uint64_t>& connected_clients() { return connected_clients_; }
  uint64_t total_connections() const { return total_connections_.load(std::memory_order_relaxed); }
  uint64_t rejected_connections() const { return rejected_connections_.load(std::memory_order_relaxed); }

  // Process-wide used memory: exact and current where the allocator is counted
  // (memory_accounting.h), else the allocator's view refreshed by a timer.
  uint64_t used_memory() const {
    if (memory::ExactAccounting()) return static_cast<uint64_t>(memory::AllocatedBytes());
    return used_memory_.load(std::memory_order_relaxed);
  }
  uint64_t peak_memory() const { return peak_memory_.load(std::memory_order_relaxed); }
  void RefreshUsedMemory();

  // Replication. ReplicaOf starts (or restarts, towards another primary) replicating;
  // ReplicaOfNoOne stops and keeps the data, as a primary with a new replication id.
  ReplicationState& repl_state() { return repl_state_; }
  // This server as a primary: the journal, the stream and its replicas (repl_master.h).
  ReplicationMaster& repl_master() { return *repl_master_; }
  bool is_replica() const { return is_replica_.load(std::memory_order_acquire); }
  void ReplicaOf(const std::string& host, int port);
  // FAILOVER's handover (ReplicaLink::HandOver): becomes a replica of host:port asking it
  // to take over this server's history at `offset`. Returns the link, to follow the outcome.
  std::shared_ptr<ReplicaLink> HandOverTo(const std::string& host, int port, const std::string& replid,
                                          int64_t offset);
  void ReplicaOfNoOne();
  // While an RDB from a primary loads, commands not flagged "loading" get -LOADING.
  bool loading() const { return loading_.load(std::memory_order_relaxed); }
  void set_loading(bool on) { loading_.store(on, std::memory_order_relaxed); }

  // Unix seconds of the last successful SAVE (or start-up), for LASTSAVE and INFO.
  int64_t last_save_time() const { return last_save_time_.load(std::memory_order_relaxed); }
  void set_last_save_time(int64_t t) { last_save_time_.store(t, std::memory_order_relaxed); }
  // SAVE/BGSAVE, the save schedule, shutdown saves (persistence.h).
  Persistence& persistence() { return *persistence_; }

 private:
  // Tells every shard whether it may expire keys itself (not while a replica).
  void SetShardsExpireLocally(bool on);
  // What a listener's connections speak: RESP (plain or TLS), or only HTTP for the
  // metrics page (--metrics-port).
  enum class ListenerKind { kClient, kClientTls, kMetrics };
  // Accepts on `acceptor` until it closes; a TLS client handshakes with the current
  // server context first; a metrics client is served its page and closed.
  awaitable<void> AcceptLoop(asio::ip::tcp::acceptor* acceptor, ListenerKind kind);
  // Opens a listening socket on bind:port; returns an error message on failure.
  // Listens on `port` (0: a free one, the same for every address) of every address in
  // Redis's bind list; *bound gets the port.
  std::optional<std::string> ListenAll(const std::string& bind_list, int port, ListenerKind kind, uint16_t* bound);
  void ScheduleMemoryTimer();

  struct PerThread {
    std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections;
    ThreadStats stats;
  };

  ConfigRegistry config_;
  unsigned db_count_;
  std::string run_id_;
  int64_t start_time_ms_;
  std::vector<std::unique_ptr<PerThread>> per_thread_;
  std::unique_ptr<ShardSet> shards_;
  std::vector<std::unique_ptr<WatchRegistry>> watches_;  // one per shard; outlive the shards' threads
  std::unique_ptr<PubSubRegistry> pubsub_;
  asio::io_context main_ctx_{1};
  // One per bind address and port (--port unless it is 0 beside a --tls-port; --tls-port;
  // --metrics-port).
  struct Acceptor {
    std::unique_ptr<asio::ip::tcp::acceptor> socket;
    ListenerKind kind = ListenerKind::kClient;
  };
  std::vector<Acceptor> acceptors_;
  net::TlsContextStore tls_;
  std::unique_ptr<asio::steady_timer> memory_timer_;
  // Set by the destructor before it cancels the timer: a wait that had already completed
  // (queued with success before the cancel) must not re-arm it while it is destroyed.
  std::atomic<bool> memory_timer_stopped_{false};
  uint16_t bound_port_ = 0;
  uint16_t tls_bound_port_ = 0;
  uint16_t metrics_bound_port_ = 0;
  std::atomic<uint64_t> next_client_id_{0};
  std::atomic<uint64_t> connected_clients_{0};
  std::atomic<uint64_t> total_connections_{0};
  std::atomic<uint64_t> rejected_connections_{0};
  std::atomic<uint64_t> used_memory_{0};
  std::atomic<uint64_t> peak_memory_{0};
  unsigned next_thread_ = 0;
  ReplicationState repl_state_;
  std::atomic<bool> is_replica_{false};
  std::atomic<bool> loading_{false};
  std::atomic<int64_t> last_save_time_{0};
  std::mutex replica_mu_;  // guards link_
  std::shared_ptr<ReplicaLink> link_;
  std::unique_ptr<ReplicationMaster> repl_master_;
  std::unique_ptr<Persistence> persistence_;
};

}  // namespace darter::server
