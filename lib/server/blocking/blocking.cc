#include "server/blocking/blocking.h"

#include <malloc.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "resp/reply_builder.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/executor.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/core/transaction.h"
#include "store/blocking_forms.h"
#include "store/list_object.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/stream_object.h"
#include "store/string_util.h"
#include "store/check.h"

namespace darter::server {

namespace sb = store::blocking;

namespace {

enum State : int { kWaiting, kServed, kRetry, kTimedOut, kUnblockedNil, kUnblockedErr, kGone };

struct Waiter;

// A waiter's place in one key's queue: key_args[pos] of waiter `w`.
struct Entry {
  std::shared_ptr<Waiter> w;
  size_t pos;
};
using Queue = std::list<Entry>;

// Where a waiter sits in the queue of one of its keys, so that leaving costs O(1) per
// key. links[pos] is written only by the shard owning key_args[pos].
struct Link {
  Queue::iterator at;
  bool linked = false;
};

struct Waiter {
  // Claimed once, from kWaiting, by whoever ends the wait (see blocking.h).
  std::atomic<int> state{kWaiting};
  bool TryClaim(int to) {
    int expected = kWaiting;
    return state.compare_exchange_strong(expected, to, std::memory_order_acq_rel);
  }

  // Immutable once registered.
  uint64_t client_id = 0;
  unsigned db = 0;
  int protocol = 2;
  sb::BlockingCall call;
  std::vector<std::string> argv;
  std::string group;  // XREADGROUP
  asio::io_context* home = nullptr;

  // Streams only. stream_ids[pos]: XREAD's id for key_args[pos], '$' resolved by the
  // key's shard when it registered the waiter (each shard writes only its positions).
  std::vector<std::string> stream_ids;
  std::vector<Link> links;
  // A woken BLMOVE's move chains (see chains:: below), set by the shard that woke it.
  std::vector<uint64_t> chains;
  // Written by the claimer before it posts Finish to `home`.
  std::string reply;

