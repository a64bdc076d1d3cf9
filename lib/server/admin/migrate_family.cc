// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
//         [AUTH2 username password] [KEYS key [key ...]]
// The design is in migrate_family.h; the replies are Redis 7.0's.
#include "server/admin/migrate_family.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "rdb/dump_payload.h"
#include "resp/reply_builder.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/core/transaction.h"
#include "store/errors.h"
#include "store/keyspace_events.h"
#include "store/rdb_save.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {
namespace {

using store::EqualsIgnoreCase;

// Redis writes the RESTOREs in pieces of this size, each bounded by the timeout.
constexpr size_t kWriteChunk = 64 * 1024;
// A reply line from the target longer than this is a protocol error (Redis reads into
// 1 KB and truncates; RESTORE, AUTH and SELECT answer one short line).
constexpr size_t kMaxReplyLine = 64 * 1024;

constexpr const char* kIoErrConnecting = "IOERR error or timeout connecting to the client";
constexpr const char* kIoErrWriting = "IOERR error or timeout writing to target instance";
constexpr const char* kIoErrReading = "IOERR error or timeout reading to target instance";

struct MigrateRequest {
  std::string host;
  std::string port;
  int64_t db = 0;
  int64_t timeout_ms = 0;
  bool copy = false;
  bool replace = false;
  std::optional<std::string> user;
  std::optional<std::string> password;
  std::vector<std::string> keys;
};

// The argument indices of the keys: those after KEYS, else args[3]. AUTH's and AUTH2's
// arguments are skipped, so a password spelled "keys" is not taken for the option.
std::vector<size_t> MigrateKeys(store::ArgList args) {
  for (size_t j = 6; j < args.size(); ++j) {
    if (EqualsIgnoreCase(args[j], "auth")) {
      j += 1;
    } else if (EqualsIgnoreCase(args[j], "auth2")) {
      j += 2;
    } else if (EqualsIgnoreCase(args[j], "keys")) {
      std::vector<size_t> keys;
      for (size_t k = j + 1; k < args.size(); ++k) keys.push_back(k);
      return keys;
    }
  }
  return {3};
}

// Parses the request in Redis's order (options, then timeout, then db). Returns the
// error reply, or "" with *req filled.
std::string ParseMigrate(store::ArgList args, MigrateRequest* req) {
  size_t first_key = 3, num_keys = 1;
  for (size_t j = 6; j < args.size(); ++j) {
    const size_t more = args.size() - 1 - j;
    if (EqualsIgnoreCase(args[j], "copy")) {
      req->copy = true;
    } else if (EqualsIgnoreCase(args[j], "replace")) {
      req->replace = true;
    } else if (EqualsIgnoreCase(args[j], "auth")) {
      if (more < 1) return std::string(store::errors::kSyntax);
      req->password = std::string(args[++j]);
    } else if (EqualsIgnoreCase(args[j], "auth2")) {
      if (more < 2) return std::string(store::errors::kSyntax);
      req->user = std::string(args[++j]);
      req->password = std::string(args[++j]);
    } else if (EqualsIgnoreCase(args[j], "keys")) {
      if (!args[3].empty())
        return "ERR When using MIGRATE KEYS option, the key argument must be set to the empty string";
      first_key = j + 1;
      num_keys = args.size() - j - 1;
      break;
    } else {
      return std::string(store::errors::kSyntax);
    }
  }
  auto timeout = store::ParseInt64(args[5]);
  auto db = store::ParseInt64(args[4]);
  if (!timeout || !db) return std::string(store::errors::kNotInteger);
  req->timeout_ms = *timeout <= 0 ? 1000 : *timeout;
  req->db = *db;
  req->host = std::string(args[1]);
  req->port = std::string(args[2]);
  for (size_t i = 0; i < num_keys; ++i) req->keys.emplace_back(args[first_key + i]);
  return "";
}

// ---- The shard steps ----

// What the dump step read: the payload and the key's deadline (0: none), or nothing when
// the key does not exist.
struct DumpedKey {
  bool found = false;
  std::string payload;
  int64_t expire_ms = 0;
  int64_t read_at_ms = 0;
};

std::string DumpPayloadOf(const store::Slot& s, std::string* error) {
  std::string payload;
  rdb::DumpPayloadEncoder enc(&payload);
  rdb::Status st = store::WriteValue(enc.writer(), {}, "", s.value);
  if (st.ok()) st = enc.Finish();
  if (!st.ok()) *error = st.message();
  return payload;
}

// The deletion after a RESTORE the target accepted: args are {name, key, payload,
// deadline}. Deletes the key only if it still holds that payload and deadline; the
// journal gets DEL key, what Redis propagates for MIGRATE. Replies :1 if it deleted.
void DeleteMigratedKey(store::CommandContext& c) {
  const store::Slot* s = c.shard.FindForReadNoTouch(c.db, c.args[1], c.now_ms, /*notify_miss=*/false);
  std::string error;
  if (!s || std::to_string(s->expire_ms) != c.args[3] || DumpPayloadOf(*s, &error) != c.args[2] || !error.empty()) {
    c.reply.Integer(0);
    return;
  }
  c.shard.Delete(c.db, c.args[1], c.now_ms);
  c.effects.MarkDirty();
  c.effects.Propagate({"DEL", c.args[1]});
  c.shard.NotifyKeyspaceEvent(store::kNotifyGeneric, "del", c.db, c.args[1]);
  c.reply.Integer(1);
}

const store::CommandSpec& DeleteSpec() {
  static const store::CommandSpec spec = [] {
    store::CommandSpec s;
    s.name = "migrate";
    s.arity = 4;
    s.flags = store::kCmdWrite;
    s.first_key = s.last_key = s.key_step = 1;
    s.shard_handler = DeleteMigratedKey;
    return s;
  }();
  return spec;
}

// Reads `key` on its shard, behind any transaction holding it (as a command would).
awaitable<DumpedKey> DumpKey(Server& srv, unsigned db, const std::string& key) {
  ShardThread& st = srv.shards().at(store::ShardOf(key, srv.shards().size()));
  std::vector<std::string_view> keys{key};
  return AwaitOn<DumpedKey>(st.ctx(), [&st, db, keys](Completion<DumpedKey> done) {
    st.RunWhenUnlocked(db, keys, [&st, db, keys, done] {
      DumpedKey out;
      out.read_at_ms = store::UnixTimeMs();
      if (const store::Slot* s = st.shard().FindForRead(db, keys[0], out.read_at_ms)) {
        std::string error;
        out.payload = DumpPayloadOf(*s, &error);
        out.found = error.empty();
        out.expire_ms = s->expire_ms;
      }
      done(std::move(out));
    });
  });
}

// ---- The target link and its cache ----

// One connection to a target, used by one MIGRATE at a time on its thread. Every
// operation is bounded by the timeout set for it: a timer closes the socket when it
// fires, failing the operation in flight. Shared with the timers' handlers, which may
// run after the MIGRATE has ended.
class TargetLink : public std::enable_shared_from_this<TargetLink> {
 public:
  TargetLink(asio::any_io_executor ex, std::string name) : name_(std::move(name)), socket_(ex), timer_(ex), idle_(ex) {}

