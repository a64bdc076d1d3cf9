// Target: the Darter that receives the data — either the bundled server started in
// this process (the default: darter::server::Server on --port, running on its own
// threads) or a darter-server already running elsewhere (--target). Both are driven
// the same way, over RESP (REPLICAOF, INFO replication, SAVE), so one code path serves
// both; the embedded one additionally exposes its ReplicationSnapshot directly.
//
// Thread-safety: requires external synchronization (the migration's main thread).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "migrate/redis_conn.h"
#include "migrate/source_uri.h"
#include "server/core/config.h"

namespace darter::server {
class Server;
}

namespace darter::migrate {

// The replica side of replication as INFO replication (and INFO stats) show it.
struct ReplStatus {
  bool is_replica = false;
  bool link_up = false;
  bool sync_in_progress = false;
  int64_t sync_total_bytes = -1;
  int64_t sync_read_bytes = 0;
  int64_t sync_keys = 0;
  int64_t last_sync_bytes = 0;  // master_sync_last_bytes: the RDB size of the last full sync
  int64_t offset = 0;  // slave_repl_offset (replica) or master_repl_offset (primary)
  std::string master_host;  // while a replica
  int master_port = 0;
  int64_t full_syncs = 0;
  int64_t partial_syncs = 0;
  std::string last_error;
  bool ok = false;  // false: INFO could not be read (see error)
  std::string error;
};

// Fills the replica-link TLS fields of the embedded server's options from the source's
// settings. With no CA given, the link trusts what darter-migrate trusts: OpenSSL's
// default CA file and directory (the system store).
void EmbeddedReplicaTls(const TlsSettings& tls, server::ServerOptions* options);

class Target {
 public:
  // Starts the bundled server with `options` (port 0: a free port). Logs go to
  // options.logfile (the caller chooses; never the terminal the bar is drawn on).
  static std::unique_ptr<Target> StartEmbedded(const server::ServerOptions& options, std::string* error);
  // Connects to a running darter-server.
  static std::unique_ptr<Target> ConnectRemote(const SourceUri& address, std::string* error);
  ~Target();

  bool embedded() const { return server_ != nullptr; }
  const std::string& host() const { return address_.host; }
  int port() const { return address_.port; }
  std::string Describe() const;
  RedisConn& conn() { return conn_; }
  // A second connection (the verifier's), authenticated like the first.
  std::unique_ptr<RedisConn> NewConn(std::string* error) const;

  // Makes the target a replica of host:port with these credentials, its link speaking
  // TLS as `tls` says (a running target gets the settings through CONFIG SET
  // tls-replication, tls-ca-cert-file, ...; the embedded one got them in its options:
  // see EmbeddedReplicaTls). Returns an error, or nullopt; *already is set when it was
  // already replicating from there.
  std::optional<std::string> ReplicaOf(const std::string& host, int port, const std::string& user,
                                       const std::string& password, const TlsSettings& tls, bool* already);
  std::optional<std::string> ReplicaOfNoOne();
  ReplStatus Status();
  // Keys over every database (INFO keyspace), or -1 when INFO cannot be read; *per_db
  // lists the non-empty ones ("db0=12 db3=4").
  int64_t KeyCount(std::string* per_db = nullptr);
  // SAVE on the target; *path is where the file went (CONFIG GET dir + dbfilename).
  std::optional<std::string> Save(std::string* path);
  // Stops the embedded server (no-op for a remote target). Idempotent.
  void Shutdown();

 private:
  Target() = default;

  SourceUri address_;
  RedisConn conn_;
  std::unique_ptr<server::Server> server_;
  std::thread server_thread_;
};

}  // namespace darter::migrate