  // Connection thread only.
  bool finished = false;
  bool read_pending = false;
  net::Stream* socket = nullptr;  // cancelled to end the read when finished
  // The command waits on it: it expires at the deadline, Finish cancels it. (The pending
  // wait belongs to the loop, so a server stopping with blocked clients frees them.)
  std::unique_ptr<asio::steady_timer> timer;
};

std::atomic<uint64_t> g_blocked{0};
std::mutex g_by_client_mu;
std::unordered_map<uint64_t, std::weak_ptr<Waiter>> g_by_client;

// Runs `argv` on this shard thread as the connection path would (through the shard
// executor: a shard handler, or every hop of a single-shard op), returning the encoded
// reply. REQUIRES: every key of argv lives on `st`, and none is locked.
std::string RunLocal(ShardThread& st, unsigned shard_count, unsigned db, int protocol,
                     const std::vector<std::string>& argv) {
  std::vector<std::string_view> args(argv.begin(), argv.end());
  const store::CommandSpec* spec = store::CommandTable::Global().Find(args[0]);
  std::string out;
  resp::ReplyBuilder rb(&out);
  rb.SetProtocol(protocol);
  int64_t now = store::UnixTimeMs();
  std::vector<size_t> idx = spec->KeyIndices(args);
  if (spec->shard_handler) {
    std::vector<std::string_view> keys;
    for (size_t i : idx) keys.push_back(args[i]);
    RunOnShard(st.shard(), *spec, db, args, keys, rb, now);
    return out;
  }
  std::unique_ptr<store::MultiShardOp> op = spec->multi_shard(args);
  RunAllHopsOnShard(st.shard(), *op, op->FirstHop(shard_count), args, idx, db, shard_count, now, TxTag{});
  op->Reply(rb);
  return out;
}

void Finish(const std::shared_ptr<Waiter>& w);

void PostFinish(const std::shared_ptr<Waiter>& w) {
  asio::post(*w->home, [w] { Finish(w); });
}

// COPY ... DB n writes its destination in db n.
unsigned CopyTargetDb(store::ArgList args, unsigned db) {
  for (size_t i = 3; i + 1 < args.size(); ++i) {
    if (!store::EqualsIgnoreCase(args[i], "db")) continue;
    auto v = store::ParseInt64(args[i + 1]);
    if (v && *v >= 0) return static_cast<unsigned>(*v);
  }
  return db;
}

// ---- Move chains ----
//
// Redis serves the clients a write made ready before it replies to the writer, and a
// BLMOVE that pushes into a key other BLMOVE clients wait on serves those too, in the
// same loop: whoever has seen the push's reply sees only the chain's final state. Here
// a woken BLMOVE re-runs its move on its own thread (a transaction on the keys of both
// lists), so the chain takes time; replies wait for it instead.
//
// A *chain* is counted from the write that makes a key with BLMOVE waiters ready
// (registered in OnWrite, on the writer's shard, before the write's reply exists). Its
// references: the ready key until its drain ran, each waiter woken for it until its move
// has run, a destination's wake-up that move caused (that write joins the chain through
// ExpectWrite). Every connection's Flush waits (AwaitMoveChains) until the chains that
// existed when it started have ended, so the pusher's reply, and any reply that let a
// client see an intermediate state, leave after the chain's last move. A chain joins at
// most kMaxChainLinks writes, and a flush waits at most kMaxChainWait: liveness bounds
// against clients that keep re-blocking in a cycle or a link stuck behind a long
// transaction (past them, a reply may leave before the chain's end).
namespace chains {

constexpr int kMaxChainLinks = 1024;
constexpr auto kMaxChainWait = std::chrono::seconds(1);

struct Chain {
  int refs = 0;
  int links = 0;
};
struct FlushWaiter {
  uint64_t snapshot;  // waits for every chain whose id is at most this
  std::shared_ptr<asio::steady_timer> timer;
  asio::any_io_executor executor;
};

std::mutex mu;
std::map<uint64_t, Chain> alive;  // by id: begin() is the oldest
uint64_t last_id = 0;
std::atomic<size_t> alive_count{0};
std::vector<FlushWaiter> flush_waiters;
// Destinations a woken BLMOVE is about to push to, and the chains it serves.
std::multimap<std::pair<unsigned, std::string>, uint64_t> expected;

// REQUIRES: mu held.
void WakeFlushersLocked() {
  uint64_t oldest = alive.empty() ? UINT64_MAX : alive.begin()->first;
  std::erase_if(flush_waiters, [&](const FlushWaiter& f) {
    if (f.snapshot >= oldest) return false;
    asio::post(f.executor, [t = f.timer] { t->cancel(); });
    return true;
  });
}

// A write to (db, key), which has BLMOVE waiters: joins the chain of a move expected to
// write there, else starts one. Returns the chain, referenced once.
uint64_t StartOrJoin(unsigned db, std::string_view key) {
  std::lock_guard<std::mutex> lock(mu);
  auto range = expected.equal_range({db, std::string(key)});
  for (auto it = range.first; it != range.second; ++it) {
    auto c = alive.find(it->second);
    if (c == alive.end() || c->second.links >= kMaxChainLinks) continue;
    c->second.refs++;
    c->second.links++;
    return c->first;
  }
  uint64_t id = ++last_id;
  alive.emplace(id, Chain{1, 1});
  alive_count.fetch_add(1, std::memory_order_release);
  return id;
}

// REQUIRES: each chain of `ids` is referenced by the caller (so it is alive).
void Ref(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return;
  std::lock_guard<std::mutex> lock(mu);
  for (uint64_t id : ids) {
    auto c = alive.find(id);
    if (c != alive.end()) c->second.refs++;
  }
}

void Unref(const std::vector<uint64_t>& ids) {
  if (ids.empty()) return;
  std::lock_guard<std::mutex> lock(mu);
  bool ended = false;
  for (uint64_t id : ids) {
    auto c = alive.find(id);
    if (c == alive.end() || --c->second.refs > 0) continue;
    alive.erase(c);
    alive_count.fetch_sub(1, std::memory_order_release);
    ended = true;
  }
  if (ended) WakeFlushersLocked();
}

void ExpectWrite(unsigned db, std::string_view key, const std::vector<uint64_t>& ids) {
  std::lock_guard<std::mutex> lock(mu);
  for (uint64_t id : ids) expected.emplace(std::make_pair(db, std::string(key)), id);
}

void Unexpect(unsigned db, std::string_view key, const std::vector<uint64_t>& ids) {
  std::lock_guard<std::mutex> lock(mu);
  for (uint64_t id : ids) {
    auto range = expected.equal_range({db, std::string(key)});
    for (auto it = range.first; it != range.second; ++it)
      if (it->second == id) {
        expected.erase(it);
        break;
      }
  }
}

}  // namespace chains

// A waiter on many keys leaves thousands of small freed blocks (queue entries, its
// copy of the arguments) that the allocator keeps. A moment after such a waiter left,
// the memory is given back to the system, once for all that left meanwhile.
constexpr size_t kTrimAfterKeys = 1024;
constexpr auto kTrimDelay = std::chrono::milliseconds(200);

void ScheduleTrim(asio::io_context& ctx) {
  static std::atomic<bool> pending{false};
  if (pending.exchange(true)) return;
  auto timer = std::make_shared<asio::steady_timer>(ctx, kTrimDelay);
  timer->async_wait([timer](const boost::system::error_code& ec) {
    pending = false;
    if (!ec) malloc_trim(0);
  });
}

// One shard's waiters, by (db, key), in the order they blocked.
//
// Costs, so that a client blocked on many keys cannot stall the shard: registering and
// leaving are O(1) per key (a waiter remembers its place in each queue); a write costs
// O(keys it names) lookups, and a drain looks only at the queues of keys that were
// written (or held data when a waiter registered), never at every waited key.
class Registry : public store::WriteObserver {
 public:
  Registry(ShardThread& st, unsigned shard_count) : st_(st), shard_count_(shard_count) {
    st_.shard().AddWriteObserver(this);
  }
  ~Registry() override { st_.shard().RemoveWriteObserver(this); }