  // kUnresolved: the host name did not resolve.
  enum class Result { kOk, kTimeout, kError, kUnresolved };

  const std::string& name() const { return name_; }
  // The database the connection has selected (-1: unknown), as Redis's last_dbid.
  int64_t selected_db = -1;
  bool busy = false;

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

  // Resolves and connects, within the timeout.
  awaitable<Result> Connect(const std::string& host, const std::string& port) {
    Arm();
    boost::system::error_code ec;
    asio::ip::tcp::resolver resolver(socket_.get_executor());
    auto endpoints = co_await resolver.async_resolve(host, port, asio::redirect_error(use_awaitable, ec));
    if (ec || timed_out_) {
      Result r = Disarm(true);
      co_return r == Result::kTimeout ? r : Result::kUnresolved;
    }
    co_await asio::async_connect(socket_, endpoints, asio::redirect_error(use_awaitable, ec));
    Result r = Disarm(static_cast<bool>(ec));
    if (r == Result::kOk) socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    co_return r;
  }

  // Writes `buf` in chunks, each within the timeout.
  awaitable<Result> Write(const std::string& buf) {
    boost::system::error_code ec;
    for (size_t pos = 0; pos < buf.size();) {
      const size_t n = std::min(kWriteChunk, buf.size() - pos);
      Arm();
      co_await asio::async_write(socket_, asio::buffer(buf.data() + pos, n), asio::redirect_error(use_awaitable, ec));
      if (Result r = Disarm(static_cast<bool>(ec)); r != Result::kOk) co_return r;
      pos += n;
    }
    co_return Result::kOk;
  }

