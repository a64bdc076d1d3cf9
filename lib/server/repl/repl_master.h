// ReplicationMaster: this server as a PSYNC primary (docs/replication.md, "Darter as a
// primary"). It turns the shards' journals (journal.h) into ONE ordered command stream
// with Redis-style byte offsets, keeps the last repl-backlog-size bytes of it for partial
// resyncs, and feeds every attached replica (stock redis-server, or a Darter replica,
// which speaks the same protocol).
//
// The merge: each shard's entries stay in that shard's order. A multi-shard transaction
// (txid, tx_shards) is held until every participating shard's part is complete (its
// kTxEnd entry), then emitted as MULTI ... EXEC (one command alone needs no wrapper);
// shards that took part emit nothing after it until it is out. Every shard runs
// transactions in txid order, so this never waits in a cycle. Identical multi-key
// commands recorded by several shards (MSET, DEL, FLUSHALL as sent) are emitted once.
// A full sync's snapshot leaves a kSyncPoint on every shard; the stream offset where all
// of them meet is the FULLRESYNC offset, and the replica's feed attaches right there.
//
// A PSYNC replica of another server (Redis's chained replica) does not re-encode: its
// stream IS its primary's, proxied byte for byte as it applies it (AppendUpstream), with
// the primary's replid and offsets, so everything below shares one offset space. The
// journal merge then only serves the sync points of full syncs; its commands are dropped.
//
// Threads: the merge runs on shard thread 0. The stream (backlog, offset, replid, the
// feeds' pending bytes) is behind mu_, so PSYNC, WAIT, INFO and ROLE may run anywhere.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/core/asio.h"
#include "server/repl/journal.h"
#include "server/repl/journal_merge.h"
#include "server/core/output_limits.h"
#include "server/repl/repl_flow_master.h"
#include "server/core/replication_state.h"
#include "store/thread_annotations.h"

namespace darter::store {
class CommandTable;
}

namespace darter::server {

class Server;
class Connection;

// One attached replica. Shared by the master (which appends stream bytes) and the
// replica's connection coroutine (which writes them out and reads ACKs).
struct ReplicaFeed {
  enum class State { kWaitBgsave, kSendBulk, kOnline };
  uint64_t conn_id = 0;
  std::string ip;
  int listening_port = 0;
  asio::io_context* ctx = nullptr;  // the connection's thread

  std::atomic<State> state{State::kWaitBgsave};
  std::atomic<int64_t> ack_offset{0};
  std::atomic<int64_t> ack_time_ms{0};
  std::atomic<bool> closed{false};

  // Stream bytes not yet written, from offset start_offset + 1 on.
  Mutex mu;
  std::string pending GUARDED_BY(mu);
  int64_t start_offset GUARDED_BY(mu) = -1;  // -1 until attached to the stream
  bool notified GUARDED_BY(mu) = false;
  bool overflow GUARDED_BY(mu) = false;  // client-output-buffer-limit (replica class) passed: drop it
  OutputLimitTracker limit GUARDED_BY(mu);

  // The buffer the writer has taken out of `pending` (capacity), for INFO's
  // mem_not_counted_for_evict.
  std::atomic<size_t> writing_bytes{0};
  // What this feed has added to EvictionSettings::replication_buffers: pending's capacity
  // plus writing_bytes as of the last Reaccount. Eviction reads that sum on every check,
  // so it must follow each change at once (a timer's refresh let a burst that outran a
  // replica look like data, and the keys were evicted for it).
  int64_t accounted GUARDED_BY(mu) = 0;
  // Brings the global sum up to date with this feed's buffers. REQUIRES: mu held.
  void Reaccount() REQUIRES(mu);
  // Appends stream bytes to `pending`, counting a growth of its buffer before it happens.
  // REQUIRES: mu held; Reaccount after.
  void Append(std::string_view bytes) REQUIRES(mu);
  // Takes this feed out of the sum (it left the stream). REQUIRES: mu held.
  void Unaccount() REQUIRES(mu);

