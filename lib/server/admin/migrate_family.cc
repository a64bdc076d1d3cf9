// MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password]
//         [AUTH2 username password] [KEYS key [key ...]]
// The design is in migrate_family.h; the replies are Redis 7.0's.
#include "server/admin/migrate_family.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
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

// ---- The target link ----

// One connection to the target, on the client's thread. Every operation is bounded by
// `timeout`: a timer closes the socket when it fires, failing the operation in flight.
// Shared with the timer's handler, which may run after the MIGRATE has ended.
class TargetLink : public std::enable_shared_from_this<TargetLink> {
 public:
  TargetLink(asio::any_io_executor ex, std::chrono::milliseconds timeout)
      : socket_(ex), timer_(ex), timeout_(timeout) {}

  // kUnresolved: the host name did not resolve.
  enum class Result { kOk, kTimeout, kError, kUnresolved };

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

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_;
  bool timed_out_ = false;
  std::string in_;
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

// The whole MIGRATE after its arguments were accepted; replies into rb.
awaitable<void> RunMigrate(Server& srv, resp::ReplyBuilder& rb, unsigned db, const MigrateRequest& req) {
  // 1. The keys that exist, with their payloads. A key that expired before it was read
  //    is left out, as Redis leaves out a key found expired when it serializes.
  std::vector<const std::string*> keys;
  std::vector<DumpedKey> dumped;
  for (const std::string& key : req.keys) {
    DumpedKey d = co_await DumpKey(srv, db, key);
    if (!d.found) continue;
    keys.push_back(&key);
    dumped.push_back(std::move(d));
  }
  if (keys.empty()) {
    rb.SimpleString("NOKEY");
    co_return;
  }

  // 2. The request: AUTH, SELECT (always: the connection is new), one RESTORE per key
  //    with its remaining TTL (at least 1 ms for a key with a deadline).
  std::string out;
  if (req.password) {
    if (req.user) AppendCommand(out, {"AUTH", *req.user, *req.password});
    else AppendCommand(out, {"AUTH", *req.password});
  }
  const std::string db_arg = std::to_string(req.db);
  AppendCommand(out, {"SELECT", db_arg});
  for (size_t i = 0; i < keys.size(); ++i) {
    const DumpedKey& d = dumped[i];
    const int64_t ttl = d.expire_ms ? std::max<int64_t>(1, d.expire_ms - d.read_at_ms) : 0;
    const std::string ttl_arg = std::to_string(ttl);
    out += req.replace ? "*5\r\n" : "*4\r\n";
    AppendBulk(out, "RESTORE");
    AppendBulk(out, *keys[i]);
    AppendBulk(out, ttl_arg);
    AppendBulk(out, d.payload);
    if (req.replace) AppendBulk(out, "REPLACE");
  }
  // The payloads now live in `out`; what the deletion compares against stays in dumped.

  auto ex = co_await asio::this_coro::executor;
  auto link = std::make_shared<TargetLink>(ex, std::chrono::milliseconds(req.timeout_ms));
  TargetLink::Result r = co_await link->Connect(req.host, req.port);
  // A host that does not resolve or a connect that times out is Redis's "connecting"
  // error; a refused connect is reported as the write that follows it fails in Redis.
  if (r == TargetLink::Result::kTimeout || r == TargetLink::Result::kUnresolved) {
    rb.Error(kIoErrConnecting);
    co_return;
  }
  if (r == TargetLink::Result::kOk) r = co_await link->Write(out);
  if (r != TargetLink::Result::kOk) {
    link->Close();
    rb.Error(kIoErrWriting);
    co_return;
  }
  out.clear();
  out.shrink_to_fit();

  // 3. The replies. The first error (AUTH's, SELECT's, or a RESTORE's) is the answer;
  //    a failed AUTH or SELECT fails every key. Keys whose RESTORE succeeded are deleted
  //    (unless COPY) even after another key's error, as Redis does.
  std::string auth_reply, select_reply, line;
  if (req.password && co_await link->ReadLine(&auth_reply) != TargetLink::Result::kOk) {
    link->Close();
    rb.Error(kIoErrReading);
    co_return;
  }
  if (co_await link->ReadLine(&select_reply) != TargetLink::Result::kOk) {
    link->Close();
    rb.Error(kIoErrReading);
    co_return;
  }
  std::string target_error;
  bool socket_error = false;
  const store::CommandSpec& del = DeleteSpec();
  for (size_t i = 0; i < keys.size(); ++i) {
    if (co_await link->ReadLine(&line) != TargetLink::Result::kOk) {
      socket_error = true;
      break;
    }
    const bool auth_failed = req.password && auth_reply.starts_with('-');
    if (auth_failed || select_reply.starts_with('-') || line.starts_with('-')) {
      if (target_error.empty()) {
        const std::string& e = auth_failed ? auth_reply : select_reply.starts_with('-') ? select_reply : line;
        target_error = "ERR Target instance replied with error: " + e.substr(1);
      }
      continue;
    }
    if (req.copy) continue;
    const std::string& key = *keys[i];
    const std::string expire = std::to_string(dumped[i].expire_ms);
    std::vector<std::string_view> args{"migrate", key, dumped[i].payload, expire};
    std::vector<std::string_view> key_list{key};
    const unsigned shard = store::ShardOf(key, srv.shards().size());
    co_await RunOnKeyShard(srv.shards(), shard, del, args, key_list, db, 2);
  }
  link->Close();
  if (!target_error.empty()) rb.Error(target_error);
  else if (socket_error) rb.Error(kIoErrReading);
  else rb.Ok();
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