  void Add(const std::shared_ptr<Waiter>& w, size_t pos) {
    const std::string& key = w->argv[w->call.key_args[pos]];
    int64_t now = store::UnixTimeMs();
    if (w->call.stream && w->call.kind == sb::Kind::kXread) {
      std::string_view id = w->argv[w->call.stream_ids_arg + pos];
      if (id == "$") {
        store::Slot* s = st_.shard().FindLive(w->db, key, now);
        store::StreamId last{0, 0};
        if (s && s->value.type() == store::ValueType::kStream) last = s->value.As<store::StreamObject>()->last_id();
        w->stream_ids[pos] = store::FormatStreamId(last);
      } else {
        w->stream_ids[pos] = std::string(id);
      }
    }
    auto it = queues_.find(LockKey{w->db, key});
    if (it == queues_.end()) it = queues_.emplace(OwnedLockKey{w->db, key}, KeyQueue{}).first;
    KeyQueue& q = it->second;
    q.entries.push_back(Entry{w, pos});
    if (w->call.moves) q.moves++;
    if (w->call.kind == sb::Kind::kXreadgroup) q.groups++;
    w->links[pos] = Link{std::prev(q.entries.end()), true};
    // Data may have arrived between the non-blocking attempt and now.
    if (st_.shard().FindLive(w->db, key, now)) MarkReady(w->db, key);
  }

  // Takes `w` out of the queues of its keys at `positions` (those of this shard).
  void Remove(const std::shared_ptr<Waiter>& w, const std::vector<size_t>& positions) {
    for (size_t pos : positions) {
      Link& l = w->links[pos];
      if (!l.linked) continue;
      auto it = queues_.find(LockKey{w->db, w->argv[w->call.key_args[pos]]});
      DARTER_CHECK(it != queues_.end(), "a linked entry's queue exists");
      Unlink(it, l.at);
    }
    if (positions.size() >= kTrimAfterKeys) ScheduleTrim(st_.ctx());
  }

