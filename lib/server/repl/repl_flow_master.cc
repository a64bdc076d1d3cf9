#include "server/repl/repl_flow_master.h"

#include <algorithm>

#include "rdb/writer.h"
#include "server/core/connection.h"
#include "server/core/eviction.h"
#include "server/core/log.h"
#include "server/repl/replica_acks.h"
#include "server/core/server.h"
#include "server/persist/shard_snapshots.h"
#include "server/script/function_registry.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

constexpr size_t kMaxQueuedChunkBytes = 8 << 20;  // a shard's walk pauses beyond this
// Journal bytes a flow copies out of the ring per step: the copies exist beside the ring
// until the step's output is written and the ring advances.
constexpr size_t kMaxJournalReadBytes = 1 << 20;
// Journal written during a full sync waits for the snapshot; like Redis's replica
// output buffer limit, past this the replica is dropped rather than the primary's memory.
constexpr size_t kMaxPendingJournal = 256ull << 20;
constexpr int64_t kHeartbeatMs = 1000;
constexpr int64_t kPreparationTimeoutMs = 60 * 1000;

const char* StateName(FlowSession::State s) {
  switch (s) {
    case FlowSession::State::kPreparation:
      return "preparation";
    case FlowSession::State::kFullSync:
      return "full_sync";
    case FlowSession::State::kStableSync:
      return "stable_sync";
  }
  return "preparation";
}

const char* RedisStateName(FlowSession::State s) {
  switch (s) {
    case FlowSession::State::kPreparation:
      return "wait_bgsave";
    case FlowSession::State::kFullSync:
      return "send_bulk";
    case FlowSession::State::kStableSync:
      return "online";
  }
  return "wait_bgsave";
}

// The flow's RDB goes through the encoder into the bytes to send.
class FlowRdbSink : public rdb::ByteSink {
 public:
  FlowRdbSink(FlowEncoder& enc, std::string& out) : enc_(enc), out_(out) {}
  rdb::Status Write(std::string_view bytes) override {
    enc_.AppendRdb(&out_, bytes);
    return rdb::Status();
  }

 private:
  FlowEncoder& enc_;
  std::string& out_;
};

awaitable<void> SleepOn(asio::steady_timer& timer, int64_t ms) {
  timer.expires_after(std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
}

}  // namespace

FlowLink::~FlowLink() {
  MutexLock lk(&mu);
  GetEvictionSettings().replication_buffers.fetch_sub(static_cast<int64_t>(chunk_bytes), std::memory_order_relaxed);
}

void FlowLink::Wake() {
  {
    MutexLock lk(&mu);
    if (notified || !ctx) return;
    notified = true;
  }
  // The timer pointer is read on its own thread, where it is set and cleared.
  asio::post(*ctx, [self = shared_from_this()] {
    if (self->timer) self->timer->cancel();
  });
}

void FlowSession::Cancel() {
  cancelled = true;
  if (snapshots) snapshots->Abort();
}

FlowMaster::FlowMaster(Server& server, Journal& journal, FlowMasterHooks hooks)
    : server_(server), journal_(journal), hooks_(std::move(hooks)) {}

void FlowMaster::Handshake(resp::ReplyBuilder& rb, const std::string& master_id, const std::string& ip, int port) {
  auto s = std::make_shared<FlowSession>();
  s->created_ms = store::UnixTimeMs();
  s->ip = ip;
  s->listening_port = port;
  s->flows.resize(server_.shards().size());
  {
    MutexLock lk(&mu_);
    // Sessions whose replica never connected its flows (it gave up) go.
    std::erase_if(sessions_, [&](const std::shared_ptr<FlowSession>& old) {
      bool stale = old->state.load() == FlowSession::State::kPreparation &&
                   s->created_ms - old->created_ms > kPreparationTimeoutMs;
      if (stale) old->Cancel();
      return stale;
    });
    s->id = next_id_++;
    s->sync_id = "SYNC" + std::to_string(s->id);
    sessions_.push_back(s);
  }
  rb.ArrayHeader(5);
  rb.SimpleString(master_id);
  rb.SimpleString(s->sync_id);
  rb.Integer(static_cast<int64_t>(s->flows.size()));
  rb.Integer(kFlowProtocolVersion);
  rb.SimpleString("none,lz4,zstd");
}

