// ServerConfig: every tunable the server has, with Redis's names. Built from flags at
// start-up (apps/server), then read and changed through CONFIG GET/SET.
//
// Thread-safety: values that commands read on the hot path (maxmemory, requirepass)
// are atomics or behind the mutex; CONFIG SET may run on any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/thread_annotations.h"

namespace darter::server {

struct ServerOptions {
  // The configuration file the server started from (absolute; empty: none), which CONFIG
  // REWRITE rewrites.
  std::string config_file;
  // Addresses to listen on, Redis's `bind` list ("127.0.0.1 -::1"): a leading '-' marks
  // an address that may be unavailable (skipped, as Redis 7.0).
  std::string bind = "127.0.0.1";
  int port = 6379;
  unsigned threads = 0;  // 0: hardware concurrency
  std::string requirepass;
  unsigned dbnum = 16;
  uint64_t maxmemory = 0;
  std::string maxmemory_policy = "noeviction";
  std::string dir = ".";
  std::string dbfilename = "dump.rdb";
  std::string save;  // Redis's `save "<seconds> <changes> ..."`; empty: no schedule
  // With a schedule set and the last save failed, refuse writes until a save succeeds.
  bool stop_writes_on_bgsave_error = true;
  // RDB files and PSYNC full syncs: LZF-compress strings over 20 bytes; write (and, on
  // load, verify) the CRC-64 trailer.
  bool rdbcompression = true;
  bool rdbchecksum = true;
  std::string logfile;  // empty: stderr
  std::string loglevel = "notice";
  // Redis's daemonize / pidfile: detach from the terminal, and write the process id
  // (daemonized with no pidfile: /var/run/redis.pid, as Redis).
  bool daemonize = false;
  std::string pidfile;
  uint64_t maxclients = 10000;
  uint64_t timeout = 0;
  // TCP keepalive probes on client sockets after this many idle seconds (0: off), as
  // Redis's tcp-keepalive; the listen backlog asked of the kernel (capped by somaxconn).
  int64_t tcp_keepalive = 300;
  int64_t tcp_backlog = 511;
  // Largest bulk argument a client may send (Redis's proto-max-bulk-len).
  uint64_t proto_max_bulk_len = 512ull * 1024 * 1024;
  // Redis 7's protections (protected_actions.h): DEBUG, and CONFIG SET of dir and
  // dbfilename, are refused unless these allow them ("no", "yes" or "local"); with
  // protected-mode on and no password, only loopback clients are served.
  std::string enable_debug_command = "no";
  std::string enable_protected_configs = "no";
  bool protected_mode = true;
  // A client whose pending request bytes pass this is closed (Redis's
  // client-query-buffer-limit; the primary's link is exempt).
  uint64_t client_query_buffer_limit = 1024ull * 1024 * 1024;
  // Replication (replica side).
  std::string replicaof;  // "host:port" or "host port" at start-up
  std::string masterauth;
  std::string masteruser;
  uint64_t repl_timeout = 60;
  bool replica_read_only = true;
  // With "no", a replica whose link to its primary is down refuses every command not
  // flagged stale with -MASTERDOWN (Redis's replica-serve-stale-data).
  bool replica_serve_stale_data = true;
  // Reported in INFO replication (slave_priority) for Sentinel-style tooling, which
  // promotes the lowest non-zero priority; 0: never promote.
  int64_t replica_priority = 100;
  // What the replica tells its primary about itself (REPLCONF ip-address / listening-port),
  // for NAT and port forwarding: the primary's INFO then lists these. Empty / 0: its own.
  std::string replica_announce_ip;
  int64_t replica_announce_port = 0;
  // Primary side: leave Nagle's algorithm on for replica links (fewer, larger packets).
  bool repl_disable_tcp_nodelay = false;
  // Ask a Darter primary for multi-flow replication (one link per primary shard).
  bool repl_multi_flow = true;
  // Full-sync compression a multi-flow replica asks for: auto (lz4 unless the primary is
  // on a loopback address), none, lz4 or zstd.
  std::string repl_flow_compression = "auto";
  // Replication (primary side).
  uint64_t repl_backlog_size = 1024 * 1024;
  uint64_t repl_ping_replica_period = 10;
  // Keyspace notification classes (Redis's flag string; store/keyspace_events.h).
  std::string notify_keyspace_events;
  // TLS, with Redis's names and defaults (tls-port 0: no TLS listener). The replica
  // side of tls-replication presents tls-client-cert-file (else tls-cert-file) and
  // verifies its primary against tls-ca-cert-file / tls-ca-cert-dir; the two
  // tls-replication-* fields are Darter's, for a migration from a managed source:
  // the server name to send (SNI) and, only when asked explicitly, no verification.
  int tls_port = 0;
  // Darter's: a port of its own that serves only the metrics page (0: none;
  // admin/metrics_http.h, docs/metrics.md), on the bind addresses.
  int metrics_port = 0;
  std::string tls_cert_file, tls_key_file, tls_key_file_pass;
  std::string tls_client_cert_file, tls_client_key_file, tls_client_key_file_pass;
  std::string tls_ca_cert_file, tls_ca_cert_dir, tls_dh_params_file;
  std::string tls_auth_clients = "yes";  // yes | no | optional
  std::string tls_protocols;             // e.g. "TLSv1.2 TLSv1.3"; empty: OpenSSL's defaults
  std::string tls_ciphers, tls_ciphersuites;
  bool tls_prefer_server_ciphers = false;
  bool tls_replication = false;
  bool tls_session_caching = true;
  uint64_t tls_session_cache_size = 20 * 1024;
  uint64_t tls_session_cache_timeout = 300;
  std::string tls_replication_sni;
  bool tls_replication_insecure = false;
  // ACL (server/acl/, docs/acl.md): the ACL file (start-up only; empty: none), the users
  // given at start-up ("<name> <rules>", Redis's `user` directive), ACL LOG's length, and
  // the channels a new user starts with.
  std::string aclfile;
  std::vector<std::string> users;
  uint64_t acllog_max_len = 128;
  std::string acl_pubsub_default = "resetchannels";
};

// The CONFIG GET/SET view of the options. Each parameter has a getter and, when it
// may change at run time, a setter that validates and applies.
class ConfigRegistry {
 public:
  explicit ConfigRegistry(ServerOptions initial);

