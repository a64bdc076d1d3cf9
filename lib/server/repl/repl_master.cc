#include "server/repl/repl_master.h"

#include <algorithm>
#include <array>
#include <random>

#include "resp/reply_builder.h"
#include "resp/request_parser.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/eviction.h"
#include "server/repl/full_sync_rdb.h"
#include "server/core/log.h"
#include "server/repl/replica_acks.h"
#include "server/core/server.h"
#include "server/core/transaction.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

constexpr char kPing[] = "*1\r\n$4\r\nPING\r\n";
constexpr char kGetAck[] = "*3\r\n$8\r\nREPLCONF\r\n$6\r\nGETACK\r\n$1\r\n*\r\n";
constexpr char kMulti[] = "*1\r\n$5\r\nMULTI\r\n";
constexpr char kExec[] = "*1\r\n$4\r\nEXEC\r\n";

class RegisterJournalOp : public store::MultiShardOp {
 public:
  explicit RegisterJournalOp(Journal& journal) : journal_(journal) {}
  bool locks_whole_shards() const override { return true; }
  store::HopPlan FirstHop(unsigned) override { return {store::HopTarget::kAllShards}; }
  void RunHop(int, store::HopContext& h) override { journal_.Register(h.shard); }
  void Reply(resp::ReplyBuilder&) override {}

 private:
  Journal& journal_;
};

std::string RandomReplId() {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  static const char* kHex = "0123456789abcdef";
  std::string id(40, '0');
  for (auto& c : id) c = kHex[rng() & 15];
  return id;
}

std::string SelectCommand(unsigned db) {
  std::string out;
  std::string d = std::to_string(db);
  std::string_view argv[2] = {"SELECT", d};
  EncodeCommand(&out, std::span<const std::string_view>(argv, 2));
  return out;
}

const char* StateName(ReplicaFeed::State s) {
  switch (s) {
    case ReplicaFeed::State::kWaitBgsave:
      return "wait_bgsave";
    case ReplicaFeed::State::kSendBulk:
      return "send_bulk";
    case ReplicaFeed::State::kOnline:
      return "online";
  }
  return "online";
}

}  // namespace

awaitable<void> ApplyGate::Lock() {
  while (held_) {
    auto waiter = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor,
                                                       asio::steady_timer::time_point::max());
    waiters_.push_back(waiter);
    boost::system::error_code ec;
    co_await waiter->async_wait(asio::redirect_error(use_awaitable, ec));
  }
  held_ = true;
}

void ApplyGate::Unlock() {
  held_ = false;
  if (waiters_.empty()) return;
  waiters_.front()->cancel();
  waiters_.pop_front();
}

ReplicationMaster::ReplicationMaster(Server& server)
    : server_(server),
      merge_ctx_(server.shards().at(0).ctx()),
      merger_(server.shards().size()),
      replid_(server.run_id()),
      journal_id_(server.run_id()) {
  unsigned n = server.shards().size();
  read_lsn_.assign(n, 0);
  discard_through_.assign(n, 0);
  flows_ = std::make_unique<FlowMaster>(server, journal_,
                                        FlowMasterHooks{[this] { return EnableJournal(); }, [this] { return journal_id(); },
                                                        [this] { CountFullSync(); }, [this] { CountPartialSync(); }});
  journal_.Create(n, [this](unsigned shard) {
    ScheduleMerge();
    flows_->WakeShard(shard);
  });
}

ReplicationMaster::~ReplicationMaster() = default;

void ReplicationMaster::ScheduleMerge() {
  if (merge_posted_.exchange(true, std::memory_order_acq_rel)) return;
  asio::post(merge_ctx_, [this] { Merge(); });
}