  // Has the key looked at again (a woken BLMOVE waiter that did not take the element
  // it was woken for: the next waiter may), on behalf of `chain_refs` (taken over).
  void Poke(unsigned db, std::string_view key, std::vector<uint64_t> chain_refs = {}) {
    if (queues_.find(LockKey{db, key}) != queues_.end()) MarkReady(db, key, std::move(chain_refs));
    else chains::Unref(chain_refs);
  }

  void OnWrite(store::Shard&, const store::AppliedWrite& write) override {
    if (queues_.empty()) return;
    // Keyless writes (SWAPDB, FLUSHALL...) may bring data to any waited key, or take
    // the stream of an XREADGROUP waiter away: let the drain look at all of them.
    if (write.keys.empty()) {
      for (auto& [k, q] : queues_) MarkWritten(k.db, k.key, q);
      return;
    }
    for (std::string_view key : write.keys) {
      auto it = queues_.find(LockKey{write.db, key});
      if (it != queues_.end()) MarkWritten(write.db, key, it->second);
    }
    // MOVE key db and COPY src dst DB n write a key of another database.
    store::ArgList args = write.args;
    if (store::EqualsIgnoreCase(args[0], "move") && args.size() == 3) {
      auto target = store::ParseInt64(args[2]);
      if (target && *target >= 0) MarkWritten(static_cast<unsigned>(*target), args[1]);
    } else if (store::EqualsIgnoreCase(args[0], "copy") && args.size() >= 3 &&
               std::find(write.keys.begin(), write.keys.end(), args[2]) != write.keys.end()) {
      MarkWritten(CopyTargetDb(args, write.db), args[2]);
    }
  }

 private:
  struct KeyQueue {
    Queue entries;      // in blocking order
    size_t moves = 0;   // entries of BLMOVE/BRPOPLPUSH waiters
    size_t groups = 0;  // entries of XREADGROUP waiters
  };
  using Queues = std::unordered_map<OwnedLockKey, KeyQueue, LockKeyHash, LockKeyEq>;
  struct Ready {
    OwnedLockKey key;
    std::vector<uint64_t> chains;  // move chains waiting for this key's drain
  };

  // Drops one entry; the queue goes when empty. `it` is invalid afterwards if so.
  void Unlink(Queues::iterator it, Queue::iterator at) {
    at->w->links[at->pos].linked = false;
    if (at->w->call.moves) it->second.moves--;
    if (at->w->call.kind == sb::Kind::kXreadgroup) it->second.groups--;
    it->second.entries.erase(at);
    if (it->second.entries.empty()) queues_.erase(it);
  }

  // A write to a waited key: a key with BLMOVE waiters starts (or continues) a chain.
  void MarkWritten(unsigned db, std::string_view key) {
    auto it = queues_.find(LockKey{db, key});
    if (it != queues_.end()) MarkWritten(db, key, it->second);
  }
  void MarkWritten(unsigned db, std::string_view key, const KeyQueue& q) {
    std::vector<uint64_t> chain_refs;
    if (q.moves) chain_refs.push_back(chains::StartOrJoin(db, key));
    MarkReady(db, key, std::move(chain_refs));
  }

  void MarkReady(unsigned db, std::string_view key, std::vector<uint64_t> chain_refs = {}) {
    auto found = ready_set_.find(LockKey{db, key});
    if (found != ready_set_.end()) {
      std::vector<uint64_t>& c = ready_[found->second].chains;
      c.insert(c.end(), chain_refs.begin(), chain_refs.end());
      return;
    }
    ready_set_.emplace(OwnedLockKey{db, std::string(key)}, ready_.size());
    ready_.push_back(Ready{OwnedLockKey{db, std::string(key)}, std::move(chain_refs)});
    if (drain_posted_) return;
    drain_posted_ = true;
    // After the current command, hop or pipeline step: never in the middle of one.
    asio::post(st_.ctx(), [this] { Drain(); });
  }

