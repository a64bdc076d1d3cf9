#include "server/repl/replica.h"

#include "server/core/monitor_feed.h"

#include <algorithm>
#include <chrono>

#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/repl/journal.h"
#include "server/core/log.h"
#include "server/persist/rdb_loader.h"
#include "server/repl/repl_master.h"
#include "server/core/server.h"
#include "server/core/transaction.h"
#include "store/exec_block.h"
#include "store/string_util.h"

namespace darter::server {

namespace {
constexpr auto kConnectTimeout = std::chrono::seconds(10);
constexpr int kMaxBackoffMs = 5000;
constexpr size_t kReadChunk = 64 * 1024;
// A MULTI block waits in memory until its EXEC; Redis never sends one this large.
constexpr int64_t kMaxBlockBytes = 1ll << 30;
// Plain commands of the stream applied as one pipeline at most (see pending_).
constexpr size_t kMaxPendingCommands = 1024;
}  // namespace

ReplicaLink::ReplicaLink(Server& server, std::string host, int port)
    : server_(server), host_(std::move(host)), port_(port) {
  // The stream carries whatever clients sent the primary: no inline or size limits
  // beyond Redis's own.
  resp::ParserLimits limits;
  parser_ = resp::RequestParser(limits);
  // master_last_error speaks for the current link only: a new REPLICAOF starts without
  // the previous link's error (constructed inside REPLICAOF, before it replies).
  server_.repl_state().Update([](ReplicationSnapshot& s) { s.last_error.clear(); });
}

ReplicaLink::~ReplicaLink() = default;

void ReplicaLink::Start() {
  auto self = shared_from_this();
  asio::co_spawn(server_.shards().at(0).ctx(), [self]() -> awaitable<void> { co_await self->Run(); },
                 asio::detached);
}


void ReplicaLink::UpdateServerState(const std::function<void(ReplicationSnapshot&)>& fn) {
  server_.repl_state().Update(fn);
}

void ReplicaLink::Stop() {
  stop_.store(true);
  // Before REPLICAOF returns: what this server journals from now on is its own stream.
  server_.repl_master().EndUpstream(this);
  auto self = shared_from_this();
  asio::post(server_.shards().at(0).ctx(), [self] {
    if (self->io_) self->io_->stream.Close();
  });
}

void ReplicaLink::HandOver(std::string replid, int64_t offset) {
  master_replid_ = std::move(replid);
  applied_offset_ = offset;
  handover_.store(Handover::kPending);
}

void ReplicaLink::Fail(const std::string& why) {
  LOG_WARNING("replication with %s:%d: %s", host_.c_str(), port_, why.c_str());
  UpdateState([&](ReplicationSnapshot& s) { s.last_error = why; });
  if (io_) io_->stream.Close();
}

awaitable<void> ReplicaLink::Run() {
  auto self = shared_from_this();
  {
    boost::asio::ip::tcp::socket none(server_.shards().at(0).ctx());
    master_client_ = std::make_shared<Connection>(server_, 0, std::move(none), 0);
    master_client_->is_master = true;
    master_client_->authenticated = true;
    master_client_->name = "master";
    master_client_->peer_address = host_ + ":" + std::to_string(port_);  // what MONITOR shows for the stream
  }
  int backoff_ms = 100;
  while (!stop_.load()) {
    SessionEnd end = co_await Session();
    // A link that got as far as streaming retries at once; repeated failures back off.
    if (link_was_up_) backoff_ms = 100;
    link_was_up_ = false;
    connected_ = false;
    UpdateState([&](ReplicationSnapshot& s) {
      if (s.link_up) s.link_down_since_ms = store::UnixTimeMs();
      s.link_up = false;
      s.link_state = "connect";
      s.sync_in_progress = false;
    });
    server_.set_loading(false);
    if (end == SessionEnd::kStopped || stop_.load()) break;
    LOG_NOTICE("replication: reconnecting to %s:%d in %d ms", host_.c_str(), port_, backoff_ms);
    asio::steady_timer timer(server_.shards().at(0).ctx());
    timer.expires_after(std::chrono::milliseconds(backoff_ms));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    backoff_ms = std::min(backoff_ms * 2, kMaxBackoffMs);
  }
  LOG_NOTICE("replication from %s:%d stopped", host_.c_str(), port_);
}

awaitable<bool> ReplicaLink::ReadMore() {
  if (in_pos_ > 0 && in_pos_ == in_.size()) {
    in_.clear();
    in_pos_ = 0;
  } else if (in_pos_ > (1 << 20)) {
    in_.erase(0, in_pos_);
    in_pos_ = 0;
  }
  size_t old = in_.size();
  in_.resize(old + kReadChunk);
  boost::system::error_code ec;
  size_t n = co_await io_->stream.async_read_some(asio::buffer(in_.data() + old, kReadChunk),
                                               asio::redirect_error(use_awaitable, ec));
  in_.resize(old + n);
  if (ec || n == 0) {
    if (!stop_.load()) Fail(ec ? "connection lost: " + ec.message() : "connection closed by the primary");
    co_return false;
  }
  last_io_ms_ = store::UnixTimeMs();
  UpdateState([&](ReplicationSnapshot& s) { s.last_io_ms = last_io_ms_; });
  co_return true;
}

awaitable<bool> ReplicaLink::ReadLine(std::string* line, bool skip_keepalives) {
  while (true) {
    // The primary sends bare "\n" keep-alives while it prepares a snapshot.
    if (skip_keepalives)
      while (in_pos_ < in_.size() && in_[in_pos_] == '\n') in_pos_++;
    size_t eol = in_.find("\r\n", in_pos_);
    if (eol != std::string::npos) {
      line->assign(in_, in_pos_, eol - in_pos_);
      in_pos_ = eol + 2;
      co_return true;
    }
    if (in_.size() - in_pos_ > 64 * 1024) {
      Fail("protocol error: line too long from the primary");
      co_return false;
    }
    if (!co_await ReadMore()) co_return false;
  }
}

bool ReplicaLink::SendCommand(std::initializer_list<std::string_view> argv) {
  if (!io_ || !io_->stream.is_open()) return false;
  io_->out += EncodeCommand(argv);
  StartWriter();
  return true;
}

void ReplicaLink::StartWriter() {
  if (io_->writing) return;
  io_->writing = true;
  auto self = shared_from_this();
  std::shared_ptr<LinkIo> io = io_;
  asio::co_spawn(
      io->stream.get_executor(),
      [self, io]() -> awaitable<void> {
        std::string buf;
        while (!io->out.empty()) {
          buf.swap(io->out);
          boost::system::error_code ec;
          co_await asio::async_write(io->stream, asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
          buf.clear();
          if (ec) {
            io->out.clear();
            // Only the current link reports; an old one was closed on purpose.
            if (self->io_ == io && !self->stop_.load()) self->Fail("write failed: " + ec.message());
            break;
          }
        }
        io->writing = false;
      },
      asio::detached);
}

bool ReplicaLink::SendAck() {
  std::string off = std::to_string(applied_offset_);
  return SendCommand({"REPLCONF", "ACK", off});
}

awaitable<void> ReplicaLink::AckLoop() {
  auto self = shared_from_this();
  asio::steady_timer timer(server_.shards().at(0).ctx());
  int64_t timeout_ms = static_cast<int64_t>(server_.config().Snapshot().repl_timeout) * 1000;
  std::shared_ptr<LinkIo> io = io_;
  while (connected_ && io_ == io && io->stream.is_open()) {
    timer.expires_after(std::chrono::seconds(1));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    if (!connected_ || io_ != io || !io->stream.is_open()) break;
    if (store::UnixTimeMs() - last_io_ms_ > timeout_ms) {
      Fail("timeout: no data from the primary for " + std::to_string(timeout_ms / 1000) + " s");
      break;
    }
    if (!SendAck()) break;
  }
}

awaitable<void> ReplicaLink::FlushAllDatabases() {
  ShardSet& shards = server_.shards();
  std::vector<asio::io_context*> ctxs;
  for (unsigned i = 0; i < shards.size(); ++i) ctxs.push_back(&shards.at(i).ctx());
  co_await AwaitAll(ctxs, [&](size_t i) {
    store::Shard& sh = shards.at(static_cast<unsigned>(i)).shard();
    for (unsigned d = 0; d < sh.db_count(); ++d) sh.FlushDb(d);
  });
}

awaitable<std::string> ReplicaLink::Connect() {
  auto& ctx = server_.shards().at(0).ctx();
  const ServerOptions opts = server_.config().Snapshot();
  std::shared_ptr<asio::ssl::context> tls;
  if (opts.tls_replication) {
    tls = server_.tls().Current().client;
    if (!tls) co_return "tls-replication is on but TLS is not configured (see the TLS errors logged)";
  }
  io_ = std::make_shared<LinkIo>(asio::ip::tcp::socket(ctx), tls);
  std::shared_ptr<LinkIo> io = io_;
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(ctx);
  std::string service = std::to_string(port_);
  auto endpoints = co_await resolver.async_resolve(host_, service, asio::redirect_error(use_awaitable, ec));
  if (ec) co_return "cannot resolve " + host_ + ": " + ec.message();
  asio::steady_timer guard(ctx);
  guard.expires_after(kConnectTimeout);
  auto connecting = std::make_shared<bool>(true);
  guard.async_wait([io, connecting](const boost::system::error_code& e) {
    if (!e && *connecting) io->stream.Close();
  });
  co_await asio::async_connect(io->stream.tcp(), endpoints, asio::redirect_error(use_awaitable, ec));
  *connecting = false;
  guard.cancel();
  if (ec) co_return "cannot connect: " + ec.message();
  io->stream.tcp().set_option(asio::ip::tcp::no_delay(true), ec);
  if (io->stream.tls()) {
    // SNI: tls-replication-sni, else the primary's host name (never an address).
    const std::string& sni = opts.tls_replication_sni.empty() ? host_ : opts.tls_replication_sni;
    ec = co_await io->stream.ClientHandshake(sni, !opts.tls_replication_insecure, kConnectTimeout);
    if (ec) co_return "TLS handshake with the primary failed: " + net::DescribeStreamError(ec);
  }
  co_return std::string();
}

awaitable<ReplicaLink::SessionEnd> ReplicaLink::Session() {
  auto& ctx = server_.shards().at(0).ctx();
  in_.clear();
  in_pos_ = 0;
  parser_.Reset();
  in_multi_ = false;
  block_.clear();
  block_raw_.clear();
  UpdateState([&](ReplicationSnapshot& s) { s.link_state = "connecting"; });

  // Connect (and handshake), bounded in time.
  std::string error = co_await Connect();
  if (!error.empty() || stop_.load()) {
    if (!stop_.load()) Fail(error);
    co_return stop_.load() ? SessionEnd::kStopped : SessionEnd::kRetry;
  }
  last_io_ms_ = store::UnixTimeMs();
  LOG_NOTICE("replication: connected to primary %s:%d", host_.c_str(), port_);

  // Handshake.
  std::string line;
  if (!SendCommand({"PING"}) || !co_await ReadLine(&line, true)) co_return SessionEnd::kRetry;
  if (!line.empty() && line[0] == '-' && line.rfind("-NOAUTH", 0) != 0 && line.rfind("-NOPERM", 0) != 0 &&
      line.rfind("-ERR operation not permitted", 0) != 0) {
    Fail("primary answered PING with " + line);
    co_return SessionEnd::kRetry;
  }
  ServerOptions opts = server_.config().Snapshot();
  if (!opts.masterauth.empty()) {
    bool sent = opts.masteruser.empty() ? SendCommand({"AUTH", opts.masterauth})
                                        : SendCommand({"AUTH", opts.masteruser, opts.masterauth});
    if (!sent || !co_await ReadLine(&line, true)) co_return SessionEnd::kRetry;
    if (line != "+OK") {
      Fail("AUTH refused by the primary: " + line);
      co_return SessionEnd::kRetry;
    }
  }
  // The port clients reach this server on, as Redis: the TLS one under tls-replication.
  // replica-announce-port / -ip stand in for them behind NAT or port forwarding.
  std::string port = std::to_string(opts.replica_announce_port ? static_cast<int>(opts.replica_announce_port)
                                    : opts.tls_replication && server_.tls_bound_port() ? server_.tls_bound_port()
                                                                                       : server_.bound_port());
  if (!SendCommand({"REPLCONF", "listening-port", port}) || !co_await ReadLine(&line, true))
    co_return SessionEnd::kRetry;
  if (!opts.replica_announce_ip.empty() &&
      (!SendCommand({"REPLCONF", "ip-address", opts.replica_announce_ip}) || !co_await ReadLine(&line, true)))
    co_return SessionEnd::kRetry;
  if (!SendCommand({"REPLCONF", "capa", "eof", "capa", "psync2"}) || !co_await ReadLine(&line, true))
    co_return SessionEnd::kRetry;

  // A Darter primary answers "capa darter" with its multi-flow handshake; Redis with +OK.
  // A handover (FAILOVER) goes over PSYNC, whose FAILOVER option does the switch.
  const bool handing_over = handover_.load() == Handover::kPending;
  if (opts.repl_multi_flow && !handing_over) {
    if (!SendCommand({"REPLCONF", "capa", "darter"}) || !co_await ReadLine(&line, true)) co_return SessionEnd::kRetry;
    if (!line.empty() && line[0] == '*') {
      std::vector<std::string> items;
      auto count = store::ParseInt64(line.substr(1));
      for (int64_t i = 0; count && i < *count && i < 16; ++i) {
        if (!co_await ReadLine(&line, true)) co_return SessionEnd::kRetry;
        items.push_back(line.empty() ? "" : line.substr(1));
      }
      auto flows = items.size() >= 3 ? store::ParseInt64(items[2]) : std::nullopt;
      if (items.size() < 4 || items[0].size() != 40 || items[1].rfind("SYNC", 0) != 0 || !flows || *flows <= 0 ||
          *flows > 1024) {
        Fail("malformed multi-flow handshake from the primary");
        co_return SessionEnd::kRetry;
      }
      if (items[3] != std::to_string(kFlowProtocolVersion)) {
        Fail("the primary speaks multi-flow protocol version " + items[3] + ", this server version " +
             std::to_string(kFlowProtocolVersion) + " (run both at the same release, or --repl-multi-flow no)");
        co_return SessionEnd::kRetry;
      }
      if (items[0] == server_.repl_master().journal_id()) {
        Fail("can't replicate from myself");
        co_return SessionEnd::kRetry;
      }
      co_return co_await MultiFlowSession(items[0], items[1], static_cast<unsigned>(*flows));
    }
  }
  UpdateState([&](ReplicationSnapshot& s) { s.protocol = "psync"; });
  merger_.reset();

  std::string psync_id = master_replid_.empty() ? "?" : master_replid_;
  std::string psync_off = master_replid_.empty() ? "-1" : std::to_string(applied_offset_ + 1);
  const bool sent = handing_over ? SendCommand({"PSYNC", psync_id, psync_off, "FAILOVER"})
                                 : SendCommand({"PSYNC", psync_id, psync_off});
  if (!sent || !co_await ReadLine(&line, true)) co_return SessionEnd::kRetry;
  if (handing_over) {
    const bool accepted = line.rfind("+FULLRESYNC ", 0) == 0 || line.rfind("+CONTINUE", 0) == 0;
    handover_.store(accepted ? Handover::kAccepted : Handover::kRejected);
    if (!accepted) {
      Fail("the failover target refused the handover: " + line);
      co_return SessionEnd::kStopped;
    }
  }

  if (line.rfind("+FULLRESYNC ", 0) == 0) {
    std::string rest = line.substr(12);
    size_t sp = rest.find(' ');
    std::string id = rest.substr(0, sp);
    auto off = sp == std::string::npos ? std::nullopt : store::ParseInt64(rest.substr(sp + 1));
    if (id.size() != 40 || !off) {
      Fail("malformed FULLRESYNC reply: " + line);
      co_return SessionEnd::kRetry;
    }
    LOG_NOTICE("replication: full resync from %s:%d (replid %s, offset %lld)", host_.c_str(), port_, id.c_str(),
               static_cast<long long>(*off));
    if (!co_await FullSync(id, *off)) co_return stop_.load() ? SessionEnd::kStopped : SessionEnd::kRetry;
  } else if (line.rfind("+CONTINUE", 0) == 0) {
    std::string new_id = line.size() > 10 ? line.substr(10) : "";
    if (!new_id.empty() && new_id != master_replid_) {
      // The primary's history changed (failover): adopt its id, keep the old as replid2.
      std::string old = master_replid_;
      master_replid_ = new_id;
      server_.repl_master().ContinueUpstream(this, new_id, applied_offset_);
      UpdateState([&](ReplicationSnapshot& s) {
        s.replid2 = old;
        s.second_repl_offset = applied_offset_ + 1;
        s.replid = new_id;
      });
    } else {
      server_.repl_master().ContinueUpstream(this, master_replid_, applied_offset_);
    }
    LOG_NOTICE("replication: partial resync from %s:%d accepted at offset %lld", host_.c_str(), port_,
               static_cast<long long>(applied_offset_ + 1));
    UpdateState([&](ReplicationSnapshot& s) { s.partial_syncs++; });
  } else if (line.rfind("-NOMASTERLINK", 0) == 0 || line.rfind("-LOADING", 0) == 0) {
    Fail("primary cannot serve a sync right now: " + line);
    co_return SessionEnd::kRetry;
  } else {
    Fail("primary refused PSYNC: " + line);
    co_return SessionEnd::kRetry;
  }

  connected_ = true;
  link_was_up_ = true;
  UpdateState([&](ReplicationSnapshot& s) {
    s.link_up = true;
    s.link_state = "connected";
    s.sync_in_progress = false;
    s.last_error.clear();
  });
  auto self = shared_from_this();
  asio::co_spawn(ctx, [self]() -> awaitable<void> { co_await self->AckLoop(); }, asio::detached);
  co_await StreamCommands();
  connected_ = false;
  co_return stop_.load() ? SessionEnd::kStopped : SessionEnd::kRetry;
}

awaitable<bool> ReplicaLink::FullSync(const std::string& replid, int64_t offset) {
  std::string header;
  if (!co_await ReadLine(&header, true)) co_return false;
  if (header.empty() || header[0] != '$') {
    Fail("primary aborted the transfer: " + header);
    co_return false;
  }
  std::string eof_mark;
  int64_t remaining = -1;
  if (header.rfind("$EOF:", 0) == 0) {
    eof_mark = header.substr(5);
    if (eof_mark.size() != 40) {
      Fail("malformed EOF mark in " + header);
      co_return false;
    }
  } else {
    auto len = store::ParseInt64(header.substr(1));
    if (!len || *len < 0) {
      Fail("malformed RDB length " + header);
      co_return false;
    }
    remaining = *len;
  }
  diskless_ = !eof_mark.empty();
  UpdateState([&](ReplicationSnapshot& s) {
    s.link_state = "sync";
    s.sync_in_progress = true;
    s.sync_total_bytes = remaining;
    s.sync_read_bytes = 0;
    s.sync_keys = 0;
  });
  server_.set_loading(true);
  // Our own replicas followed the dataset we are about to replace; once it is loaded,
  // they follow our primary's stream as we proxy it.
  server_.repl_master().NewHistory(this);
  const int64_t sync_started_ms = store::UnixTimeMs();
  // A full resync replaces the dataset: whatever we had belongs to another history.
  co_await FlushAllDatabases();
  ShardedRdbLoader loader(server_.shards(), server_.db_count(), /*keep_expired=*/true,
                          server_.config().Snapshot().rdbchecksum);
  int64_t read_total = 0;
  while (!loader.done()) {
    if (in_pos_ == in_.size() && !co_await ReadMore()) {
      co_await loader.Flush();
      co_return false;
    }
    std::string_view avail(in_.data() + in_pos_, in_.size() - in_pos_);
    if (remaining >= 0 && static_cast<int64_t>(avail.size()) > remaining) avail = avail.substr(0, remaining);
    size_t consumed = 0;
    rdb::Status st = loader.Feed(avail, &consumed);
    if (!st.ok()) {
      co_await loader.Flush();
      Fail("RDB from the primary is invalid: " + st.message());
      co_return false;
    }
    in_pos_ += consumed;
    read_total += consumed;
    if (remaining >= 0) {
      remaining -= consumed;
      if (remaining == 0 && !loader.done()) {
        co_await loader.Flush();
        Fail("RDB from the primary is truncated: it ended after " + std::to_string(read_total) +
             " bytes without its EOF record");
        co_return false;
      }
    }
    UpdateState([&](ReplicationSnapshot& s) {
      s.sync_read_bytes = read_total;
      s.sync_last_io_ms = last_io_ms_;
      s.sync_keys = loader.keys_loaded();
    });
    if (loader.ShouldFlush()) co_await loader.Flush();
  }
  co_await loader.Flush();
  if (remaining > 0) {
    Fail("primary announced " + std::to_string(read_total + remaining) + " RDB bytes but the RDB ended after " +
         std::to_string(read_total));
    co_return false;
  }
  if (!eof_mark.empty()) {
    while (in_.size() - in_pos_ < 40)
      if (!co_await ReadMore()) co_return false;
    if (in_.compare(in_pos_, 40, eof_mark) != 0) {
      Fail("diskless transfer did not end with its EOF mark");
      co_return false;
    }
    in_pos_ += 40;
  }
  master_replid_ = replid;
  applied_offset_ = offset;
  const auto& info = loader.repl_info();
  current_db_ = info.repl_stream_db >= 0 ? static_cast<unsigned>(info.repl_stream_db) : 0;
  master_client_->db = current_db_;
  server_.repl_master().StartUpstream(this, replid, offset, current_db_);
  server_.set_loading(false);
  UpdateState([&](ReplicationSnapshot& s) {
    s.replid = replid;
    s.repl_offset = offset;
    s.read_offset = offset;
    s.sync_in_progress = false;
    s.full_syncs++;
    s.sync_keys = loader.keys_loaded();
    s.last_sync_keys = loader.keys_loaded();
    s.last_sync_bytes = read_total;
    s.last_sync_ms = store::UnixTimeMs() - sync_started_ms;
  });
  LOG_NOTICE("replication: loaded %llu keys (%lld bytes) from the primary%s",
             static_cast<unsigned long long>(loader.keys_loaded()), static_cast<long long>(read_total),
             loader.duplicates() ? " (duplicate keys were overwritten)" : "");
  // In the diskless form the primary holds the stream until it hears an ACK.
  if (diskless_ && !SendAck()) co_return false;
  co_return true;
}

// A command the primary accepted but this server refused means the copy may differ
// (an unsupported command, a script propagated verbatim). Say so — once per command name, so a busy stream cannot flood the log.
void ReplicaLink::ReportRefused(const std::string& name, const std::string& error) {
  refused_count_++;
  if (!refused_names_.insert(name).second) return;
  LOG_WARNING("replication: the primary sent '%s', which this server refused (%s); the copy may differ",
              name.c_str(), error.c_str());
  UpdateState([&](ReplicationSnapshot& s) {
    s.last_error = "refused '" + name + "' from the primary: " + error;
  });
}

awaitable<void> ReplicaLink::ApplyBlock() {
  std::vector<store::ExecBlockOp::Command> commands;
  // PUBLISH inside a block (MULTI or a script on the primary) changes no data: the
  // block's writes apply atomically, then its messages reach local subscribers in order.
  // FUNCTION LOAD/DELETE/FLUSH/RESTORE in a block change no keys either (the block's
  // runner has no connection to run them): they apply after it, in order, the same way.
  std::vector<std::vector<std::string>> publishes;
  for (auto& argv : block_) {
    store::ExecBlockOp::Command c;
    c.spec = store::CommandTable::Global().Find(argv[0]);
    if (c.spec && c.spec->conn_handler && ((c.spec->flags & store::kCmdPubSub) || c.spec->name == "function")) {
      publishes.push_back(std::move(argv));
      continue;
    }
    c.argv = std::move(argv);
    commands.push_back(std::move(c));
  }
  block_.clear();
  // MONITOR shows the block as Redis's replica does: MULTI, its commands, EXEC.
  if (MonitorsActive() && !commands.empty()) [[unlikely]]
    FeedBlockToMonitors(*master_client_, commands);
  if (!commands.empty()) {
    store::ExecBlockOp op(std::move(commands), master_client_->db, server_.db_count(), 2);
    std::string discard;
    resp::ReplyBuilder rb(&discard);
    std::vector<size_t> keys = op.lock_key_indices();
    co_await RunOp(server_.shards(), op, op.lock_args(), keys, master_client_->db, rb);
    master_client_->db = op.db();  // a SELECT inside the block stays in effect, as on the primary
  }
  for (auto& argv : publishes) {
    std::vector<std::string_view> views(argv.begin(), argv.end());
    std::string error = co_await master_client_->ExecuteAsMaster(store::ArgList(views));
    if (!error.empty()) ReportRefused(store::ToLower(views[0]), error);
  }
}

awaitable<bool> ReplicaLink::StreamCommands() {
  ReplicationMaster& m = server_.repl_master();
  // Held while a chunk of the stream is applied, so a sub-replica's snapshot is taken
  // between two commands, at an offset the proxied stream reached exactly. Released on
  // every way out (explicitly: a frame destroyed with the loop must not touch the gate).
  ApplyGate& gate = m.apply_gate();
  while (!stop_.load()) {
    co_await gate.Lock();
    bool ok = co_await ApplyChunk();
    gate.Unlock();
    if (!ok || !co_await ReadMore()) co_return false;
  }
  co_return false;
}

// Applies every complete command in the buffer. False when the link failed.
awaitable<bool> ReplicaLink::ApplyChunk() {
  ReplicationMaster& m = server_.repl_master();
  {
    // Checked per command: after REPLICAOF NO ONE returns, nothing more is applied.
    while (in_pos_ < in_.size() && !stop_.load()) {
      resp::ParseResult r = parser_.Parse(std::string_view(in_.data() + in_pos_, in_.size() - in_pos_), &args_);
      if (r.status == resp::ParseStatus::kNeedMore) break;
      if (r.status == resp::ParseStatus::kError) {
        Fail("protocol error in the replication stream: " + std::string(r.error));
        co_return false;
      }
      int64_t bytes = static_cast<int64_t>(r.consumed);
      // The command's bytes as the primary sent them: what our own replicas get, once
      // applied (a MULTI block's at its EXEC), so their offsets are the primary's.
      std::string_view raw(in_.data() + in_pos_, r.consumed);
      if (args_.empty()) {
        in_pos_ += r.consumed;
        applied_offset_ += bytes;
        m.AppendUpstream(this, raw, master_client_->db);
        continue;
      }
      std::string name = store::ToLower(args_[0]);
      // SELECT runs alone: the commands proxied before it carry the db they ran in.
      const bool plain = !in_multi_ && name != "replconf" && name != "ping" && name != "multi" && name != "select";
      if (!plain && !pending_.empty()) {
        // The parser's views die with the next Parse: keep this command's (it re-parses
        // from the same position after the flush).
        co_await FlushPending();
        continue;
      }
      if (name == "replconf") {
        // GETACK is answered with the offset before the GETACK itself, as Redis does.
        if (args_.size() >= 2 && store::EqualsIgnoreCase(args_[1], "getack") && !SendAck()) co_return false;
        applied_offset_ += bytes;
        m.AppendUpstream(this, raw, master_client_->db);
      } else if (name == "ping") {
        applied_offset_ += bytes;
        m.AppendUpstream(this, raw, master_client_->db);
      } else if (name == "multi") {
        in_multi_ = true;
        block_.clear();
        block_bytes_ = bytes;
        block_raw_.assign(raw);
      } else if (in_multi_ && name == "exec") {
        co_await ApplyBlock();
        in_multi_ = false;
        applied_offset_ += block_bytes_ + bytes;
        block_raw_.append(raw);
        m.AppendUpstream(this, block_raw_, master_client_->db);
        std::string().swap(block_raw_);
      } else if (in_multi_) {
        block_.emplace_back(args_.begin(), args_.end());
        block_bytes_ += bytes;
        block_raw_.append(raw);
        if (block_bytes_ > kMaxBlockBytes) {
          Fail("protocol error: a MULTI block from the primary passed " + std::to_string(kMaxBlockBytes) +
               " bytes without EXEC");
          co_return false;
        }
      } else {
        // A plain command joins the pipeline; it runs at the next flush.
        const char* lo = in_.data();
        const char* hi = lo + in_.size();
        std::vector<std::string_view>& argv = pending_.emplace_back(args_.begin(), args_.end());
        for (std::string_view& a : argv) {
          if (a.data() >= lo && a.data() + a.size() <= hi) continue;
          a = pending_owned_.emplace_back(a);
        }
        pending_raw_.push_back(raw);
        in_pos_ += r.consumed;
        if (pending_.size() >= kMaxPendingCommands) co_await FlushPending();
        continue;
      }
      in_pos_ += r.consumed;
      // The parser keeps offsets into the buffer: after a complete command it restarts.
      UpdateState([&](ReplicationSnapshot& s) {
        s.repl_offset = applied_offset_;
        s.read_offset = applied_offset_ + static_cast<int64_t>(in_.size() - in_pos_);
      });
    }
  }
  if (!pending_.empty()) co_await FlushPending();
  co_return true;
}

awaitable<void> ReplicaLink::FlushPending() {
  ReplicationMaster& m = server_.repl_master();
  if (stop_.load()) {  // REPLICAOF NO ONE returned: nothing more is applied
    pending_.clear();
    pending_raw_.clear();
    pending_owned_.clear();
    co_return;
  }
  size_t failed_at = 0;
  std::string error = co_await master_client_->ExecutePipelineAsMaster(pending_, &failed_at);
  if (!error.empty() && failed_at < pending_.size()) ReportRefused(store::ToLower(pending_[failed_at][0]), error);
  // Offsets and proxying in stream order, after the commands took effect.
  for (std::string_view raw : pending_raw_) {
    applied_offset_ += static_cast<int64_t>(raw.size());
    m.AppendUpstream(this, raw, master_client_->db);
  }
  pending_.clear();
  pending_raw_.clear();
  pending_owned_.clear();
  UpdateState([&](ReplicationSnapshot& s) {
    s.repl_offset = applied_offset_;
    s.read_offset = applied_offset_ + static_cast<int64_t>(in_.size() - in_pos_);
  });
}

}  // namespace darter::server