awaitable<void> ReplicationMaster::EnableJournal() {
  // 0: off, 1: being registered by another replica's coroutine, 2: on. A sync point may
  // only be taken once every shard records its writes, so latecomers wait for 2.
  int expected = 0;
  if (!journal_state_.compare_exchange_strong(expected, 1)) {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    while (journal_state_.load() != 2) {
      timer.expires_after(std::chrono::milliseconds(5));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    co_return;
  }
  // Registered inside a whole-shard transaction, so no multi-shard transaction is
  // journaled on some of its shards and not on others.
  RegisterJournalOp op(journal_);
  std::string unused;
  resp::ReplyBuilder rb(&unused);
  std::vector<std::string_view> args = {"SYNC"};
  std::vector<size_t> no_keys;
  co_await RunOp(server_.shards(), op, args, no_keys, 0, rb);
  {
    MutexLock lk(&mu_);
    backlog_active_ = true;
  }
  journal_state_.store(2);
  journal_on_.store(true, std::memory_order_release);
  asio::post(merge_ctx_, [this] { SchedulePing(); });
}

// ---- the merge (thread 0) ----

// Turns merged journal entries into the Redis command stream.
class ReplicationMaster::StreamSink : public JournalMergeSink {
 public:
  StreamSink(ReplicationMaster& m, std::string& out) : m_(m), out_(out) {}
  void Single(unsigned, const JournalEntry& e) override {
    if (e.upstream) {
      m_.last_db_ = -1;  // proxied instead; what follows in the journal starts with SELECT
      return;
    }
    Select(e.db);
    for (auto& c : e.commands) out_ += c;
  }
  void Transaction(uint64_t, const std::vector<MergedCommand>& all) override {
    // Commands the proxied stream carried are not sent again. Only a command the link
    // was applying when the proxy ended can have some of each.
    std::vector<MergedCommand> cmds;
    for (auto& c : all)
      if (!c.upstream) cmds.push_back(c);
    if (cmds.size() != all.size()) m_.last_db_ = -1;
    if (cmds.empty()) return;
    Select(cmds[0].db);
    if (cmds.size() == 1) {
      out_ += *cmds[0].resp;
      return;
    }
    out_ += kMulti;
    for (auto& c : cmds) {
      Select(c.db);
      out_ += *c.resp;
    }
    out_ += kExec;
  }
  void SyncPoint(uint64_t sync_id) override {
    // The FULLRESYNC offset: everything before is in the snapshot, nothing after is.
    MutexLock lk(&m_.mu_);
    if (!out_.empty()) m_.AppendToStreamLocked(out_);
    out_.clear();
    m_.last_db_ = -1;  // the stream after a sync point starts with SELECT
    auto it = m_.syncing_.find(sync_id);
    if (it != m_.syncing_.end()) {
      std::shared_ptr<ReplicaFeed> feed = it->second;
      m_.syncing_.erase(it);
      MutexLock fl(&feed->mu);
      feed->start_offset = m_.offset_;
      feed->pending.clear();
      feed->Reaccount();
      m_.WakeLocked(feed);
    }
    // The snapshot is taken: the link may apply (and proxy) again.
    if (m_.gate_sync_ == sync_id) {
      m_.gate_sync_ = 0;
      m_.gate_.Unlock();
    }
  }

 private:
  void Select(unsigned db) {
    if (static_cast<int>(db) == m_.last_db_) return;
    out_ += SelectCommand(db);
    m_.last_db_ = static_cast<int>(db);
  }
  ReplicationMaster& m_;
  std::string& out_;
};

void ReplicationMaster::Merge() {
  merge_posted_.store(false, std::memory_order_release);
  {
    MutexLock lk(&mu_);
    if (select_next_) last_db_ = -1;  // the stream changed source: say which db it is in
    select_next_ = false;
  }
  const unsigned n = merger_.shards();
  std::vector<JournalEntry> fresh;
  for (unsigned s = 0; s < n; ++s) {
    fresh.clear();
    journal_.shard(s).ReadAfter(read_lsn_[s], &fresh);
    if (fresh.empty()) continue;
    // Read after the entries: a boundary drawn meanwhile covers all of them.
    uint64_t through;
    {
      MutexLock lk(&mu_);
      through = discard_through_[s];
    }
    for (auto& e : fresh) {
      e.upstream = e.lsn <= through;
      read_lsn_[s] = e.lsn;
      // A write the proxied stream carries needs no merging; sync points still do.
      if (e.upstream && e.kind != JournalEntry::Kind::kSyncPoint) continue;
      merger_.Push(s, std::move(e));
    }
  }
  // Read by PSYNC and INFO on other threads: set under the stream's lock.
  const size_t backlog_limit = std::max<uint64_t>(server_.config().Snapshot().repl_backlog_size, 16 * 1024);
  {
    MutexLock lk(&mu_);
    backlog_limit_ = backlog_limit;
  }
  std::string out;
  StreamSink sink(*this, out);
  merger_.Drain(sink);
  if (!out.empty()) {
    MutexLock lk(&mu_);
    AppendToStreamLocked(out);
  }
  // The merge holds entries only until every shard's part of a transaction is in: more
  // than the backlog's worth held means one never completes (a transaction cut by the end
  // of a proxied stream). Start the merge over rather than hold the journal forever;
  // the stream cannot go on from there, so it starts a new history.
  const size_t held_limit = std::max<size_t>(2 * backlog_limit, 64u << 20);
  if (merger_.held_bytes() > held_limit) {
    LOG_WARNING("replication: the stream merge holds %zu bytes; starting a new history:\n%s", merger_.held_bytes(),
                merger_.DebugState().c_str());
    merger_ = JournalMerger(n);
    MutexLock lk(&mu_);
    if (!upstream_) {
      replid_ = RandomReplId();
      replid2_ = std::string(40, '0');
      second_offset_ = -1;
      backlog_.clear();
    }
    CloseFeedsLocked();
    syncing_.clear();
  }
  // Keep each shard's journal within the backlog size (only what was merged goes).
  for (unsigned s = 0; s < n; ++s) {
    uint64_t held = merger_.LowestHeld(s);
    journal_.shard(s).Trim(held ? held - 1 : read_lsn_[s], backlog_limit);
  }
}

void ReplicationMaster::AppendToStreamLocked(std::string_view bytes) {
  offset_ += static_cast<int64_t>(bytes.size());
  backlog_.append(bytes);
  if (backlog_.size() > 2 * backlog_limit_) backlog_.erase(0, backlog_.size() - backlog_limit_);
  for (auto& f : feeds_) {
    MutexLock fl(&f->mu);
    if (f->start_offset < 0 || f->overflow) continue;
    f->Append(bytes);
    // client-output-buffer-limit's replica class, on the stream bytes not yet written.
    if (f->limit.Exceeded(ClientClass::kReplica, f->pending.size(), store::UnixTimeMs())) {
      f->overflow = true;
      f->pending.clear();
      f->pending.shrink_to_fit();
    }
    f->Reaccount();
    WakeLocked(f);
  }
}

void ReplicationMaster::WakeLocked(const std::shared_ptr<ReplicaFeed>& f) {
  if (f->notified || !f->ctx) return;
  f->notified = true;
  asio::post(*f->ctx, [f] {
    if (f->timer) f->timer->cancel();
  });
}

void ReplicationMaster::SchedulePing() {
  if (ping_timer_) return;
  ping_timer_ = std::make_unique<asio::steady_timer>(merge_ctx_);
  struct Tick {
    ReplicationMaster* self;
    void operator()(const boost::system::error_code& ec) const {
      if (ec) return;
      self->Merge();
      if (self->merger_.held_entries() > 0) {
        std::string state = self->merger_.DebugState();
        if (!state.empty()) LOG_VERBOSE("replication: the stream waits:\n%s", state.c_str());
      }
      {
        MutexLock lk(&self->mu_);
        // A proxied stream carries its primary's PINGs; ours would shift its offsets.
        if (!self->feeds_.empty() && !self->upstream_) self->AppendToStreamLocked(kPing);
      }
      uint64_t period = std::max<uint64_t>(1, self->server_.config().Snapshot().repl_ping_replica_period);
      self->ping_timer_->expires_after(std::chrono::seconds(period));
      self->ping_timer_->async_wait(*this);
    }
  };
  uint64_t period = std::max<uint64_t>(1, server_.config().Snapshot().repl_ping_replica_period);
  ping_timer_->expires_after(std::chrono::seconds(period));
  ping_timer_->async_wait(Tick{this});
}

void ReplicationMaster::SetDiscardLocked(bool all) {
  for (unsigned s = 0; s < discard_through_.size(); ++s)
    discard_through_[s] = all ? UINT64_MAX : (journal_on_.load() ? journal_.shard(s).last_lsn() : 0);
}

void ReplicationMaster::CloseFeedsLocked() {
  for (auto& f : feeds_) {
    MutexLock fl(&f->mu);
    f->closed = true;
    WakeLocked(f);
  }
}

void ReplicationMaster::NewHistory(const void* upstream) {
  MutexLock lk(&mu_);
  replid_ = RandomReplId();
  journal_id_ = replid_;
  replid2_ = std::string(40, '0');
  second_offset_ = -1;
  backlog_.clear();
  upstream_ = upstream;
  SetDiscardLocked(upstream != nullptr);
  CloseFeedsLocked();
  flows_->CancelAll();
  LOG_NOTICE("replication: new stream history %s (replicas of this server must resync)", replid_.c_str());
}

void ReplicationMaster::ChangeReplicationId() {
  MutexLock lk(&mu_);
  replid_ = RandomReplId();
  replid2_ = std::string(40, '0');
  second_offset_ = -1;
  LOG_WARNING("Changing replication IDs after receiving DEBUG change-repl-id (new id %s)", replid_.c_str());
}

void ReplicationMaster::StartUpstream(const void* owner, const std::string& replid, int64_t offset, unsigned db) {
  MutexLock lk(&mu_);
  upstream_ = owner;
  upstream_db_ = db;
  SetDiscardLocked(true);
  replid_ = replid;
  replid2_ = std::string(40, '0');
  second_offset_ = -1;
  offset_ = offset;
  backlog_.clear();
  backlog_active_ = true;
  CloseFeedsLocked();
}

void ReplicationMaster::ContinueUpstream(const void* owner, const std::string& replid, int64_t offset) {
  MutexLock lk(&mu_);
  if (upstream_ != owner || offset_ != offset) {
    // Not the stream we proxy (cannot happen: a link's first sync is a full one).
    upstream_ = owner;
    SetDiscardLocked(true);
    replid_ = replid;
    offset_ = offset;
    backlog_.clear();
    CloseFeedsLocked();
    return;
  }
  if (replid == replid_) return;
  replid2_ = replid_;
  second_offset_ = offset_ + 1;
  replid_ = replid;
  CloseFeedsLocked();
}

void ReplicationMaster::AppendUpstream(const void* owner, std::string_view bytes, unsigned db) {
  MutexLock lk(&mu_);
  if (upstream_ != owner) return;
  upstream_db_ = db;
  AppendToStreamLocked(bytes);
}

void ReplicationMaster::EndUpstream(const void* owner) {
  MutexLock lk(&mu_);
  if (!owner || upstream_ != owner) return;
  upstream_ = nullptr;
  SetDiscardLocked(false);
  select_next_ = true;
  replid2_ = replid_;
  second_offset_ = offset_ + 1;
  replid_ = RandomReplId();
  // Redis drops its replicas here so they learn the new id; they continue by replid2.
  CloseFeedsLocked();
  LOG_NOTICE("replication: the stream continues as history %s from offset %lld", replid_.c_str(),
             static_cast<long long>(offset_));
}

bool ReplicationMaster::proxying() {
  MutexLock lk(&mu_);
  return upstream_ != nullptr;
}

std::string ReplicationMaster::journal_id() {
  MutexLock lk(&mu_);
  return journal_id_;
}

void ReplicaFeed::Reaccount() {
  const auto now = static_cast<int64_t>(pending.capacity() + writing_bytes.load(std::memory_order_relaxed));
  if (now == accounted) return;
  GetEvictionSettings().replication_buffers.fetch_add(now - accounted, std::memory_order_relaxed);
  accounted = now;
}

void ReplicaFeed::Append(std::string_view bytes) {
  const size_t needed = pending.size() + bytes.size();
  if (needed > pending.capacity()) {
    // While the buffer grows, the old block and the new one are both allocated: count the
    // new one first, so an eviction check in between does not take it for data.
    const size_t grown = std::max(needed, 2 * pending.capacity());
    auto& sum = GetEvictionSettings().replication_buffers;
    sum.fetch_add(static_cast<int64_t>(grown), std::memory_order_relaxed);
    pending.reserve(grown);
    sum.fetch_sub(static_cast<int64_t>(grown), std::memory_order_relaxed);
  }
  pending.append(bytes);
}

void ReplicaFeed::Unaccount() {
  GetEvictionSettings().replication_buffers.fetch_sub(accounted, std::memory_order_relaxed);
  accounted = 0;
}

void ReplicationMaster::Detach(const std::shared_ptr<ReplicaFeed>& feed) {
  MutexLock lk(&mu_);
  std::erase(feeds_, feed);
  {
    // Gone from the stream: nothing appends to it any more.
    MutexLock fl(&feed->mu);
    feed->pending.clear();
    feed->pending.shrink_to_fit();
    feed->Unaccount();
  }
  for (auto it = syncing_.begin(); it != syncing_.end();) {
    if (it->second == feed) it = syncing_.erase(it);
    else ++it;
  }
  replconf_.erase(feed->conn_id);
}

void ReplicationMaster::NoteReplconf(uint64_t conn_id, int port, const std::string& ip) {
  MutexLock lk(&mu_);
  // Entries of connections that never sent PSYNC are not erased when they close; keep
  // the map bounded (a replica sends REPLCONF and PSYNC back to back).
  if (replconf_.size() >= 1024 && !replconf_.count(conn_id)) replconf_.clear();
  auto& r = replconf_[conn_id];
  if (port >= 0) r.first = port;
  if (!ip.empty()) r.second = ip;
}

std::vector<uint64_t> ReplicationMaster::JournalLsns() {
  std::vector<uint64_t> out;
  for (unsigned i = 0; i < journal_.size(); ++i) out.push_back(journal_on_.load() ? journal_.shard(i).last_lsn() : 0);
  return out;
}

std::pair<int, std::string> ReplicationMaster::NotedReplconf(uint64_t conn_id) {
  MutexLock lk(&mu_);
  auto it = replconf_.find(conn_id);
  if (it == replconf_.end()) return {0, ""};
  return it->second;
}

std::string ReplicationMaster::replid() {
  MutexLock lk(&mu_);
  return replid_;
}

int64_t ReplicationMaster::offset() {
  MutexLock lk(&mu_);
  return offset_;
}

// ---- serving one replica (the connection's thread) ----

namespace {

// Waits until woken or `ms` pass. Connection thread.
awaitable<void> Sleep(ReplicaFeed&, asio::steady_timer& timer, int ms) {
  timer.expires_after(std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
}

}  // namespace

awaitable<void> ReplicationMaster::ServeReplica(Connection& conn, const std::string& want_id, int64_t want_offset,
                                                bool psync) {
  co_await EnableJournal();
  auto feed = std::make_shared<ReplicaFeed>();
  feed->conn_id = conn.id();
  feed->ctx = &server_.shards().at(conn.thread()).ctx();
  {
    std::string ip = conn.peer_address.substr(0, conn.peer_address.rfind(':'));
    MutexLock lk(&mu_);
    auto it = replconf_.find(conn.id());
    feed->ip = it != replconf_.end() && !it->second.second.empty() ? it->second.second : ip;
    feed->listening_port = it != replconf_.end() ? it->second.first : 0;
  }
  asio::steady_timer timer(*feed->ctx);
  feed->timer = &timer;
  conn.replica_feed = true;
  std::shared_ptr<Connection> self = conn.shared_from_this();
  net::Stream& sock = conn.stream();
  boost::system::error_code ec;
  std::string head;

  // Partial resync when the id matches and the backlog still holds the offset.
  bool partial = false;
  if (psync && want_id != "?") {
    MutexLock lk(&mu_);
    int64_t hist = static_cast<int64_t>(std::min(backlog_.size(), backlog_limit_));
    int64_t first = offset_ - hist + 1;
    // Our id, or the previous one up to where it stopped (Redis's replid2).
    bool known = want_id == replid_ || (want_id == replid2_ && want_offset <= second_offset_);
    if (known && backlog_active_ && want_offset >= first && want_offset <= offset_ + 1) {
      partial = true;
      MutexLock fl(&feed->mu);
      feed->start_offset = want_offset - 1;
      feed->pending = backlog_.substr(backlog_.size() - static_cast<size_t>(offset_ + 1 - want_offset));
      feed->Reaccount();
      feed->state = ReplicaFeed::State::kOnline;
      feed->ack_offset = want_offset - 1;
      feed->ack_time_ms = store::UnixTimeMs();
      feeds_.push_back(feed);
      head = "+CONTINUE " + replid_ + "\r\n";
      sync_partial_ok_++;
    } else {
      sync_partial_err_++;
    }
  }
  if (partial) {
    LOG_NOTICE("replication: partial resync of replica %s:%d accepted at offset %lld", feed->ip.c_str(),
               feed->listening_port, static_cast<long long>(want_offset));
    co_await asio::async_write(sock, asio::buffer(head), asio::redirect_error(use_awaitable, ec));
  } else {
    sync_full_++;
    uint64_t sync_id = (uint64_t{1} << 63) | next_sync_id_.fetch_add(1);
    {
      MutexLock lk(&mu_);
      feeds_.push_back(feed);
      syncing_[sync_id] = feed;
    }
    LOG_NOTICE("replication: full resync requested by replica %s:%d", feed->ip.c_str(), feed->listening_port);
    FullSyncPayload rdb;
    int64_t t0 = store::UnixTimeMs();
    // While the RDB is built the replica hears a newline every second, as Redis's
    // replicas do during a BGSAVE, so a long build does not hit their repl-timeout.
    // Written synchronously: nothing else is in flight on the link then (the client's
    // read loop is inside this command, the ACK reader not started), which a TLS stream
    // requires of a blocking write.
    ReplicaFeed* fp = feed.get();
    std::function<void()> keepalive = [&sock, fp] {
      if (fp->closed.load()) return;
      boost::system::error_code kec;
      asio::write(sock, asio::buffer("\n", 1), kec);
    };
    // While this server proxies its primary's stream, the snapshot must hold the data at
    // exactly the offset the feed attaches at: the link stops between two commands (the
    // gate) until the sync point is merged, and the RDB names the stream's db then.
    ReplicationMaster* self_m = this;
    unsigned stream_db = co_await asio::co_spawn(
        merge_ctx_,
        [self_m, sync_id]() -> awaitable<unsigned> {
          co_await self_m->gate_.Lock();
          MutexLock lk(&self_m->mu_);
          if (!self_m->upstream_) {
            self_m->gate_.Unlock();
            co_return 0;
          }
          self_m->gate_sync_ = sync_id;
          co_return self_m->upstream_db_;
        },
        use_awaitable);
    rdb::Status st = co_await BuildFullSyncRdb(server_, journal_, sync_id, rdb, keepalive, stream_db);
    asio::post(merge_ctx_, [self_m, sync_id] {
      if (self_m->gate_sync_ != sync_id) return;  // a failed build never reached its sync point
      self_m->gate_sync_ = 0;
      self_m->gate_.Unlock();
    });
    LOG_VERBOSE("replication: snapshot %llx for replica %s:%d taken", static_cast<unsigned long long>(sync_id),
                feed->ip.c_str(), feed->listening_port);
    // The merge attaches the feed at the sync point, maybe a moment later.
    int64_t start = -1;
    while (!feed->closed.load()) {
      {
        MutexLock fl(&feed->mu);
        start = feed->start_offset;
        feed->notified = false;
      }
      if (start >= 0) break;
      co_await Sleep(*feed, timer, 50);
    }
    if (!st.ok()) {
      LOG_WARNING("replication: cannot build the full-sync RDB: %s", st.message().c_str());
      feed->closed = true;
    }
    if (!feed->closed.load()) {
      std::string id = replid();
      LOG_NOTICE("replication: sending %llu RDB bytes (%llu keys, built in %lld ms%s) to replica %s:%d at offset %lld",
                 static_cast<unsigned long long>(rdb.size()), static_cast<unsigned long long>(rdb.keys()),
                 static_cast<long long>(store::UnixTimeMs() - t0), rdb.on_disk() ? ", via disk" : ", in memory",
                 feed->ip.c_str(), feed->listening_port, static_cast<long long>(start));
      if (psync) head = "+FULLRESYNC " + id + " " + std::to_string(start) + "\r\n";
      head += "$" + std::to_string(rdb.size()) + "\r\n";
      feed->state = ReplicaFeed::State::kSendBulk;
      feed->ack_offset = start;
      feed->ack_time_ms = store::UnixTimeMs();
      co_await asio::async_write(sock, asio::buffer(head), asio::redirect_error(use_awaitable, ec));
      std::string chunk(1 << 20, '\0');
      for (uint64_t sent = 0; !ec && sent < rdb.size();) {
        size_t n = rdb.Read(sent, chunk.data(), chunk.size());
        if (n == 0) {
          LOG_WARNING("replication: cannot read back the full-sync RDB at byte %llu",
                      static_cast<unsigned long long>(sent));
          feed->closed = true;
          break;
        }
        co_await asio::async_write(sock, asio::buffer(chunk.data(), n), asio::redirect_error(use_awaitable, ec));
        sent += n;
      }
      feed->state = ReplicaFeed::State::kOnline;
    }
  }

  if (!ec && !feed->closed.load()) {
    ReplicaFeed* fp = feed.get();
    asio::co_spawn(*feed->ctx,
                   ReadReplicaAcks(self, [feed] { return feed->closed.load(); },
                                   [fp](int64_t off) {
                                     fp->ack_offset.store(off);
                                     fp->ack_time_ms.store(store::UnixTimeMs());
                                     if (fp->state.load() == ReplicaFeed::State::kSendBulk)
                                       fp->state = ReplicaFeed::State::kOnline;
                                   },
                                   [feed] {
                                     feed->closed = true;
                                     asio::post(*feed->ctx, [feed] {
                                       if (feed->timer) feed->timer->cancel();
                                     });
                                   }),
                   asio::detached);
    // Stream: write whatever the merge appended; wait to be woken (or 1 s) otherwise.
    std::string out;
    while (!feed->closed.load()) {
      bool overflow = false;
      {
        MutexLock fl(&feed->mu);
        out.swap(feed->pending);
        feed->writing_bytes.store(out.capacity(), std::memory_order_relaxed);
        feed->Reaccount();
        overflow = feed->overflow;
        if (out.empty()) feed->notified = false;
      }
      if (overflow) {
        LOG_WARNING("replication: replica %s:%d dropped for overcoming of output buffer limits (%s)",
                    feed->ip.c_str(), feed->listening_port, FormatOutputBufferLimits().c_str());
        break;
      }
      if (out.empty()) {
        co_await Sleep(*feed, timer, 1000);
        continue;
      }
      co_await asio::async_write(sock, asio::buffer(out), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      server_.thread_stats(conn.thread()).net_output_bytes += out.size();
      out.clear();
      // A burst leaves a large buffer behind: give it back rather than keep it idle.
      if (out.capacity() > (1u << 20)) std::string().swap(out);
      MutexLock fl(&feed->mu);
      feed->writing_bytes.store(out.capacity(), std::memory_order_relaxed);
      feed->Reaccount();
    }
    MutexLock fl(&feed->mu);
    feed->writing_bytes.store(0, std::memory_order_relaxed);
    feed->Reaccount();
  }
  feed->closed = true;
  feed->timer = nullptr;
  Detach(feed);
  LOG_NOTICE("replication: connection with replica %s:%d lost", feed->ip.c_str(), feed->listening_port);
  conn.Close();
}

// ---- WAIT ----

awaitable<int64_t> ReplicationMaster::Wait(int64_t wanted, int64_t timeout_ms) {
  auto count_acked = [this](int64_t target) {
    MutexLock lk(&mu_);
    int64_t n = 0;
    for (auto& f : feeds_)
      if (f->state.load() == ReplicaFeed::State::kOnline && f->ack_offset.load() >= target) ++n;
    return n;
  };
  // Everything written before WAIT is in the shards' journals: merge it, then ask the
  // replicas for an ACK (the GETACK itself is after the target). Multi-flow replicas
  // acknowledge each shard's LSN by themselves as they apply. A proxying replica's
  // target is the upstream offset it applied so far; it injects no GETACK into a stream
  // that must stay its primary's byte for byte, so it waits for the replicas' periodic ACKs.
  const bool on = journal_on_.load();
  std::vector<uint64_t> flow_target;
  if (on)
    for (unsigned i = 0; i < journal_.size(); ++i) flow_target.push_back(journal_.shard(i).last_lsn());
  auto count_all = [&](int64_t target) { return count_acked(target) + flows_->CountAcked(flow_target); };
  int64_t target = 0;
  if (on) {
    ReplicationMaster* self = this;
    target = co_await AwaitOn<int64_t>(merge_ctx_, [self](Completion<int64_t> done) {
      self->Merge();
      done(self->offset());
    });
  }
  int64_t n = count_all(target);
  if (n >= wanted) co_return n;
  if (on) {
    MutexLock lk(&mu_);
    if (!upstream_) AppendToStreamLocked(kGetAck);
  }
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int64_t deadline = timeout_ms > 0 ? store::UnixTimeMs() + timeout_ms : INT64_MAX;
  while (true) {
    n = count_all(target);
    if (n >= wanted || store::UnixTimeMs() >= deadline) co_return n;
    timer.expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

// ---- INFO / ROLE ----

uint64_t ReplicationMaster::BacklogBytes() {
  MutexLock lk(&mu_);
  // A heap block of capacity + 1 once past the inline buffer; nothing before.
  return backlog_.capacity() > 15 ? backlog_.capacity() + 1 : 0;
}

uint64_t ReplicationMaster::ReplicationBufferBytes() {
  uint64_t n = 0;
  MutexLock lk(&mu_);
  for (auto& f : feeds_) {
    MutexLock fl(&f->mu);
    n += f->pending.capacity() + f->writing_bytes.load(std::memory_order_relaxed);
  }
  return n;
}

std::string ReplicationMaster::InfoFields() {
  MutexLock lk(&mu_);
  int64_t now = store::UnixTimeMs();
  std::string o;
  o += "connected_slaves:" + std::to_string(feeds_.size() + flows_->session_count()) + "\r\n";
  for (size_t i = 0; i < feeds_.size(); ++i) {
    auto& f = feeds_[i];
    o += "slave" + std::to_string(i) + ":ip=" + f->ip + ",port=" + std::to_string(f->listening_port) +
         ",state=" + StateName(f->state.load()) + ",offset=" + std::to_string(f->ack_offset.load()) +
         ",lag=" + std::to_string((now - f->ack_time_ms.load()) / 1000) + "\r\n";
  }
  o += flows_->InfoLines(feeds_.size());
  o += "master_failover_state:" + failover_state_ + "\r\n";
  o += "master_replid:" + replid_ + "\r\n";
  o += "master_replid2:" + replid2_ + "\r\n";
  o += "master_repl_offset:" + std::to_string(offset_) + "\r\n";
  o += "second_repl_offset:" + std::to_string(second_offset_) + "\r\n";
  int64_t hist = static_cast<int64_t>(std::min(backlog_.size(), backlog_limit_));
  o += "repl_backlog_active:" + std::string(backlog_active_ ? "1" : "0") + "\r\n";
  o += "repl_backlog_size:" + std::to_string(server_.config().Snapshot().repl_backlog_size) + "\r\n";
  o += "repl_backlog_first_byte_offset:" + std::to_string(backlog_active_ ? offset_ - hist + 1 : 0) + "\r\n";
  o += "repl_backlog_histlen:" + std::to_string(hist) + "\r\n";
  return o;
}

std::string ReplicationMaster::SyncStats() {
  return "sync_full:" + std::to_string(sync_full_.load()) + "\r\nsync_partial_ok:" +
         std::to_string(sync_partial_ok_.load()) + "\r\nsync_partial_err:" + std::to_string(sync_partial_err_.load()) +
         "\r\n";
}

void ReplicationMaster::SetFailoverState(std::string_view state) {
  MutexLock lk(&mu_);
  failover_state_ = std::string(state);
}

std::vector<ReplicationMaster::PsyncReplica> ReplicationMaster::PsyncReplicas() {
  MutexLock lk(&mu_);
  std::vector<PsyncReplica> out;
  for (auto& f : feeds_)
    out.push_back({f->ip, f->listening_port, f->state.load() == ReplicaFeed::State::kOnline, f->ack_offset.load()});
  return out;
}

std::vector<std::array<std::string, 3>> ReplicationMaster::FlowReplicas() {
  std::vector<std::array<std::string, 3>> out;
  flows_->RoleEntries(&out);
  return out;
}

awaitable<int64_t> ReplicationMaster::MergedOffset() {
  if (!journal_on_.load()) co_return offset();
  ReplicationMaster* self = this;
  co_return co_await AwaitOn<int64_t>(merge_ctx_, [self](Completion<int64_t> done) {
    self->Merge();
    done(self->offset());
  });
}

void ReplicationMaster::RoleReply(resp::ReplyBuilder& rb) {
  MutexLock lk(&mu_);
  rb.ArrayHeader(3);
  rb.Bulk("master");
  rb.Integer(offset_);
  size_t online = 0;
  for (auto& f : feeds_)
    if (f->state.load() == ReplicaFeed::State::kOnline) ++online;
  std::vector<std::array<std::string, 3>> flow_replicas;
  flows_->RoleEntries(&flow_replicas);
  rb.ArrayHeader(online + flow_replicas.size());
  for (auto& r : flow_replicas) {
    rb.ArrayHeader(3);
    for (auto& v : r) rb.Bulk(v);
  }
  for (auto& f : feeds_) {
    if (f->state.load() != ReplicaFeed::State::kOnline) continue;
    rb.ArrayHeader(3);
    rb.Bulk(f->ip);
    rb.Bulk(std::to_string(f->listening_port));
    rb.Bulk(std::to_string(f->ack_offset.load()));
  }
}

}  // namespace darter::server