  // Pairs of (name, value) for every parameter matching the glob `pattern`.
  std::vector<std::pair<std::string, std::string>> Get(std::string_view pattern) const;
  // Returns an error message (Redis's wording) or nullopt on success. A protected
  // parameter (dir, dbfilename) is refused unless `protected_allowed` (the caller checked
  // enable-protected-configs for the client; start-up settings always are).
  std::optional<std::string> Set(std::string_view name, std::string_view value, bool protected_allowed = true);
  // A directive of the configuration file or command line: as Set, but parameters that
  // are fixed once the server runs (port, bind, databases, ...) may be set too.
  std::optional<std::string> SetAtStartup(std::string_view name, std::string_view value);
  // Whether CONFIG SET may change it (false for the start-up-only ones).
  bool Mutable(std::string_view name) const;
  // CONFIG SET of several pairs: set in order, stopping at the first error (its
  // parameter's name goes to *failed). The tls-* parameters of the call apply together
  // once all are set, so a certificate and its key change in one step; if that fails,
  // every tls-* parameter keeps its previous value.
  std::optional<std::string> SetAll(const std::vector<std::pair<std::string_view, std::string_view>>& pairs,
                                    bool protected_allowed, std::string* failed);
  bool Known(std::string_view name) const;

  std::string requirepass() const;
  uint64_t maxmemory() const { return maxmemory_.load(std::memory_order_relaxed); }
  // Read by every connection on each read, hence atomics.
  uint64_t proto_max_bulk_len() const { return proto_max_bulk_len_.load(std::memory_order_relaxed); }
  uint64_t client_query_buffer_limit() const { return client_query_buffer_limit_.load(std::memory_order_relaxed); }
  std::string maxmemory_policy() const;
  // Read by the admission checks of every command a replica serves, hence atomics.
  bool replica_read_only() const { return replica_read_only_.load(std::memory_order_relaxed); }
  bool replica_serve_stale_data() const { return replica_serve_stale_data_.load(std::memory_order_relaxed); }
  bool stop_writes_on_bgsave_error() const { return stop_writes_on_bgsave_error_.load(std::memory_order_relaxed); }
  // Read at every accept (a new connection's socket options).
  int64_t tcp_keepalive() const { return tcp_keepalive_.load(std::memory_order_relaxed); }
  // The primary this server follows ("host port"; empty: none), as CONFIG GET replicaof and
  // CONFIG REWRITE show it; the server notes each change (Server::ReplicaOf / NoOne).
  void NoteReplicaOf(std::string host_port);
  const ServerOptions& startup() const { return startup_; }
  ServerOptions Snapshot() const;
  // Applies a CONFIG SET of a tls-* parameter (the server's TLS contexts, server/net/):
  // called with the options as they would become, under the registry's lock; an error
  // refuses the change and the previous contexts stay. Set once by the server at start.
  void SetTlsReconfigure(std::function<std::optional<std::string>(const ServerOptions&)> fn);