  void Drain() {
    drain_posted_ = false;
    std::vector<Ready> ready;
    ready.swap(ready_);
    ready_set_.clear();
    // In the order the keys became ready.
    for (Ready& r : ready) {
      auto owned = std::make_shared<Ready>(std::move(r));
      std::vector<std::string_view> keys{owned->key.key};
      // Behind a transaction that holds the key: served once it concluded.
      st_.RunWhenUnlocked(owned->key.db, keys, [this, owned] {
        ServeKey(owned->key.db, owned->key.key, owned->chains);
        chains::Unref(owned->chains);
      });
    }
  }

  // Whether waiter `e` of a stream key can be served now.
  bool StreamReady(const Entry& e, store::Slot* s) {
    Waiter& w = *e.w;
    auto* st = s->value.As<store::StreamObject>();
    if (w.call.kind == sb::Kind::kXread) {
      store::StreamId after;
      // The id was validated by XREAD before the waiter registered.
      std::string_view id = w.stream_ids[e.pos];
      size_t dash = id.find('-');
      after.ms = std::stoull(std::string(id.substr(0, dash)));
      after.seq = dash == std::string_view::npos ? 0 : std::stoull(std::string(id.substr(dash + 1)));
      store::StreamId maxid;
      return st->length() && st->LastEntryId(&maxid) &&
             (maxid.ms > after.ms || (maxid.ms == after.ms && maxid.seq > after.seq));
    }
    store::StreamObject::Group* g = st->FindGroup(w.group);
    store::StreamId maxid;
    return g && st->length() && st->LastEntryId(&maxid) &&
           (maxid.ms > g->last_id.ms || (maxid.ms == g->last_id.ms && maxid.seq > g->last_id.seq));
  }

  // Serves the waiters of (db, key) that its data allows. BLMOVE waiters woken here
  // carry `chain_refs` on (each referenced once more).
  void ServeKey(unsigned db, const std::string& key, const std::vector<uint64_t>& chain_refs) {
    auto qit = queues_.find(LockKey{db, key});
    if (qit == queues_.end()) return;
    Queue& q = qit->second.entries;
    int64_t now = store::UnixTimeMs();
    store::Slot* s = st_.shard().FindLive(db, key, now);
    // A key without data serves nobody; only XREADGROUP waiters learn it went away.
    if (!s && qit->second.groups == 0) return;
    size_t reserved = 0;  // elements promised to woken BLMOVE waiters
    // Serving only marks keys ready and posts replies: it never adds or drops queues,
    // so `qit` stays valid until the loop unlinks the last entry.
    for (auto at = q.begin(); at != q.end();) {
      const bool last = std::next(at) == q.end();
      Entry e = *at;
      Waiter& w = *e.w;
      auto drop = [&] {
        auto next = std::next(at);
        Unlink(qit, at);
        at = next;
      };
      if (w.state.load(std::memory_order_acquire) != kWaiting) {
        drop();
        if (last) return;  // the queue may be gone
        continue;
      }
      if (w.call.kind == sb::Kind::kXreadgroup) {
        // Redis 7.0.15 ends an XREADGROUP wait with an error when its stream or group
        // goes away (DEL, a write of another type, XGROUP DESTROY).
        std::string_view err;
        if (!s || s->value.type() != store::ValueType::kStream)
          err = "-UNBLOCKED the stream key no longer exists\r\n";
        else if (!s->value.As<store::StreamObject>()->FindGroup(w.group))
          err = "-NOGROUP the consumer group this client was blocked on no longer exists\r\n";
        if (!err.empty()) {
          std::shared_ptr<Waiter> held = e.w;
          drop();
          if (held->TryClaim(kServed)) {
            held->reply = std::string(err);
            PostFinish(held);
          }
          if (last) return;
          continue;
        }
      }
      if (!s) {
        ++at;
        continue;
      }
      store::ValueType want = w.call.stream      ? store::ValueType::kStream
                              : w.call.list_type ? store::ValueType::kList
                                                 : store::ValueType::kZset;
      if (s->value.type() != want || (w.call.stream && !StreamReady(e, s))) {
        ++at;
        continue;
      }
      if (want == store::ValueType::kList && reserved >= s->value.As<store::ListObject>()->size()) return;
      std::shared_ptr<Waiter> held = e.w;
      if (!w.TryClaim(w.call.moves ? kRetry : kServed)) {
        drop();
        if (last) return;
        continue;
      }
      drop();
      if (w.call.moves) {
        reserved++;
        chains::Ref(chain_refs);
        w.chains = chain_refs;
      } else {
        std::vector<std::string_view> argv(w.argv.begin(), w.argv.end());
        std::vector<std::string> cmd =
            sb::ServeCommand(w.call, argv, w.call.key_args[e.pos], w.call.stream ? w.stream_ids[e.pos] : "");
        w.reply = RunLocal(st_, shard_count_, db, w.protocol, cmd);
        sb::ServeReply(w.call.kind, key, &w.reply);
        s = st_.shard().FindLive(db, key, now);  // the pop changed it, or deleted it
      }
      PostFinish(held);
      if (last) return;
    }
  }