  // Connection thread only: the writer waits on it; a wake cancels it.
  asio::steady_timer* timer = nullptr;
};

// A mutual exclusion for coroutines of one thread (shard thread 0): the PSYNC link holds
// it while it applies a chunk of its primary's stream, a full sync of a sub-replica while
// it takes its snapshot, so the snapshot sees the data exactly at a proxied offset.
class ApplyGate {
 public:
  awaitable<void> Lock();
  void Unlock();

 private:
  bool held_ = false;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters_;
};

class ReplicationMaster {
 public:
  explicit ReplicationMaster(Server& server);
  ~ReplicationMaster();

  // REPLCONF options a connection sent before PSYNC (listening-port, ip-address).
  void NoteReplconf(uint64_t conn_id, int port, const std::string& ip);
  // What NoteReplconf recorded for `conn_id`: (listening port or 0, ip or "").
  std::pair<int, std::string> NotedReplconf(uint64_t conn_id);

  // PSYNC/SYNC: serves `conn` as a replica until the link ends. On the connection's
  // thread; the connection reads nothing else meanwhile. `psync` false for plain SYNC.
  awaitable<void> ServeReplica(Connection& conn, const std::string& replid, int64_t offset, bool psync);

  // WAIT: the number of replicas that acknowledged everything written so far, waiting
  // up to timeout_ms (0: forever) for `wanted` of them.
  awaitable<int64_t> Wait(int64_t wanted, int64_t timeout_ms);

  // A new history (this server replaced its dataset from its own primary): every feed is
  // dropped and the replid changes, so sub-replicas must full sync. `upstream`: the PSYNC
  // link that is loading the new dataset; the stream will be its primary's (StartUpstream).
  void NewHistory(const void* upstream = nullptr);
  // DEBUG CHANGE-REPL-ID, as Redis 7.0: a fresh replid, replid2 cleared (zeros, second
  // offset -1). The stream, its offset and the attached replicas carry on; a replica that
  // reconnects with the old id must full sync. A testing aid for the replication code.
  void ChangeReplicationId();

  // The PSYNC link `owner` (thread 0) applied its primary's stream up to `offset` of
  // history `replid` after a full sync; from now on the stream is the primary's bytes.
  void StartUpstream(const void* owner, const std::string& replid, int64_t offset, unsigned db);
  // +CONTINUE from the primary: a new id keeps the offsets (the old id becomes replid2,
  // sub-replicas reconnect to learn it, as Redis does).
  void ContinueUpstream(const void* owner, const std::string& replid, int64_t offset);
  // Bytes of the primary's stream the link applied; `db` is the stream's db after them.
  void AppendUpstream(const void* owner, std::string_view bytes, unsigned db);
  // The link stopped (REPLICAOF NO ONE / another primary): a new id, the primary's id and
  // offset kept as replid2 / second_repl_offset; what the shards journal from here on is
  // the stream. Any thread.
  void EndUpstream(const void* owner);
  bool proxying();
  ApplyGate& apply_gate() { return gate_; }

  // INFO replication, from connected_slaves down to repl_backlog_histlen: this server's
  // stream (its primary's ids and offsets while it proxies them).
  std::string InfoFields();
  std::string SyncStats();
  // ROLE for a primary.
  void RoleReply(resp::ReplyBuilder& rb);
  std::string replid();
  int64_t offset();
  // The id of this server's journal history, which multi-flow replicas follow (its LSNs
  // are this server's own, whatever the PSYNC stream proxies).
  std::string journal_id();
  // Multi-flow replicas (Darter replicas of this server).
  FlowMaster& flows() { return *flows_; }
  // Each shard's last journal LSN (zeros before the first replica turned the journal on).
  std::vector<uint64_t> JournalLsns();
  // Replicas' output buffers, part of mem_not_counted_for_evict (evicting keys would
  // not shrink them): the stream bytes not yet sent. As in Redis, the PSYNC backlog
  // counts against maxmemory. (The journal rings report their own bytes: eviction.h.)
  uint64_t ReplicationBufferBytes();
  // The PSYNC backlog's bytes (its buffer's capacity): MEMORY STATS replication.backlog.
  uint64_t BacklogBytes();
  void CountFullSync() { sync_full_++; }
  void CountPartialSync() { sync_partial_ok_++; }