std::shared_ptr<FlowSession> FlowMaster::Find(const std::string& sync_id) {
  MutexLock lk(&mu_);
  for (auto& s : sessions_)
    if (s->sync_id == sync_id && !s->cancelled.load()) return s;
  return nullptr;
}

void FlowMaster::Remove(const std::shared_ptr<FlowSession>& s) {
  MutexLock lk(&mu_);
  std::erase(sessions_, s);
}

void FlowMaster::WakeShard(unsigned shard) {
  std::vector<std::shared_ptr<FlowLink>> wake;
  {
    MutexLock lk(&mu_);
    for (auto& s : sessions_)
      if (shard < s->flows.size() && s->flows[shard]) wake.push_back(s->flows[shard]);
  }
  for (auto& f : wake) f->Wake();
}

void FlowMaster::CancelAll() {
  std::vector<std::shared_ptr<FlowSession>> all;
  {
    MutexLock lk(&mu_);
    all.swap(sessions_);
  }
  for (auto& s : all) {
    s->Cancel();
    for (auto& f : s->flows)
      if (f) f->Wake();
  }
}

awaitable<void> FlowMaster::ServeFlow(Connection& conn, resp::ReplyBuilder& rb, std::string master_id,
                                      std::string sync_id, int64_t flow, int64_t lsn) {
  co_await hooks_.enable_journal();
  if (master_id != hooks_.journal_id()) {
    rb.Error("ERR bad master id");
    co_return;
  }
  std::shared_ptr<FlowSession> s = Find(sync_id);
  if (!s) {
    rb.Error("ERR syncid not found");
    co_return;
  }
  if (flow < 0 || flow >= static_cast<int64_t>(s->flows.size())) {
    rb.Error("ERR invalid flow id");
    co_return;
  }
  auto f = std::make_shared<FlowLink>();
  f->shard = static_cast<unsigned>(flow);
  f->reader_id = next_reader_.fetch_add(1);
  f->ctx = &server_.shards().at(conn.thread()).ctx();
  f->ack_time_ms = store::UnixTimeMs();
  if (lsn >= 0) {
    f->resume_lsn = lsn;
    // Pinned: the entries it resumes from stay in the journal until it has read them.
    f->partial_ok = journal_.shard(f->shard).Pin(f->reader_id, static_cast<uint64_t>(lsn));
  }
  {
    MutexLock lk(&mu_);
    if (s->flows[f->shard] || s->state.load() != FlowSession::State::kPreparation) {
      journal_.shard(f->shard).Unpin(f->reader_id);
      rb.Error("ERR invalid state");
      co_return;
    }
    s->flows[f->shard] = f;
  }
  conn.replica_feed = true;
  conn.name = "repl_flow_" + std::to_string(flow);
  std::string head = f->partial_ok ? "+PARTIAL\r\n" : "+FULL\r\n";
  boost::system::error_code ec;
  co_await asio::async_write(conn.stream(), asio::buffer(head), asio::redirect_error(use_awaitable, ec));
  if (!ec) co_await StreamFlow(conn, s, f);
  f->closed = true;
  journal_.shard(f->shard).Unpin(f->reader_id);
  // Any flow ending ends the session: its other flows cannot resume alone.
  if (!s->cancelled.load())
    LOG_NOTICE("replication: connection with multi-flow replica %s:%d lost (flow %u)", s->ip.c_str(),
               s->listening_port, f->shard);
  s->Cancel();
  for (auto& other : s->flows)
    if (other) other->Wake();
  Remove(s);
  conn.Close();
}