  // Reads one reply line (without its CRLF) within the timeout.
  awaitable<Result> ReadLine(std::string* line) {
    boost::system::error_code ec;
    Arm();
    size_t n = co_await asio::async_read_until(socket_, asio::dynamic_buffer(in_, kMaxReplyLine), "\r\n",
                                               asio::redirect_error(use_awaitable, ec));
    if (Result r = Disarm(static_cast<bool>(ec)); r != Result::kOk) co_return r;
    line->assign(in_, 0, n - 2);
    in_.erase(0, n);
    co_return Result::kOk;
  }

  void Close() {
    boost::system::error_code ec;
    socket_.close(ec);
  }

  // Calls `expire` once the link has been idle for `idle` (a later call re-arms).
  template <typename Expire>
  void WhenIdleFor(std::chrono::milliseconds idle, Expire expire) {
    idle_.expires_after(idle);
    std::weak_ptr<TargetLink> weak = weak_from_this();
    idle_.async_wait([weak, expire](const boost::system::error_code& e) {
      if (e) return;
      if (auto self = weak.lock(); self && !self->busy) expire(self);
    });
  }

 private:
  void Arm() {
    timed_out_ = false;
    timer_.expires_after(timeout_);
    std::weak_ptr<TargetLink> weak = weak_from_this();
    timer_.async_wait([weak](const boost::system::error_code& e) {
      if (e) return;
      if (auto self = weak.lock()) {
        self->timed_out_ = true;
        self->Close();
      }
    });
  }
  Result Disarm(bool failed) {
    timer_.cancel();
    if (timed_out_) return Result::kTimeout;
    return failed ? Result::kError : Result::kOk;
  }

  std::string name_;
  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  asio::steady_timer idle_;
  std::chrono::milliseconds timeout_{1000};
  bool timed_out_ = false;
  std::string in_;
};

// The connections MIGRATE keeps open, as Redis's migrate socket cache: one per
// "host:port", closed after 10 s unused, on an I/O error, or to make room (at most 64
// per thread). Each thread has its own (a socket belongs to its thread's loop), so
// MIGRATEs from clients of different threads use different connections. A cached
// connection in use by another MIGRATE of the same thread is not shared: that MIGRATE
// opens one of its own, used once.
//
// Thread-safety: thread-local; the links are used on their thread only.
class TargetLinkCache {
 public:
  static constexpr size_t kMaxLinks = 64;
  static constexpr std::chrono::milliseconds kIdleClose{10000};

  static TargetLinkCache& ThisThread() {
    thread_local TargetLinkCache cache;
    return cache;
  }

  // The cached link to `name`, marked busy; null when there is none or it is busy.
  std::shared_ptr<TargetLink> TakeIdle(const std::string& name) {
    auto it = links_.find(name);
    if (it == links_.end() || it->second->busy) return nullptr;
    it->second->busy = true;
    return it->second;
  }

  // A new link (busy), cached unless another link to the same target is.
  std::shared_ptr<TargetLink> Add(asio::any_io_executor ex, const std::string& name) {
    auto link = std::make_shared<TargetLink>(ex, name);
    link->busy = true;
    if (links_.count(name)) return link;
    if (links_.size() >= kMaxLinks) {
      // Make room: an idle link if there is one (Redis closes a random one).
      auto victim = std::find_if(links_.begin(), links_.end(), [](auto& e) { return !e.second->busy; });
      if (victim == links_.end()) return link;
      victim->second->Close();
      links_.erase(victim);
    }
    links_.emplace(name, link);
    return link;
  }

  // The MIGRATE is done with `link`, which is still usable.
  void Release(const std::shared_ptr<TargetLink>& link) {
    link->busy = false;
    link->WhenIdleFor(kIdleClose, [](const std::shared_ptr<TargetLink>& l) { ThisThread().Drop(l); });
  }

