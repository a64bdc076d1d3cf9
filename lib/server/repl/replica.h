// ReplicaLink: this server as a replica of a Redis (or Darter) primary, speaking the
// PSYNC protocol (docs/replication.md; ../shared/docs/redis-replication-rdb.md).
//
// One link runs as a coroutine on shard thread 0: connect, handshake (AUTH, REPLCONF
// listening-port / capa eof / capa psync2), PSYNC; on +FULLRESYNC the RDB — `$<len>` or
// diskless `$EOF:<mark>` — streams through ShardedRdbLoader into the shards as it
// arrives; then the command stream runs through the ordinary dispatcher as the
// privileged master client (MULTI/EXEC blocks atomically). REPLCONF ACK goes out every
// second and on GETACK. When the link breaks it reconnects with backoff, forever, and
// asks for a partial resync from the last applied offset.
//
// Thread-safety: Start/Stop from any thread; everything else on shard thread 0.
#pragma once

#include <atomic>
#include <functional>
#include <deque>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "resp/request_parser.h"
#include "server/core/asio.h"
#include "server/core/stream.h"
#include "server/repl/journal_merge.h"

namespace darter::server {

class Server;
class Connection;
struct ReplicaFlow;  // replica_flows.cc
struct ReplicationSnapshot;

class ReplicaLink : public std::enable_shared_from_this<ReplicaLink> {
 public:
  ReplicaLink(Server& server, std::string host, int port);
  ~ReplicaLink();

  void Start();
  struct FlowRun;  // replica_flows.cc
  // Stops replicating; the data stays. Safe from any thread; idempotent.
  void Stop();
  // Server teardown, every shard loop stopped but none destroyed yet: drops the sockets
  // (the control link's on shard 0, each flow's on its own shard) while their loops
  // exist. The loops' coroutine frames, destroyed with them in shard order, may hold the
  // last reference to this link or a flow after the socket's loop is gone.
  void ReleaseIo();

  const std::string& host() const { return host_; }
  int port() const { return port_; }

  // FAILOVER (admin/failover_family.h): this server, a primary until now, hands over to
  // its replica at host:port. Called before Start: the first session asks
  // "PSYNC <replid> <offset + 1> FAILOVER" with this server's own history (over PSYNC,
  // never multi-flow), so the target becomes a primary and this server continues as
  // its replica, partially when the target had everything.
  void HandOver(std::string replid, int64_t offset);
  // kPending until the target answers that PSYNC: kAccepted (+CONTINUE or +FULLRESYNC),
  // or kRejected (an error reply; the link then stops). kNone for an ordinary link.
  enum class Handover { kNone, kPending, kAccepted, kRejected };
  Handover handover() const { return handover_.load(); }

 private:
  enum class SessionEnd { kRetry, kStopped };

  awaitable<void> Run();
  awaitable<SessionEnd> Session();
  awaitable<void> AckLoop();

  // Stream helpers (thread 0). Read* return false when the link failed.
  awaitable<bool> ReadMore();
  awaitable<bool> ReadLine(std::string* line, bool skip_keepalives);
  // Queues a command for the link's writer; false when there is no open link. A write
  // failure fails the link (so a pending read ends too).
  bool SendCommand(std::initializer_list<std::string_view> argv);
  bool SendAck();
  // Opens the link's stream to host:port — TCP, then the TLS handshake under
  // tls-replication — bounded by the connect timeout. Returns an error text or "".
  awaitable<std::string> Connect();
  void Fail(const std::string& why);
  // A stopped link may still be unwinding while its successor runs: only the current
  // link speaks for the server's replication state.
  template <typename Fn>
  void UpdateState(Fn fn) {
    if (!stop_.load()) UpdateServerState([&](ReplicationSnapshot& s) { fn(s); });
  }
  void UpdateServerState(const std::function<void(ReplicationSnapshot&)>& fn);

  awaitable<bool> FullSync(const std::string& replid, int64_t offset);
  // Multi-flow replication from a Darter primary (replica_flows.cc): the handshake's
  // reply array has been read.
  awaitable<SessionEnd> MultiFlowSession(std::string master_id, std::string sync_id, unsigned flow_count);
  // One flow of that session: connect, DARTER FLOW, then frames until the run fails.
  // Runs on flow->ctx, reaching the link's state on thread 0 through `to_thread0`.
  static awaitable<void> RunFlow(std::shared_ptr<ReplicaLink> link, Server& server, std::shared_ptr<FlowRun> run,
                                 std::shared_ptr<ReplicaFlow> flow, std::string host, int port, std::string master_id,
                                 std::string sync_id, int64_t lsn, std::function<void(std::function<void()>)> to_thread0);
  awaitable<void> ApplyMerged(FlowRun& run);
  awaitable<bool> StreamCommands();
  awaitable<bool> ApplyChunk();
  // Runs the plain commands ApplyChunk gathered (pending_) as one pipeline, then counts
  // their bytes as applied and proxies them, in stream order.
  awaitable<void> FlushPending();
  awaitable<void> FlushAllDatabases();
  awaitable<void> ApplyBlock();
  void ReportRefused(const std::string& name, const std::string& error);

  Server& server_;
  std::string host_;
  int port_;
  std::atomic<bool> stop_{false};
  std::atomic<Handover> handover_{Handover::kNone};
  // The link to the primary and its outbox. Writes go through one writer coroutine, never
  // beside it: a TLS stream must not see a second write, nor a synchronous one, while
  // the link's read is pending (AckLoop and GETACK answer while StreamCommands reads).
  struct LinkIo {
    LinkIo(asio::ip::tcp::socket s, std::shared_ptr<asio::ssl::context> tls) : stream(std::move(s), std::move(tls)) {}
    net::Stream stream;
    std::string out;
    bool writing = false;
  };
  void StartWriter();
  std::shared_ptr<LinkIo> io_;
  std::shared_ptr<Connection> master_client_;
  std::string in_;
  size_t in_pos_ = 0;
  resp::RequestParser parser_;
  std::vector<std::string_view> args_;
  // Plain commands of the current chunk not yet applied: their arguments (views into
  // in_, or into pending_owned_ for inline commands, whose views the parser reuses) and
  // their raw bytes. A pipeline squashes runs of single-key commands per shard, so the
  // stream is applied at the pace of a pipelining client rather than one hop per command.
  std::vector<std::vector<std::string_view>> pending_;
  std::vector<std::string_view> pending_raw_;
  std::deque<std::string> pending_owned_;
  // Replication position: the primary's id and the offset of the last byte applied.
  std::string master_replid_;
  int64_t applied_offset_ = -1;
  unsigned current_db_ = 0;
  bool diskless_ = false;
  bool connected_ = false;
  bool link_was_up_ = false;  // the session reached streaming (resets the backoff)
  int64_t last_io_ms_ = 0;
  // A MULTI block from the stream, applied at EXEC.
  bool in_multi_ = false;
  std::vector<std::vector<std::string>> block_;
  int64_t block_bytes_ = 0;
  std::string block_raw_;  // the block's bytes as received, proxied at EXEC
  // Multi-flow state kept across reconnects to the same primary, so each flow resumes
  // where it stopped: entries received but not yet applied wait in the merger, and
  // flow_lsn_[i] is the last LSN received on flow i.
  std::unique_ptr<JournalMerger> merger_;
  std::vector<uint64_t> flow_lsn_;
  std::shared_ptr<FlowRun> current_run_;
  uint64_t refused_count_ = 0;
  std::unordered_set<std::string> refused_names_;
};

}  // namespace darter::server