  // FAILOVER (admin/failover_family.h). The state INFO shows as master_failover_state.
  void SetFailoverState(std::string_view state);
  // The PSYNC replicas: where they listen and what they acknowledged.
  struct PsyncReplica {
    std::string ip;
    int port = 0;
    bool online = false;
    int64_t ack_offset = 0;
  };
  std::vector<PsyncReplica> PsyncReplicas();
  // Multi-flow replicas as ROLE lists them: {ip, port, offset}.
  std::vector<std::array<std::string, 3>> FlowReplicas();
  // Merges what the shards journaled into the stream and returns its offset (what a
  // replica must acknowledge to hold everything written so far).
  awaitable<int64_t> MergedOffset();

 private:
  class StreamSink;

  // Thread 0.
  awaitable<void> EnableJournal();
  void Merge();
  void ScheduleMerge();
  void SchedulePing();
  // Under mu_: appends to the backlog and to every attached feed.
  void AppendToStreamLocked(std::string_view bytes) REQUIRES(mu_);
  void WakeLocked(const std::shared_ptr<ReplicaFeed>& feed) REQUIRES(feed->mu);
  void Detach(const std::shared_ptr<ReplicaFeed>& feed);

  // Under mu_: drops what the link's own writes left in the journal while the stream
  // proxies its primary (entries at or below the boundary of their shard).
  void SetDiscardLocked(bool all) REQUIRES(mu_);
  void CloseFeedsLocked() REQUIRES(mu_);

  Server& server_;
  Journal journal_;
  std::unique_ptr<FlowMaster> flows_;
  std::atomic<bool> journal_on_{false};
  std::atomic<int> journal_state_{0};
  std::atomic<uint64_t> next_sync_id_{0};
  asio::io_context& merge_ctx_;

  // Merge state (thread 0).
  JournalMerger merger_;
  std::vector<uint64_t> read_lsn_;
  int last_db_ = -1;
  std::unique_ptr<asio::steady_timer> ping_timer_;
  std::atomic<bool> merge_posted_{false};

  // The stream.
  Mutex mu_;
  std::string replid_ GUARDED_BY(mu_);
  std::string replid2_ GUARDED_BY(mu_) = std::string(40, '0');
  int64_t second_offset_ GUARDED_BY(mu_) = -1;
  std::string failover_state_ GUARDED_BY(mu_) = "no-failover";  // first offset replid2_ does not cover (+1 of its last)
  std::string journal_id_ GUARDED_BY(mu_);
  const void* upstream_ GUARDED_BY(mu_) = nullptr;  // the PSYNC link whose primary's stream this is
  unsigned upstream_db_ GUARDED_BY(mu_) = 0;
  bool select_next_ GUARDED_BY(mu_) = false;  // the next merged command goes out after a SELECT
  std::vector<uint64_t> discard_through_ GUARDED_BY(mu_);  // per shard; UINT64_MAX: everything
  int64_t offset_ GUARDED_BY(mu_) = 0;  // bytes ever emitted (master_repl_offset)
  std::string backlog_ GUARDED_BY(mu_);  // the last bytes, ending at offset_
  size_t backlog_limit_ GUARDED_BY(mu_) = 1 << 20;
  bool backlog_active_ GUARDED_BY(mu_) = false;
  std::vector<std::shared_ptr<ReplicaFeed>> feeds_ GUARDED_BY(mu_);           // every replica (INFO)
  std::map<uint64_t, std::shared_ptr<ReplicaFeed>> syncing_ GUARDED_BY(mu_);  // sync id -> feed awaiting its point
  std::map<uint64_t, std::pair<int, std::string>> replconf_ GUARDED_BY(mu_);  // conn id -> (port, ip)
  uint64_t gate_sync_ = 0;  // thread 0: the full sync holding gate_ until its sync point
  ApplyGate gate_;

  std::atomic<uint64_t> sync_full_{0}, sync_partial_ok_{0}, sync_partial_err_{0};
};

void RegisterReplicationMasterFamily(store::CommandTable& table);

}  // namespace darter::server