 private:
  struct Param {
    std::function<std::string(const ServerOptions&)> get;
    std::function<std::optional<std::string>(ServerOptions&, std::string_view)> set;  // null: immutable
    bool is_protected = false;
    // How a start-up directive sets it, when that differs from `set` (an immutable
    // parameter's only setter; a check deferred to the final value). Null: `set`.
    std::function<std::optional<std::string>(ServerOptions&, std::string_view)> at_start = nullptr;
  };
  void AddStartupParams();
  // tcp-*, replica-*, replicaof: the server's client sockets and its replication link
  // (config_link_params.cc).
  void AddLinkParams();
  void AddStoreParams();
  void AddTlsParams();
  // slowlog-*, latency-monitor-threshold, latency-tracking* (command_stats.h).
  void AddIntrospectionParams();

  mutable Mutex mu_;
  ServerOptions opts_ GUARDED_BY(mu_);
  const ServerOptions startup_;
  std::atomic<uint64_t> maxmemory_;
  std::atomic<uint64_t> proto_max_bulk_len_;
  std::atomic<uint64_t> client_query_buffer_limit_;
  std::atomic<bool> replica_read_only_;
  std::atomic<bool> replica_serve_stale_data_;
  std::atomic<int64_t> tcp_keepalive_;
  std::atomic<bool> stop_writes_on_bgsave_error_;
  std::map<std::string, Param> params_;
  std::optional<std::string> SetLocked(std::string_view name, std::string_view value, bool protected_allowed)
      REQUIRES(mu_);
  // Set once before the server serves (SetTlsReconfigure); called under mu_ by Set.
  std::function<std::optional<std::string>(const ServerOptions&)> tls_reconfigure_;
  // While SetAll runs (under mu_): tls-* setters only record their value.
  bool tls_deferred_ = false;
  std::string tls_touched_;  // the first tls-* parameter SetAll set
};

// Parses Redis's `save` parameter ("3600 1 300 100", or "" for none) into (seconds,
// changes) pairs; false when malformed (CONFIG SET's rules).
bool ParseSavePoints(std::string_view text, std::vector<std::pair<int64_t, int64_t>>* out);

// Script settings, read by the scripting engine on every script (atomics: CONFIG SET may
// run on any thread). lua-time-limit / busy-reply-threshold in ms.
std::atomic<int64_t>& LuaTimeLimitMs();
// lua-allow-undeclared-keys (default no): when yes, every script locks every shard whole,
// as numkeys 0 does, so scripts written for Redis that touch keys they did not declare
// still run atomically (at the price of concurrency).
std::atomic<bool>& LuaAllowUndeclaredKeys();

// tracking-table-max-keys (Redis 7.0's default 1000000; 0: no bound): the most keys the
// client-side caching tables remember, all shards together (server/tracking/).
std::atomic<uint64_t>& TrackingTableMaxKeys();

}  // namespace darter::server