  // Closes `link` and forgets it.
  void Drop(const std::shared_ptr<TargetLink>& link) {
    link->Close();
    link->busy = false;
    auto it = links_.find(link->name());
    if (it != links_.end() && it->second == link) links_.erase(it);
  }

 private:
  std::unordered_map<std::string, std::shared_ptr<TargetLink>> links_;
};

void AppendBulk(std::string& out, std::string_view s) {
  out += '$';
  out += std::to_string(s.size());
  out += "\r\n";
  out.append(s);
  out += "\r\n";
}

void AppendCommand(std::string& out, std::initializer_list<std::string_view> argv) {
  out += '*';
  out += std::to_string(argv.size());
  out += "\r\n";
  for (std::string_view a : argv) AppendBulk(out, a);
}

// ---- The command ----

// What one MIGRATE carries from its dump step to its deletions.
struct Transfer {
  std::vector<const std::string*> keys;
  std::vector<int64_t> expire_ms;  // each key's deadline when read (0: none)
  // One RESTORE per key, ready to send; payload[i] is key i's DUMP payload, inside it.
  std::string restores;
  std::vector<std::pair<size_t, size_t>> payload;  // offset, length in restores
  std::string_view PayloadOf(size_t i) const { return std::string_view(restores).substr(payload[i].first, payload[i].second); }
};

enum class Attempt { kDone, kRetry };

// One try at the transfer over a cached or new link, in Redis's shape: a failure before
// any key was confirmed that is not a timeout is retried once (`may_retry`) on a new
// connection, since a cached one may have been closed by the target meanwhile.
awaitable<Attempt> TryTransfer(Server& srv, resp::ReplyBuilder& rb, unsigned db, const MigrateRequest& req,
                               const Transfer& tr, bool may_retry) {
  using Result = TargetLink::Result;
  TargetLinkCache& cache = TargetLinkCache::ThisThread();
  const std::string name = req.host + ":" + req.port;
  std::shared_ptr<TargetLink> link = cache.TakeIdle(name);
  const std::chrono::milliseconds timeout(req.timeout_ms);
  Result r = Result::kOk;
  if (link) {
    link->set_timeout(timeout);
  } else {
    auto ex = co_await asio::this_coro::executor;
    link = cache.Add(ex, name);
    link->set_timeout(timeout);
    r = co_await link->Connect(req.host, req.port);
    // A host that does not resolve or a connect that times out is Redis's "connecting"
    // error; a refused connect fails as the write that follows it does in Redis.
    if (r == Result::kTimeout || r == Result::kUnresolved) {
      cache.Drop(link);
      rb.Error(kIoErrConnecting);
      co_return Attempt::kDone;
    }
  }
  // Fails the attempt after an I/O error: retried, or the IOERR reply.
  auto failed = [&](Result res, const char* error) {
    cache.Drop(link);
    if (may_retry && res != Result::kTimeout) return Attempt::kRetry;
    rb.Error(error);
    return Attempt::kDone;
  };

  std::string head;
  if (req.password) {
    if (req.user) AppendCommand(head, {"AUTH", *req.user, *req.password});
    else AppendCommand(head, {"AUTH", *req.password});
  }
  const bool select = link->selected_db != req.db;
  const std::string db_arg = std::to_string(req.db);
  if (select) AppendCommand(head, {"SELECT", db_arg});
  if (r == Result::kOk) r = co_await link->Write(head);
  if (r == Result::kOk) r = co_await link->Write(tr.restores);
  if (r != Result::kOk) co_return failed(r, kIoErrWriting);

  std::string auth_reply, select_reply, line;
  if (req.password && (r = co_await link->ReadLine(&auth_reply)) != Result::kOk) co_return failed(r, kIoErrReading);
  if (select && (r = co_await link->ReadLine(&select_reply)) != Result::kOk) co_return failed(r, kIoErrReading);

  // The replies. The first error (AUTH's, SELECT's, or a RESTORE's) is the answer; a
  // failed AUTH or SELECT fails every key. Keys whose RESTORE succeeded are deleted
  // (unless COPY) even after another key's error, as Redis does.
  const bool auth_failed = req.password && auth_reply.starts_with('-');
  const bool select_failed = select && select_reply.starts_with('-');
  std::string target_error;
  size_t confirmed = 0;
  for (; confirmed < tr.keys.size(); ++confirmed) {
    if ((r = co_await link->ReadLine(&line)) != Result::kOk) break;
    if (auth_failed || select_failed || line.starts_with('-')) {
      if (target_error.empty()) {
        link->selected_db = -1;
        const std::string& e = auth_failed ? auth_reply : select_failed ? select_reply : line;
        target_error = "ERR Target instance replied with error: " + e.substr(1);
      }
      continue;
    }
    if (req.copy) continue;
    const size_t i = confirmed;
    const std::string& key = *tr.keys[i];
    const std::string expire = std::to_string(tr.expire_ms[i]);
    std::vector<std::string_view> args{"migrate", key, tr.PayloadOf(i), expire};
    std::vector<std::string_view> key_list{key};
    const unsigned shard = store::ShardOf(key, srv.shards().size());
    co_await RunOnKeyShard(srv.shards(), shard, DeleteSpec(), args, key_list, db, 2);
  }
  const bool socket_error = r != Result::kOk;
  if (socket_error && confirmed == 0 && target_error.empty()) co_return failed(r, kIoErrReading);
  if (socket_error) cache.Drop(link);
  else cache.Release(link);
  if (!target_error.empty()) {
    rb.Error(target_error);
  } else if (socket_error) {
    rb.Error(kIoErrReading);
  } else {
    link->selected_db = req.db;
    rb.Ok();
  }
  co_return Attempt::kDone;
}

// The whole MIGRATE after its arguments were accepted; replies into rb.
awaitable<void> RunMigrate(Server& srv, resp::ReplyBuilder& rb, unsigned db, const MigrateRequest& req) {
  // The keys that exist, with their payloads. A key that expired before it was read is
  // left out, as Redis leaves out a key found expired when it serializes.
  Transfer tr;
  for (const std::string& key : req.keys) {
    DumpedKey d = co_await DumpKey(srv, db, key);
    if (!d.found) continue;
    // Its remaining TTL, at least 1 ms for a key with a deadline, as Redis sends it.
    const int64_t ttl = d.expire_ms ? std::max<int64_t>(1, d.expire_ms - d.read_at_ms) : 0;
    const std::string ttl_arg = std::to_string(ttl);
    tr.restores += req.replace ? "*5\r\n" : "*4\r\n";
    AppendBulk(tr.restores, "RESTORE");
    AppendBulk(tr.restores, key);
    AppendBulk(tr.restores, ttl_arg);
    tr.restores += '$';
    tr.restores += std::to_string(d.payload.size());
    tr.restores += "\r\n";
    tr.payload.emplace_back(tr.restores.size(), d.payload.size());
    tr.restores += d.payload;
    tr.restores += "\r\n";
    if (req.replace) AppendBulk(tr.restores, "REPLACE");
    tr.keys.push_back(&key);
    tr.expire_ms.push_back(d.expire_ms);
  }
  if (tr.keys.empty()) {
    rb.SimpleString("NOKEY");
    co_return;
  }
  const Attempt first = co_await TryTransfer(srv, rb, db, req, tr, true);
  if (first == Attempt::kRetry) co_await TryTransfer(srv, rb, db, req, tr, false);
}

void MigrateCommand(store::ConnectionContext& c) {
  auto req = std::make_shared<MigrateRequest>();
  if (std::string error = ParseMigrate(c.args, req.get()); !error.empty()) {
    c.reply.Error(error);
    return;
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  const unsigned db = c.conn.db;
  c.then = [&srv, &rb, db, req]() -> awaitable<void> { co_await RunMigrate(srv, rb, db, *req); };
}

}  // namespace

void RegisterMigrateFamily(store::CommandTable& t) {
  using namespace store;
  CommandFamily family(t, kAclKeyspace);
  family << CommandRow("migrate", -6, kCmdWrite, 3, 3, 1)
                .Connection(MigrateCommand)
                .Keys(MigrateKeys)
                .Acl(kAclDangerous);
}

}  // namespace darter::server
