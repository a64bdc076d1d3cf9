// FlowMaster: this server as a multi-flow primary for Darter replicas (docs/replication.md,
// "Darter to Darter"): one connection ("flow") per primary shard, each carrying that
// shard's snapshot and then that shard's journal, so full syncs serialize, compress and
// load in parallel, and a reconnecting replica resumes every flow from its own LSN.
//
// Protocol (the replica drives it; every step on the wire is a normal command):
//   control connection: REPLCONF listening-port <p>, REPLCONF capa darter
//       -> [master id, "SYNC<n>", flow count, protocol version, "none,lz4,zstd"]
//   flow i (new connection each): DARTER FLOW <master id> <SYNC<n>> <i> [<lsn>]
//       -> +FULL, or +PARTIAL when <lsn> is still in shard i's journal
//   control: DARTER SYNC <SYNC<n>> [none|lz4|zstd] -> +OK once every shard's snapshot
//       point is taken (one cut across all shards); then each flow carries its shard's
//       RDB, an 'S' frame with the LSN the snapshot ends at, and the journal after it
//   or, when every flow answered PARTIAL: DARTER STARTSTABLE <SYNC<n>> -> +OK; each flow
//       carries its journal after the replica's LSN
//   each flow, replica -> primary: REPLCONF ACK <lsn applied through> (no reply)
// Frames on a flow: flow_frame.h. A session ends when any of its flows closes; its other
// flows are closed with it.
//
// Thread-safety: sessions live behind mu_; a flow's coroutine runs on its connection's
// thread; the journal wakes flows from shard threads.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "server/core/asio.h"
#include "server/repl/flow_frame.h"
#include "server/repl/journal.h"
#include "store/thread_annotations.h"

namespace darter::server {

class Server;
class Connection;
class ShardSnapshots;

// 2: journal entries carry JournalEntry::ran_here. Both sides must speak the same one.
constexpr int kFlowProtocolVersion = 2;

// One flow: shared by the session (which feeds the snapshot's chunks) and the flow
// connection's coroutine (which writes frames and reads ACKs).
struct FlowLink : std::enable_shared_from_this<FlowLink> {
  unsigned shard = 0;
  uint64_t reader_id = 0;           // its pin on the shard's journal
  asio::io_context* ctx = nullptr;  // the connection's thread
  asio::steady_timer* timer = nullptr;  // that thread only: the writer's wait; a wake cancels it
  std::atomic<bool> closed{false};
  std::atomic<uint64_t> acked_lsn{0};
  std::atomic<int64_t> ack_time_ms{0};
  std::atomic<bool> stable{false};  // the snapshot (if any) is sent: journal only from here
  int64_t resume_lsn = -1;          // DARTER FLOW's LSN, -1: none
  bool partial_ok = false;

  Mutex mu;  // the snapshot hand-over below
  // Snapshot chunks queued for the writer; their bytes are in mem_not_counted_for_evict
  // from the moment they are queued until the writer takes them (or the link goes).
  std::deque<std::string> chunks GUARDED_BY(mu);
  size_t chunk_bytes GUARDED_BY(mu) = 0;
  bool snapshot_done GUARDED_BY(mu) = false;
  bool snapshot_ok GUARDED_BY(mu) = true;
  std::string snapshot_error GUARDED_BY(mu);
  uint64_t snapshot_keys GUARDED_BY(mu) = 0;
  uint64_t start_lsn GUARDED_BY(mu) = 0;  // the journal LSN the snapshot ends at
  // Flow 0 only: the function libraries' sources at the cut (function changes run on
  // shard 0's thread, so they match shard 0's journal position).
  std::vector<std::string> functions GUARDED_BY(mu);
  bool notified GUARDED_BY(mu) = false;

  void Wake();
  ~FlowLink();
};

struct FlowSession {
  enum class State { kPreparation, kFullSync, kStableSync };
  uint64_t id = 0;
  std::string sync_id;  // "SYNC<id>"
  std::string ip;
  int listening_port = 0;
  int64_t created_ms = 0;
  std::atomic<State> state{State::kPreparation};
  std::atomic<bool> cancelled{false};
  FlowCompression compression = FlowCompression::kNone;
  std::vector<std::shared_ptr<FlowLink>> flows;  // under FlowMaster::mu_; null until connected
  std::shared_ptr<ShardSnapshots> snapshots;

  void Cancel();
};

// What FlowMaster needs from the server's replication state, given when it is built,
// so that it depends on no more of it (the PSYNC side owns the FlowMaster).
struct FlowMasterHooks {
  // Starts the shards' journals (idempotent; waits until they record).
  std::function<awaitable<void>()> enable_journal;
  // The id of the journal's history: a flow naming another id cannot resume.
  std::function<std::string()> journal_id;
  // Counted in INFO stats (sync_full / sync_partial_ok).
  std::function<void()> on_full_sync;
  std::function<void()> on_partial_sync;
};

class FlowMaster {
 public:
  FlowMaster(Server& server, Journal& journal, FlowMasterHooks hooks);

  // REPLCONF capa darter: a new session; replies the handshake array.
  void Handshake(resp::ReplyBuilder& rb, const std::string& master_id, const std::string& ip, int port);
  // DARTER FLOW: binds `conn` as flow `flow` of a session and serves it until it ends.
  // Replies (+FULL/+PARTIAL or an error) through rb before the stream starts.
  awaitable<void> ServeFlow(Connection& conn, resp::ReplyBuilder& rb, std::string master_id, std::string sync_id,
                            int64_t flow, int64_t lsn);
  // DARTER SYNC / DARTER STARTSTABLE on the control connection.
  awaitable<void> Sync(resp::ReplyBuilder& rb, std::string sync_id, FlowCompression compression);
  void StartStable(resp::ReplyBuilder& rb, const std::string& sync_id);

  // Shard thread: shard `shard`'s journal has new entries.
  void WakeShard(unsigned shard);
  // Ends every session (a new history: the replicas must full sync).
  void CancelAll();

  // WAIT: sessions in stable sync that applied every shard's journal up to `target`.
  int64_t CountAcked(const std::vector<uint64_t>& target);
  size_t session_count();
  // INFO's slaveN lines, numbered from `first`; ROLE's replica triples.
  std::string InfoLines(size_t first);
  void RoleEntries(std::vector<std::array<std::string, 3>>* out);

 private:
  std::shared_ptr<FlowSession> Find(const std::string& sync_id);
  void Remove(const std::shared_ptr<FlowSession>& s);
  awaitable<void> StreamFlow(Connection& conn, std::shared_ptr<FlowSession> s, std::shared_ptr<FlowLink> f);

  Server& server_;
  Journal& journal_;
  FlowMasterHooks hooks_;
  Mutex mu_;
  uint64_t next_id_ GUARDED_BY(mu_) = 1;
  std::atomic<uint64_t> next_reader_{1};
  std::vector<std::shared_ptr<FlowSession>> sessions_ GUARDED_BY(mu_);
};

}  // namespace darter::server