  ShardThread& st_;
  unsigned shard_count_;
  Queues queues_;
  // Keys to look at in the next drain, in the order they became ready.
  std::vector<Ready> ready_;
  std::unordered_map<OwnedLockKey, size_t, LockKeyHash, LockKeyEq> ready_set_;  // index into ready_
  bool drain_posted_ = false;
};

// The calling shard thread's registry (created on first use).
Registry& RegistryOf(ShardThread& st, unsigned shard_count) {
  thread_local std::unique_ptr<Registry> registry;
  if (!registry) registry = std::make_unique<Registry>(st, shard_count);
  return *registry;
}

// Wakes the command's coroutine, which waits on the waiter's timer (the deadline, or
// forever) and re-checks whether it may go on. Connection thread.
void Wake(Waiter& w) {
  if (w.timer) w.timer->cancel();
}

// Connection thread: the wait is over (the state was claimed). The command goes on once
// the read started while waiting has ended too, so no byte it reads is lost.
void Finish(const std::shared_ptr<Waiter>& w) {
  if (w->finished) return;
  w->finished = true;
  if (w->read_pending) {
    boost::system::error_code ec;
    w->socket->cancel(ec);
  }
  Wake(*w);
}

// Reads what the client sends while it waits into the free tail of the connection's
// buffer (parsed after the command), so that a disconnect ends the wait.
void StartRead(Connection& c, const std::shared_ptr<Waiter>& w) {
  std::span<char> space = c.InputSpace();
  if (c.closed() || space.empty()) return;
  w->read_pending = true;
  w->socket = &c.stream();
  c.stream().async_read_some(
      asio::buffer(space.data(), space.size()),
      [&c, self = c.shared_from_this(), w](const boost::system::error_code& ec, size_t n) {
        w->read_pending = false;
        if (!ec) {
          c.InputReceived(n);
          c.server().thread_stats(c.thread()).net_input_bytes += n;
        }
        // EOF / reset, or closed here (CLIENT KILL): the client is gone.
        bool gone = (ec && ec != asio::error::operation_aborted) || c.closed();
        if (gone && !w->finished) {
          if (!c.closed()) c.Close();
          if (w->TryClaim(kGone)) w->finished = true;
        }
        if (w->finished) {
          Wake(*w);
          return;
        }
        if (!gone) StartRead(c, w);  // else a claimer's Finish is on its way
      });
}

// Claimers other than the connection's own thread post Finish; once claimed, the waiter
// only has to leave the registries and the client table.
void Unregister(ShardSet& shards, const std::shared_ptr<Waiter>& w, const std::vector<unsigned>& targets,
                std::shared_ptr<const std::vector<std::vector<size_t>>> positions) {
  {
    std::lock_guard<std::mutex> lock(g_by_client_mu);
    auto it = g_by_client.find(w->client_id);
    if (it != g_by_client.end() && it->second.lock() == w) g_by_client.erase(it);
  }
  g_blocked.fetch_sub(1, std::memory_order_relaxed);
  w->timer.reset();  // here, on its own thread (a shard may drop the last reference)
  const unsigned n = shards.size();
  for (unsigned s : targets) {
    ShardThread* st = &shards.at(s);
    asio::post(st->ctx(), [st, n, w, s, positions] { RegistryOf(*st, n).Remove(w, (*positions)[s]); });
  }
}

std::shared_ptr<Waiter> NewWaiter(Connection& c, const sb::BlockingCall& call, store::ArgList args) {
  auto w = std::make_shared<Waiter>();
  w->client_id = c.id();
  w->db = c.db;
  w->protocol = c.protocol();
  w->call = call;
  w->argv.assign(args.begin(), args.end());
  w->home = &c.server().shards().at(c.thread()).ctx();
  w->timer = std::make_unique<asio::steady_timer>(c.stream().get_executor());
  if (call.stream) w->stream_ids.resize(call.key_args.size());
  w->links.resize(call.key_args.size());
  if (call.kind == sb::Kind::kXreadgroup) {
    for (size_t i = 1; i + 1 < args.size(); ++i)
      if (store::EqualsIgnoreCase(args[i], "group")) {
        w->group = std::string(args[i + 1]);
        break;
      }
  }
  return w;
}

std::vector<unsigned> TargetsOf(const sb::BlockingCall& call, store::ArgList args, unsigned n,
                                std::vector<std::vector<size_t>>* positions) {
  positions->assign(n, {});
  std::vector<unsigned> targets;
  for (size_t pos = 0; pos < call.key_args.size(); ++pos) {
    unsigned s = store::ShardOf(args[call.key_args[pos]], n);
    if ((*positions)[s].empty()) targets.push_back(s);
    (*positions)[s].push_back(pos);
  }
  return targets;
}

void Publish(const std::shared_ptr<Waiter>& w) {
  std::lock_guard<std::mutex> lock(g_by_client_mu);
  g_by_client[w->client_id] = w;
}

}  // namespace

awaitable<bool> RunBlockingCommand(Connection& conn, const store::CommandSpec& spec, store::ArgList args) {
  std::optional<sb::BlockingCall> call = sb::ParseBlockingCall(args);
  if (!call) co_return false;
  ShardSet& shards = conn.server().shards();
  const unsigned n = shards.size();
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (call->timeout_ms > 0)
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(call->timeout_ms);
  bool retried = false;  // this attempt follows a wake-up as a BLMOVE waiter
  std::vector<uint64_t> held_chains;  // the move chains that wake-up serves
  while (true) {
    // The non-blocking form first: data present, or an error, ends the command.
    std::string first;
    resp::ReplyBuilder rb(&first);
    rb.SetProtocol(conn.protocol());
    const unsigned db = conn.db;
    // A woken BLMOVE's push continues its chains: waiters it wakes join them.
    std::string_view dest = call->moves ? args[2] : std::string_view();
    if (!held_chains.empty()) chains::ExpectWrite(db, dest, held_chains);
    co_await RunMultiShardOp(shards, spec, args, db, rb);
    if (!held_chains.empty()) chains::Unexpect(db, dest, held_chains);
    if (retried && !first.empty() && first[0] == '-') {
      // Woken for an element it could not move (its destination holds another type):
      // it replies the error, and the next waiter of the source gets its chance, as in
      // Redis.
      std::string source(args[call->key_args.front()]);
      unsigned s = store::ShardOf(source, n);
      ShardThread* st = &shards.at(s);
      chains::Ref(held_chains);
      asio::post(st->ctx(), [st, n, db, source, refs = held_chains] { RegistryOf(*st, n).Poke(db, source, refs); });
    }
    // Released before anything can flush: the chain's end must not wait for this reply.
    chains::Unref(held_chains);
    held_chains.clear();
    retried = false;
    if (!sb::IsNullReply(first) || conn.closed()) {
      conn.reply().Raw(first);
      co_return true;
    }
    if (deadline && std::chrono::steady_clock::now() >= *deadline) {
      conn.reply().NullArray();  // in the connection's protocol
      co_return true;
    }
    // It waits: its time would include the wait, which Redis's figures leave out, so
    // introspection records no duration for it (command_stats.h).
    conn.observation.untimed = true;
    std::shared_ptr<Waiter> w = NewWaiter(conn, *call, args);
    auto positions = std::make_shared<std::vector<std::vector<size_t>>>();
    std::vector<unsigned> targets = TargetsOf(*call, args, n, positions.get());
    std::vector<asio::io_context*> ctxs;
    for (unsigned s : targets) ctxs.push_back(&shards.at(s).ctx());
    Publish(w);
    co_await AwaitAll(ctxs, [&](size_t i) {
      Registry& r = RegistryOf(shards.at(targets[i]), n);
      for (size_t pos : (*positions)[targets[i]]) r.Add(w, pos);
    });
    // Counted once registered everywhere: a client seen in blocked_clients holds its
    // place in every key's queue (tests order waiters by it).
    g_blocked.fetch_add(1, std::memory_order_relaxed);
    // Replies of earlier pipelined commands go out now, as Redis writes them before a
    // client blocks.
    if (conn.output_buffer_size() != 0) co_await conn.Flush();
    // Wait until the state is claimed (served, timed out, unblocked, gone) and the
    // read started meanwhile has ended.
    if (!w->finished) StartRead(conn, w);
    w->timer->expires_at(deadline ? *deadline : std::chrono::steady_clock::time_point::max());
    while (!w->finished || w->read_pending) {
      boost::system::error_code ec;
      co_await w->timer->async_wait(asio::redirect_error(use_awaitable, ec));
      if (!ec && !w->finished) {
        // The deadline passed: time out, unless a claimer got there first (its Finish
        // is on its way).
        if (w->TryClaim(kTimedOut)) Finish(w);
        w->timer->expires_at(std::chrono::steady_clock::time_point::max());
      }
    }
    Unregister(shards, w, targets, positions);
    int state = w->state.load(std::memory_order_acquire);
    if (state == kRetry) {  // BLMOVE: the source has data; move it (or wait again)
      retried = true;
      held_chains = std::move(w->chains);
      continue;
    }
    if (state == kServed) {
      conn.reply().Raw(w->reply);
    } else if (state == kUnblockedErr) {
      conn.reply().Error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    } else if (state == kTimedOut || state == kUnblockedNil) {
      conn.reply().NullArray();
    }
    co_return true;  // kGone: the client disconnected; nothing to say
  }
}

bool UnblockClient(uint64_t client_id, bool with_error) {
  std::shared_ptr<Waiter> w;
  {
    std::lock_guard<std::mutex> lock(g_by_client_mu);
    auto it = g_by_client.find(client_id);
    if (it == g_by_client.end()) return false;
    w = it->second.lock();
  }
  if (!w || !w->TryClaim(with_error ? kUnblockedErr : kUnblockedNil)) return false;
  PostFinish(w);
  return true;
}

awaitable<void> AwaitMoveChains() {
  if (chains::alive_count.load(std::memory_order_acquire) == 0) co_return;
  auto executor = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(executor, chains::kMaxChainWait);
  {
    std::lock_guard<std::mutex> lock(chains::mu);
    if (chains::alive.empty()) co_return;
    chains::flush_waiters.push_back({chains::last_id, timer, executor});
  }
  // Woken by the end of the last chain it waits for (a cancel posted to this thread,
  // which cannot run before the wait below has started), or by the bound.
  boost::system::error_code ec;
  co_await timer->async_wait(asio::redirect_error(use_awaitable, ec));
  if (!ec) {
    std::lock_guard<std::mutex> lock(chains::mu);
    std::erase_if(chains::flush_waiters, [&](const chains::FlushWaiter& f) { return f.timer == timer; });
  }
}

uint64_t BlockedClientCount() { return g_blocked.load(std::memory_order_relaxed); }

bool IsClientBlocked(uint64_t client_id) {
  std::lock_guard<std::mutex> lock(g_by_client_mu);
  return g_by_client.count(client_id) > 0;
}

}  // namespace darter::server