awaitable<void> FlowMaster::StreamFlow(Connection& conn, std::shared_ptr<FlowSession> s, std::shared_ptr<FlowLink> f) {
  std::shared_ptr<Connection> self = conn.shared_from_this();
  asio::steady_timer timer(*f->ctx);
  f->timer = &timer;
  struct ClearTimer {
    FlowLink* f;
    ~ClearTimer() { f->timer = nullptr; }
  } clear_timer{f.get()};
  FlowLink* fp = f.get();
  asio::co_spawn(*f->ctx,
                 ReadReplicaAcks(self, [f] { return f->closed.load(); },
                                 [fp](int64_t lsn) {
                                   fp->acked_lsn.store(static_cast<uint64_t>(std::max<int64_t>(lsn, 0)));
                                   fp->ack_time_ms.store(store::UnixTimeMs());
                                 },
                                 [f] {
                                   f->closed = true;
                                   f->Wake();
                                 }),
                 asio::detached);

  auto ended = [&] { return f->closed.load() || s->cancelled.load(); };
  while (!ended() && s->state.load() == FlowSession::State::kPreparation) co_await SleepOn(timer, 100);
  if (ended()) co_return;

  ShardJournal& journal = journal_.shard(f->shard);
  const bool full = s->state.load() == FlowSession::State::kFullSync;
  FlowEncoder enc(full ? s->compression : FlowCompression::kNone);
  std::string out;           // bytes to write next
  std::string held_journal;  // journal frames waiting for the snapshot's end
  FlowRdbSink sink(enc, out);
  std::vector<std::string> functions;
  if (full) {
    MutexLock lk(&f->mu);
    functions.swap(f->functions);
  }
  // FUNCTION2 records need an RDB 10 header; the records keep their version-9 encodings.
  rdb::WriterOptions wo;
  if (!functions.empty()) wo.rdb_version = 10;
  rdb::Writer writer(&sink, wo);
  uint64_t read_lsn;
  const int64_t started_ms = store::UnixTimeMs();
  if (full) {
    {
      MutexLock lk(&f->mu);
      read_lsn = f->start_lsn;
    }
    rdb::Status st = writer.WriteHeader();
    if (st.ok()) st = writer.WriteAux("redis-ver", "7.0.15");
    if (st.ok()) st = writer.WriteAux("redis-bits", "64");
    if (st.ok()) st = writer.WriteAux("ctime", std::to_string(store::UnixTimeMs() / 1000));
    if (st.ok()) st = writer.WriteAux("darter-shard", std::to_string(f->shard));
    for (const std::string& lib : functions)
      if (st.ok()) st = writer.WriteFunction(lib);
    if (!st.ok()) co_return;
  } else {
    read_lsn = static_cast<uint64_t>(f->resume_lsn);
    f->stable = true;
    LOG_NOTICE("replication: flow %u of replica %s:%d resumes after LSN %llu", f->shard, s->ip.c_str(),
               s->listening_port, static_cast<unsigned long long>(read_lsn));
  }
  f->acked_lsn = read_lsn;

  std::vector<JournalEntry> entries;
  std::deque<std::string> chunks;
  // What this flow holds for its replica (snapshot chunks, held journal, the output being
  // written) is left out of the eviction figure, as Redis leaves out replicas' output
  // buffers; it is reported before the journal ring lets go of the same entries.
  ReplicationBufferShare share;
  auto held_bytes = [&] {
    size_t n = out.capacity() + held_journal.capacity();
    for (const std::string& c : chunks) n += c.capacity();
    return static_cast<int64_t>(n);
  };
  int64_t last_write_ms = store::UnixTimeMs();
  boost::system::error_code ec;
  while (!ended()) {
    bool snapshot_done = false, snapshot_ok = true;
    std::string snapshot_error;
    uint64_t keys = 0;
    size_t taken_bytes = 0;
    {
      MutexLock lk(&f->mu);
      f->notified = false;
      chunks.swap(f->chunks);
      taken_bytes = f->chunk_bytes;
      f->chunk_bytes = 0;
      snapshot_done = f->snapshot_done;
      snapshot_ok = f->snapshot_ok;
      snapshot_error = f->snapshot_error;
      keys = f->snapshot_keys;
    }
    // The taken chunks are this flow's share now (counted before the queue's count goes).
    share.Set(held_bytes());
    GetEvictionSettings().replication_buffers.fetch_sub(static_cast<int64_t>(taken_bytes), std::memory_order_relaxed);
    // The journal: everything after read_lsn, in order, or the flow cannot go on.
    entries.clear();
    journal.ReadAfter(read_lsn, &entries, kMaxJournalReadBytes);
    if (!entries.empty() && entries.front().lsn != read_lsn + 1) {
      LOG_WARNING("replication: flow %u of replica %s:%d fell behind the journal (needs LSN %llu, oldest kept %llu)",
                  f->shard, s->ip.c_str(), s->listening_port, static_cast<unsigned long long>(read_lsn + 1),
                  static_cast<unsigned long long>(entries.front().lsn));
      co_return;
    }
    const bool stable = f->stable.load();
    for (auto& e : entries) {
      enc.AppendJournal(stable ? &out : &held_journal, e);
      read_lsn = e.lsn;
    }
    share.Set(held_bytes());
    if (!entries.empty()) journal.Advance(f->reader_id, read_lsn);
    if (held_journal.size() > kMaxPendingJournal) {
      LOG_WARNING("replication: flow %u of replica %s:%d dropped: %zu bytes of writes wait for its snapshot",
                  f->shard, s->ip.c_str(), s->listening_port, held_journal.size());
      co_return;
    }
    if (!stable) {
      for (auto& c : chunks) {
        if (!writer.WriteRecords(c).ok()) co_return;
      }
      chunks.clear();
      if (snapshot_done) {
        if (!snapshot_ok) {
          LOG_WARNING("replication: snapshot of shard %u for replica %s:%d failed: %s", f->shard, s->ip.c_str(),
                      s->listening_port, snapshot_error.c_str());
          co_return;
        }
        if (!writer.Finish().ok()) co_return;
        uint64_t start_lsn;
        {
          MutexLock lk(&f->mu);
          start_lsn = f->start_lsn;
        }
        enc.AppendSnapshotEnd(&out, start_lsn, keys);
        out += held_journal;
        std::string().swap(held_journal);
        f->stable = true;
        LOG_NOTICE("replication: flow %u of replica %s:%d sent its snapshot (%llu keys, %llu bytes, %llu on the wire, "
                   "%s) in %lld ms",
                   f->shard, s->ip.c_str(), s->listening_port, static_cast<unsigned long long>(keys),
                   static_cast<unsigned long long>(enc.raw_bytes()), static_cast<unsigned long long>(enc.wire_bytes()),
                   FlowCompressionName(s->compression), static_cast<long long>(store::UnixTimeMs() - started_ms));
        bool all = true;
        {
          MutexLock lk(&mu_);
          for (auto& other : s->flows) all = all && other && other->stable.load();
        }
        if (all) s->state = FlowSession::State::kStableSync;
      }
    }
    const int64_t now = store::UnixTimeMs();
    if (out.empty()) {
      if (f->stable.load() && now - last_write_ms >= kHeartbeatMs) {
        enc.AppendHeartbeat(&out, read_lsn);
      } else {
        co_await SleepOn(timer, kHeartbeatMs);
        continue;
      }
    }
    share.Set(held_bytes());
    co_await asio::async_write(conn.stream(), asio::buffer(out), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return;
    server_.thread_stats(conn.thread()).net_output_bytes += out.size();
    last_write_ms = store::UnixTimeMs();
    out.clear();
    // A burst leaves a large buffer behind: give it back rather than keep it idle.
    if (out.capacity() > (1u << 20)) std::string().swap(out);
    share.Set(held_bytes());
  }
}

awaitable<void> FlowMaster::Sync(resp::ReplyBuilder& rb, std::string sync_id, FlowCompression compression) {
  std::shared_ptr<FlowSession> s = Find(sync_id);
  if (!s) {
    rb.Error("ERR syncid not found");
    co_return;
  }
  std::vector<std::shared_ptr<FlowLink>> flows;
  {
    MutexLock lk(&mu_);
    flows = s->flows;
  }
  bool all = std::all_of(flows.begin(), flows.end(), [](auto& f) { return f != nullptr; });
  if (!all || s->state.load() != FlowSession::State::kPreparation) {
    rb.Error("ERR invalid state");
    co_return;
  }
  co_await hooks_.enable_journal();
  s->compression = compression;
  Journal* journal = &journal_;
  ShardSnapshotsSpec spec;
  spec.at_point = [flows, journal](store::Shard& shard) {
    FlowLink& f = *flows[shard.index()];
    MutexLock lk(&f.mu);
    ShardJournal& j = journal->shard(shard.index());
    f.start_lsn = j.last_lsn();
    if (shard.index() == 0) {
      f.functions.clear();
      for (const LibraryPtr& lib : FunctionRegistry::Global().Libraries()) f.functions.push_back(lib->code);
    }
    // Everything written after the cut stays in the journal until the flow has read it.
    j.Pin(f.reader_id, f.start_lsn);
  };
  spec.chunk = [flows](unsigned i, std::string chunk) {
    FlowLink& f = *flows[i];
    {
      MutexLock lk(&f.mu);
      f.chunk_bytes += chunk.size();
      GetEvictionSettings().replication_buffers.fetch_add(static_cast<int64_t>(chunk.size()),
                                                          std::memory_order_relaxed);
      f.chunks.push_back(std::move(chunk));
    }
    f.Wake();
  };
  spec.paused = [flows](unsigned i) {
    FlowLink& f = *flows[i];
    MutexLock lk(&f.mu);
    return f.chunk_bytes > kMaxQueuedChunkBytes && !f.closed.load();
  };
  spec.shard_done = [flows](unsigned i, const rdb::Status& st, uint64_t keys) {
    FlowLink& f = *flows[i];
    {
      MutexLock lk(&f.mu);
      f.snapshot_done = true;
      f.snapshot_ok = st.ok();
      f.snapshot_error = st.message();
      f.snapshot_keys = keys;
    }
    f.Wake();
  };
  LOG_NOTICE("replication: full sync of %zu flows for replica %s:%d (%s)", flows.size(), s->ip.c_str(),
             s->listening_port, FlowCompressionName(compression));
  s->snapshots = co_await StartShardSnapshots(server_, std::move(spec));
  if (s->cancelled.load()) s->snapshots->Abort();
  s->state = FlowSession::State::kFullSync;
  hooks_.on_full_sync();
  for (auto& f : flows) f->Wake();
  rb.Ok();
}

void FlowMaster::StartStable(resp::ReplyBuilder& rb, const std::string& sync_id) {
  std::shared_ptr<FlowSession> s = Find(sync_id);
  if (!s) {
    rb.Error("ERR syncid not found");
    return;
  }
  std::vector<std::shared_ptr<FlowLink>> flows;
  {
    MutexLock lk(&mu_);
    flows = s->flows;
  }
  bool all = std::all_of(flows.begin(), flows.end(), [](auto& f) { return f && f->partial_ok; });
  if (!all || s->state.load() != FlowSession::State::kPreparation) {
    rb.Error("ERR invalid state");
    return;
  }
  s->state = FlowSession::State::kStableSync;
  hooks_.on_partial_sync();
  for (auto& f : flows) f->Wake();
  rb.Ok();
}

int64_t FlowMaster::CountAcked(const std::vector<uint64_t>& target) {
  MutexLock lk(&mu_);
  int64_t n = 0;
  for (auto& s : sessions_) {
    if (s->state.load() != FlowSession::State::kStableSync || s->cancelled.load()) continue;
    bool ok = true;
    for (size_t i = 0; i < s->flows.size() && ok; ++i)
      ok = s->flows[i] && s->flows[i]->acked_lsn.load() >= (i < target.size() ? target[i] : 0);
    if (ok) ++n;
  }
  return n;
}

size_t FlowMaster::session_count() {
  MutexLock lk(&mu_);
  size_t n = 0;
  for (auto& s : sessions_)
    if (!s->cancelled.load()) ++n;
  return n;
}

std::string FlowMaster::InfoLines(size_t first) {
  MutexLock lk(&mu_);
  const int64_t now = store::UnixTimeMs();
  std::string o;
  for (auto& s : sessions_) {
    if (s->cancelled.load()) continue;
    uint64_t offset = 0;
    int64_t oldest_ack = now;
    for (auto& f : s->flows) {
      if (!f) continue;
      offset += f->acked_lsn.load();
      oldest_ack = std::min(oldest_ack, f->ack_time_ms.load());
    }
    // state= keeps Redis's words (tools count "online" replicas); flow_state= has the
    // multi-flow session's own.
    o += "slave" + std::to_string(first++) + ":ip=" + s->ip + ",port=" + std::to_string(s->listening_port) +
         ",state=" + RedisStateName(s->state.load()) + ",offset=" + std::to_string(offset) +
         ",lag=" + std::to_string((now - oldest_ack) / 1000) + ",flow_state=" + StateName(s->state.load()) +
         ",flows=" + std::to_string(s->flows.size()) + "\r\n";
  }
  return o;
}

void FlowMaster::RoleEntries(std::vector<std::array<std::string, 3>>* out) {
  MutexLock lk(&mu_);
  for (auto& s : sessions_) {
    if (s->cancelled.load() || s->state.load() != FlowSession::State::kStableSync) continue;
    uint64_t offset = 0;
    for (auto& f : s->flows)
      if (f) offset += f->acked_lsn.load();
    out->push_back({s->ip, std::to_string(s->listening_port), std::to_string(offset)});
  }
}

}  // namespace darter::server
