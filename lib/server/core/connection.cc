#include "server/core/connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "resp/reply_parser.h"
#include "resp/split_args.h"
#include "server/core/cross_thread.h"
#include "server/core/dispatcher.h"
#include "server/core/http_request.h"
#include "server/core/log.h"
#include "server/core/monitor_feed.h"
#include "server/core/observer_hooks.h"
#include "server/core/protected_actions.h"
#include "server/core/server.h"
#include "server/core/transaction.h"
#include "server/core/tls_context.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {
constexpr size_t kInitialReadBuffer = 16 * 1024;
constexpr size_t kMinReadChunk = 4 * 1024;
// Redis 6.2's cap on a client's "*N" (Redis 7.0 allows up to INT_MAX). Each argument
// costs a span in the parser and a view in the batch beyond its bytes in the buffer,
// so without a cap a client could turn a 1 GB query buffer into several GB of bookkeeping
// with empty arguments. The primary's link keeps the parser's default.
constexpr size_t kClientMaxMultibulkLen = 1024 * 1024;
// Replies beyond this are written before the rest of a pipeline runs, bounding memory.
constexpr size_t kFlushThreshold = 256 * 1024;
// Commands parsed and run as one batch (bounded so replies flush regularly).
constexpr size_t kMaxBatch = 256;
// A client on the TLS port that has not finished its handshake by then is dropped.
constexpr std::chrono::milliseconds kTlsHandshakeTimeout{10000};

std::string Endpoint(const asio::ip::tcp::endpoint& ep) {
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

// Redis's tcp-keepalive: the first probe after `seconds` idle, then one every third of
// that, and the peer is declared dead after 3 unanswered probes (so a vanished client is
// dropped after about twice `seconds`). 0: no probes.
void SetTcpKeepAlive(int fd, int64_t seconds) {
  if (seconds <= 0) return;
  int on = 1, idle = static_cast<int>(seconds), interval = std::max(1, idle / 3), count = 3;
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof count);
}

}  // namespace

Connection::Connection(Server& server, unsigned thread, asio::ip::tcp::socket socket, uint64_t id,
                       std::shared_ptr<asio::ssl::context> tls)
    : server_(server),
      thread_ref_(server.shards().at(thread)),
      thread_(thread),
      stream_(std::move(socket), std::move(tls)),
      id_(id),
      parser_([&server] {
        resp::ParserLimits l;
        l.max_bulk_len = server.config().proto_max_bulk_len();
        l.max_multibulk_len = kClientMaxMultibulkLen;
        return l;
      }()),
      reply_(&out_) {
  boost::system::error_code ec;
  asio::ip::tcp::socket& tcp = stream_.tcp();
  tcp.set_option(asio::ip::tcp::no_delay(true), ec);
  SetTcpKeepAlive(tcp.native_handle(), server.config().tcp_keepalive());
  auto remote = tcp.remote_endpoint(ec);
  if (!ec) peer_address = Endpoint(remote);
  local_client = IsLoopbackPeer(tcp);
  auto local = tcp.local_endpoint(ec);
  if (!ec) local_address = Endpoint(local);
  fd = tcp.native_handle();
  created_ms = last_interaction_ms = store::UnixTimeMs();
}

void Connection::Close() {
  closed_ = true;
  if (limit_watch_) limit_watch_->cancel();
  stream_.Close();
}

std::string Connection::Describe(int64_t now_ms) const {
  std::string s;
  s += "id=" + std::to_string(id_);
  s += " addr=" + peer_address;
  s += " laddr=" + local_address;
  s += " fd=" + std::to_string(fd);
  s += " name=" + name;
  s += " age=" + std::to_string((now_ms - created_ms) / 1000);
  s += " idle=" + std::to_string((now_ms - last_interaction_ms) / 1000);
  std::string flags = ClientListFlags(*this);
  if (tracking && tracking->on) {  // Redis's t (tracking), R (broken redirect), B (BCAST)
    if (flags == " flags=N") flags.pop_back();
    flags += 't';
    if (tracking->broken_redirect) flags += 'R';
    if (tracking->bcast) flags += 'B';
  }
  if (no_evict) {  // Redis's e (CLIENT NO-EVICT on)
    if (flags == " flags=N") flags.pop_back();
    flags += 'e';
  }
  s += flags;
  s += " db=" + std::to_string(db);
  s += ClientListFamilyFields(*this) + " multi=-1";
  s += " qbuf=" + std::to_string(in_end_ - in_pos_) + " qbuf-free=" + std::to_string(in_.size() - in_end_);
  s += " argv-mem=0 multi-mem=0 rbs=" + std::to_string(in_.size()) + " rbp=0";
  s += " obl=0 oll=0 omem=" + std::to_string(pending_output()) + " tot-mem=" + std::to_string(buffer_bytes());
  const int64_t redir = tracking && tracking->on ? static_cast<int64_t>(tracking->redirect) : -1;
  s += " events=r cmd=" + last_command + " user=" + acl.name() + " redir=" + std::to_string(redir) +
       " resp=" + std::to_string(reply_.protocol());
  return s;
}

awaitable<void> Connection::Flush() {
  // Replies leave after the BLMOVE chains that writes before them set off (blocking.h).
  if (!out_.empty()) co_await AwaitRepliesMayLeave();
  if (push_writing_) co_await WaitForPushWriter();
  ++flush_gen_;
  if (out_.empty() || closed_) {
    out_.clear();
    co_return;
  }
  flush_writing_ = true;
  WatchOutputLimits();
  boost::system::error_code ec = co_await WriteAll(out_, &out_sent_);
  flush_writing_ = false;
  out_sent_ = 0;
  reply_mark_ = 0;
  server_.thread_stats(thread_).net_output_bytes += out_.size();
  if (out_.capacity() > 4 * kFlushThreshold) {
    std::string().swap(out_);
  } else {
    out_.clear();
  }
  if (ec) Close();
  else if (!push_.empty()) StartPushWriter();  // pushes that arrived during the write
}

awaitable<void> Connection::Run() {
  auto self = shared_from_this();
  // Before the input buffer exists: a client stuck in its handshake holds no buffer.
  if (stream_.tls()) co_await TlsHandshake();
  in_.resize(kInitialReadBuffer);
  ThreadStats& stats = server_.thread_stats(thread_);
  while (!closed_) {
    if (in_.size() - in_end_ < kMinReadChunk) GrowInput();
    boost::system::error_code ec;
    size_t n = co_await stream_.async_read_some(asio::buffer(in_.data() + in_end_, in_.size() - in_end_),
                                                asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    in_end_ += n;
    stats.net_input_bytes += n;
    last_interaction_ms = store::UnixTimeMs();
    if (QueryBufferLimitReached()) break;
    if (!http_decided_ && !co_await ServeHttpIfAsked()) {
      if (closed_) break;
      continue;
    }
    RefreshParserLimits();
    in_batch_ = true;
    bool stop = false;
    while (in_pos_ < in_end_ && !stop) {
      // Parse what is complete (up to a batch), then run it.
      size_t scan = in_pos_;
      bool need_more = false;
      size_t need_at_least = 0;
      batch_.clear();
      batch_owned_.clear();
      while (scan < in_end_ && batch_.size() < kMaxBatch) {
        resp::ParseResult r = parser_.Parse(std::string_view(in_.data() + scan, in_end_ - scan), &args_);
        if (r.status == resp::ParseStatus::kCommand) {
          scan += r.consumed;
          if (args_.empty()) continue;
          BatchEntry e;
          e.args = args_;
          // Inline commands' arguments live in the parser: keep our own copy.
          for (auto& a : e.args) {
            if (a.data() < in_.data() || a.data() >= in_.data() + in_end_) {
              batch_owned_.emplace_back(a);
              a = batch_owned_.back();
            }
          }
          batch_.push_back(std::move(e));
          if (store::EqualsIgnoreCase(args_[0], "quit")) break;
          // Until the client authenticates, one command at a time: an AUTH must lift
          // the unauthenticated caps before the next request is parsed, as in Redis.
          if (!parser_.authenticated()) break;
        } else if (r.status == resp::ParseStatus::kNeedMore) {
          need_more = true;
          // Relative to `scan`, which becomes the buffer's front below.
          need_at_least = r.need_at_least;
          break;
        } else {
          parse_error_ = std::string(r.error);
          break;
        }
      }
      size_t end_before_batch = in_end_;
      if (!batch_.empty()) co_await ExecuteBatch();
      in_pos_ = scan;
      // A blocked command read more input meanwhile (blocking.cc): parse it now.
      if (in_end_ != end_before_batch) need_more = false;
      if (close_after_reply || closed_) stop = true;
      if (!parse_error_.empty() && !stop) {
        reply_.Error(parse_error_);
        stop = true;
      }
      if (stop) break;
      if (out_.size() >= kFlushThreshold) co_await Flush();
      if (need_more) {
        // Keep the partial command at the front; the parser resumes by offset. The
        // buffer is not sized for the whole command here: it grows as bytes arrive.
        if (in_pos_ > 0) {
          std::memmove(in_.data(), in_.data() + in_pos_, in_end_ - in_pos_);
          in_end_ -= in_pos_;
          in_pos_ = 0;
        }
        in_need_ = need_at_least;
        // A buffer grown for an earlier big command shrinks back once mostly empty.
        if (in_.size() > 4 * kInitialReadBuffer && in_end_ < in_.size() / 8) {
          in_.resize(std::max(kInitialReadBuffer, 2 * in_end_));
          in_.shrink_to_fit();
        }
        break;
      }
    }
    if (in_pos_ == in_end_) {
      in_pos_ = in_end_ = 0;
      in_need_ = 0;
      if (in_.size() > 4 * kInitialReadBuffer) {
        in_.resize(kInitialReadBuffer);
        in_.shrink_to_fit();
      }
    }
    co_await Flush();
    in_batch_ = false;
    ReleaseAfterCommand();
    if (stop) break;
  }
  Close();
  ReleaseClientState(*this);
  if (tracking && tracking->release) tracking->release(*this);
  server_.connections(thread_).erase(id_);
  server_.connected_clients().fetch_sub(1, std::memory_order_relaxed);
}

awaitable<bool> Connection::ServeHttpIfAsked() {
  auto serve = GetObserverHooks().http_get;
  HttpRequestHead head;
  if (serve && !is_master) head = DetectHttpRequest(std::string_view(in_.data() + in_pos_, in_end_ - in_pos_));
  switch (head.kind) {
    case HttpDetect::kNotHttp:
      http_decided_ = true;
      co_return true;
    case HttpDetect::kNeedMore:
      co_return false;
    case HttpDetect::kTooLarge:
      out_ = HttpHeadTooLargeResponse();
      break;
    case HttpDetect::kHttp:
      // The client's own authentication state at connect: a password-protected default
      // user keeps the page closed here (docs/metrics.md).
      out_ = co_await serve(server_, head.path, authenticated);
      break;
  }
  close_after_reply = true;
  co_await Flush();
  Close();
  co_return false;
}

awaitable<void> Connection::TlsHandshake() {
  // On this connection's thread, bounded in time: a client that never completes the
  // handshake (a plaintext client on the TLS port, one without the certificate
  // tls-auth-clients asks for, one that says nothing) holds its own coroutine only.
  const ServerOptions cfg = server_.config().Snapshot();
  int verify = net::ClientAuthVerifyMode(cfg.tls_auth_clients).value_or(net::ClientAuthVerifyMode("yes").value());
  boost::system::error_code ec = co_await stream_.ServerHandshake(verify, kTlsHandshakeTimeout);
  if (!ec) co_return;
  LOG_WARNING("Error accepting a client connection: %s (addr=%s laddr=%s)", net::DescribeStreamError(ec).c_str(),
              peer_address.c_str(), local_address.c_str());
  Close();
}

void Connection::GrowInput() {
  // Double, but not past what the pending command needs (when known): a client that
  // declares a 512 MB bulk and sends it a byte at a time holds kilobytes, not 512 MB.
  size_t target = std::max(in_.size() * 2, in_end_ + kMinReadChunk);
  if (in_need_ > in_end_) target = std::min(target, std::max(in_need_, in_end_ + kMinReadChunk));
  in_.resize(target);
}

bool Connection::QueryBufferLimitReached() {
  // Redis's check on every read: the bytes received and not yet consumed, here including
  // the parsed arguments of the pending command (they live in the same buffer). The
  // primary's link is exempt.
  if (is_master || in_end_ - in_pos_ <= server_.config().client_query_buffer_limit()) return false;
  std::string_view pending(in_.data() + in_pos_, std::min<size_t>(in_end_ - in_pos_, 64));
  LOG_WARNING("Closing client that reached max query buffer length: %s (qbuf initial bytes: %s)",
              Describe(store::UnixTimeMs()).c_str(), resp::Repr(pending).c_str());
  Close();
  return true;
}

void Connection::RefreshParserLimits() {
  resp::ParserLimits limits = parser_.limits();
  const uint64_t bulk = server_.config().proto_max_bulk_len();
  if (limits.max_bulk_len != bulk) {
    limits.max_bulk_len = bulk;
    parser_.set_limits(limits);
  }
  // Redis's authRequired(): the unauthenticated caps apply only while the default user
  // needs a password and none was given.
  parser_.set_authenticated(authenticated || acl::Registry::Global().DefaultUserOpen());
}

bool Connection::OutputLimitReached() {
  // The primary's link drops its replies; a replica's feed has its own check.
  if (closed_ || is_master || replica_feed) return closed_;
  ClientClass cls = InPubSubOutputClass(*this) ? ClientClass::kPubSub : ClientClass::kNormal;
  int64_t now = store::UnixTimeMs();
  if (!output_limit_.Exceeded(cls, OutputBufferUsage(pending_output()), now)) return false;
  // Redis frees such a client instead of buffering without end, and sends it nothing
  // more. Buffers in flight (out_ during Flush, wbuf_ during PushWriter) are freed when
  // their write ends.
  LOG_WARNING("Client %s scheduled to be closed ASAP for overcoming of output buffer limits.",
              Describe(now).c_str());
  std::string().swap(push_);
  if (!flush_writing_) std::string().swap(out_);
  Close();
  return true;
}

awaitable<void> Connection::FlushIfLarge() {
  // The primary's link drops its replies (ExecuteAsMaster reads them): never written.
  if (!is_master && out_.size() >= kFlushThreshold) co_await Flush();
}

awaitable<boost::system::error_code> Connection::WriteAll(const std::string& buf, size_t* sent) {
  boost::system::error_code ec;
  *sent = 0;
  while (*sent < buf.size() && !ec) {
    *sent += co_await stream_.async_write_some(asio::buffer(buf.data() + *sent, buf.size() - *sent),
                                               asio::redirect_error(use_awaitable, ec));
  }
  co_return ec;
}

namespace {
constexpr int kOutputLimitCheckMs = 250;
}  // namespace

void Connection::WatchOutputLimits() {
  if (limit_watch_armed_ || closed_ || is_master || replica_feed) return;
  if (!limit_watch_) limit_watch_ = std::make_unique<asio::steady_timer>(stream_.get_executor());
  limit_watch_armed_ = true;
  limit_watch_->expires_after(std::chrono::milliseconds(kOutputLimitCheckMs));
  limit_watch_->async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
    self->limit_watch_armed_ = false;
    if (ec || self->closed_ || self->pending_output() == 0) return;
    if (self->OutputLimitReached()) return;
    self->WatchOutputLimits();
  });
}

const TrackingScope* Connection::TrackingScopeFor(const store::CommandSpec& spec) const {
  const ClientTracking& t = *tracking;
  if (!t.on) return nullptr;
  // Redis's trackingRememberKeys: reads count unless BCAST, OPTIN without CACHING YES,
  // or OPTOUT after CACHING NO.
  bool reads = (spec.flags & store::kCmdReadOnly) && !(spec.flags & store::kCmdPubSub) && !t.bcast &&
               !(t.optin && !t.caching) && !(t.optout && t.caching);
  // Any other command: the scope names the writer (NOLOOP, and the order of an
  // invalidation of the client's own write after its reply).
  return reads ? &t.reads : &t.others;
}

const TrackingScope* Connection::TrackingScopeForBlock(const std::vector<store::ExecBlockOp::Command>& commands) {
  if (!tracking || !tracking->on) return nullptr;
  ClientTracking& t = *tracking;
  t.block = t.others;
  t.block_reads.clear();
  for (const auto& c : commands) {
    if (!c.spec || TrackingScopeFor(*c.spec) != &t.reads) continue;
    std::vector<std::string_view> argv(c.argv.begin(), c.argv.end());
    if (!c.spec->ArityOk(argv.size())) continue;
    for (size_t i : c.spec->KeyIndices(argv)) t.block_reads.push_back(c.argv[i]);
  }
  if (t.block_reads.empty()) return &t.others;
  std::sort(t.block_reads.begin(), t.block_reads.end());
  t.block.record_reads = true;
  t.block.block_reads = &t.block_reads;
  return &t.block;
}

bool Connection::Squashable(BatchEntry& e) {
  // CLIENT CACHING applies to the next command alone: such a client runs one at a time;
  // so does one whose replies CLIENT REPLY drops.
  if (tracking && (tracking->optin || tracking->optout)) return false;
  if (reply_off || reply_skip_next) return false;
  e.spec = store::CommandTable::Global().Find(e.args[0]);
  return CanSquash(*this, e.spec, e.args);
}

awaitable<void> Connection::ExecuteBatch() {
  ThreadStats& stats = server_.thread_stats(thread_);
  // With one shard there is nothing to run in parallel: no squash scan (it would admit
  // every command twice).
  const bool may_squash = server_.shards().size() > 1;
  size_t i = 0;
  while (i < batch_.size()) {
    size_t j = i;
    while (may_squash && j < batch_.size() && Squashable(batch_[j])) ++j;
    if (j - i >= 2) {
      stats.commands_processed += j - i;
      last_command = batch_[j - 1].spec->name;
      co_await RunSquashed(i, j);
      if (MonitorsActive()) [[unlikely]]
        for (size_t k = i; k < j; ++k)
          FeedMonitors(*this, *batch_[k].spec, store::ArgList(batch_[k].args));
      ReleaseAfterCommand();
      if (closed_ || OutputLimitReached()) co_return;
      co_await FlushIfLarge();
      i = j;
      continue;
    }
    if (j == i) j = i + 1;  // not squashable: run it alone
    for (; i < j; ++i) {
      stats.commands_processed++;
      if (reply_off || reply_skip_next) [[unlikely]] {
        co_await DispatchDroppingReply(store::ArgList(batch_[i].args));
      } else {
        const size_t reply_at = out_.size();
        const uint64_t gen = flush_gen_;
        co_await Dispatch(*this, store::ArgList(batch_[i].args));
        EndCommand(store::ArgList(batch_[i].args), reply_at, gen);
      }
      // CLIENT CACHING lasts for the next command (any CLIENT subcommand keeps it, as in
      // Redis), or for a MULTI block up to its EXEC (queued commands leave last_command
      // at "multi").
      if (tracking && tracking->caching && last_command != "client" && last_command != "multi")
        tracking->caching = false;
      ReleaseAfterCommand();
      if (close_after_reply || closed_ || OutputLimitReached()) co_return;
      co_await FlushIfLarge();
    }
  }
}

awaitable<void> Connection::DispatchDroppingReply(store::ArgList args) {
  // Redis's CLIENT_REPLY_SKIP_NEXT becomes CLIENT_REPLY_SKIP for this command.
  reply_skip_this = reply_skip_next;
  reply_skip_next = false;
  dropping_reply_ = true;
  reply_mark_ = out_.size();  // a Flush while the command waits sets it back to 0
  const uint64_t gen = flush_gen_;
  co_await Dispatch(*this, args);
  EndCommand(args, reply_mark_, gen);  // counted (failed or not) before the reply goes
  dropping_reply_ = false;
  // CLIENT REPLY ON clears both (its +OK goes out); (un)subscribe confirmations go out
  // as pushes do.
  const bool keep = (!reply_off && !reply_skip_this) || last_command.find("subscribe") != std::string::npos;
  if (!keep && out_.size() > reply_mark_) out_.resize(reply_mark_);
  reply_skip_this = false;
}

awaitable<std::string> Connection::ExecuteAsMaster(store::ArgList args) {
  const size_t reply_at = out_.size();
  const uint64_t gen = flush_gen_;
  co_await Dispatch(*this, args);
  EndCommand(args, reply_at, gen);
  std::string error;
  if (!out_.empty() && out_[0] == '-') error = out_.substr(1, out_.find('\r') - 1);
  out_.clear();
  co_return error;
}

awaitable<std::string> Connection::ExecutePipelineAsMaster(const std::vector<std::vector<std::string_view>>& commands,
                                                           size_t* error_index) {
  batch_.clear();
  for (auto& c : commands) {
    BatchEntry e;
    e.args = c;
    batch_.push_back(std::move(e));
  }
  co_await ExecuteBatch();
  batch_.clear();
  // Replies are whole RESP values back to back; an error is one that starts a line
  // (a bulk reply holding "\r\n-" could look like one: only the report's wording suffers).
  std::string error;
  size_t at = out_.empty() ? std::string::npos : out_[0] == '-' ? 0 : out_.find("\r\n-");
  if (at != std::string::npos) {
    // Which command: count the whole replies before the first error one.
    size_t index = 0, pos = 0;
    resp::ReplyParser parser;
    while (pos < out_.size()) {
      resp::Reply r;
      resp::ParseResult pr = parser.Parse(std::string_view(out_).substr(pos), &r);
      if (pr.status != resp::ParseStatus::kCommand || pr.consumed == 0) break;
      if (r.type == resp::Reply::Type::kError) {
        error = r.str;
        break;
      }
      pos += pr.consumed;
      ++index;
    }
    if (error.empty()) {  // unparsable output: fall back on the line that looked like an error
      size_t from = at == 0 ? 1 : at + 3;
      error = out_.substr(from, out_.find('\r', from) - from);
    }
    if (error_index) *error_index = index;
  }
  out_.clear();
  co_return error;
}

awaitable<void> Connection::RunSquashed(size_t begin, size_t end) {
  ShardSet& shards = server_.shards();
  const unsigned n = shards.size();
  size_t count = end - begin;
  std::vector<std::string> replies(count);
  std::vector<std::vector<size_t>> by_shard(n);
  for (size_t k = 0; k < count; ++k) {
    BatchEntry& e = batch_[begin + k];
    by_shard[store::ShardOf(e.args[e.spec->first_key], n)].push_back(k);
  }
  std::vector<asio::io_context*> ctxs;
  std::vector<unsigned> targets;
  for (unsigned s = 0; s < n; ++s) {
    if (by_shard[s].empty()) continue;
    ctxs.push_back(&shards.at(s).ctx());
    targets.push_back(s);
  }
  const unsigned db_now = db;
  const int protocol = reply_.protocol();
  const ClientTracking* track = tracking && tracking->on ? tracking.get() : nullptr;
  // Introspection: each command's duration runs from the run's start to when its reply
  // is ready on its shard (the wait for the hop included, as for a command run alone).
  const int64_t start_ns = TimingWanted() ? MonotonicNs() : -1;
  std::vector<int64_t> done_ns(start_ns >= 0 ? count : 0);
  co_await AwaitAllAsync(ctxs, [&](size_t t, std::function<void()> done) {
    ShardThread& st = shards.at(targets[t]);
    std::vector<std::string_view> keys;
    for (size_t k : by_shard[targets[t]]) {
      BatchEntry& e = batch_[begin + k];
      keys.push_back(e.args[e.spec->first_key]);
    }
    st.RunWhenUnlocked(db_now, keys, [&, t, done] {
      ShardThread& here = shards.at(targets[t]);
      int64_t now = store::UnixTimeMs();
      for (size_t k : by_shard[targets[t]]) {
        BatchEntry& e = batch_[begin + k];
        resp::ReplyBuilder rb(&replies[k]);
        rb.SetProtocol(protocol);
        std::string_view key = e.args[e.spec->first_key];
        TrackingScopeGuard scope(track ? TrackingScopeFor(*e.spec) : nullptr);
        RunOnShard(here.shard(), *e.spec, db_now, store::ArgList(e.args), {&key, 1}, rb, now);
        if (start_ns >= 0) done_ns[k] = MonotonicNs();
      }
      done();
    });
  });
  for (size_t k = 0; k < count; ++k) {
    const std::string_view error = ErrorOfReply(replies[k]);
    if (!error.empty() && !is_master) RecordErrorReply(error);
    BatchEntry& e = batch_[begin + k];
    FinishCommand(*e.spec, store::ArgList(e.args), start_ns >= 0 ? done_ns[k] - start_ns : -1, !error.empty(),
                  peer_address, name);
    out_ += replies[k];
  }
}

void Connection::BeginObservation(const store::CommandSpec& spec) {
  observation.spec = &spec;
  observation.start_ns = TimingWanted() ? MonotonicNs() : -1;
  observation.untimed = false;
}

void Connection::EndCommand(store::ArgList args, size_t reply_at, uint64_t flush_gen) {
  // The reply starts where the output ended before Dispatch, or at the front when a
  // flush emptied the output meanwhile (a blocking command writes what came before it).
  const size_t at = flush_gen == flush_gen_ ? reply_at : 0;
  const std::string_view error = at < out_.size() ? ErrorOfReply(std::string_view(out_).substr(at)) : "";
  if (!error.empty() && !is_master) RecordErrorReply(error);
  if (!observation.spec) return;
  const store::CommandSpec& spec = *observation.spec;
  observation.spec = nullptr;
  const int64_t duration = observation.start_ns >= 0 && !observation.untimed ? MonotonicNs() - observation.start_ns : -1;
  FinishCommand(spec, args, duration, !error.empty(), peer_address, name);
}

// The shard-execution tail of a command Dispatch admitted (dispatcher.h).
awaitable<void> Connection::ExecuteOnShards(const store::CommandSpec* spec, store::ArgList args) {
  ShardSet& shards = server_.shards();
  if (spec->shard_handler) {
    // The common case: one key, named by a fixed position; no allocation for it.
    std::string_view single;
    std::vector<std::string_view> many;
    std::span<const std::string_view> keys;
    if (!spec->key_extractor && spec->first_key > 0 && spec->last_key == spec->first_key &&
        spec->first_key < static_cast<int>(args.size())) {
      single = args[spec->first_key];
      keys = {&single, 1};
    } else {
      for (size_t i : spec->KeyIndices(args)) many.push_back(args[i]);
      keys = many;
    }
    unsigned target = keys.empty() ? thread_ : store::ShardOf(keys[0], shards.size());
    const TrackingScope* scope = tracking ? TrackingScopeFor(*spec) : nullptr;
    if (target == thread_ && !thread_ref_.AnyLocked(db, keys)) {
      TrackingScopeGuard guard(scope);
      RunOnShard(thread_ref_.shard(), *spec, db, args, keys, reply_, store::UnixTimeMs());
      co_return;
    }
    std::vector<std::string_view> remote_keys(keys.begin(), keys.end());
    std::string remote = co_await RunOnKeyShard(shards, target, *spec, args, remote_keys, db, reply_.protocol(), scope);
    out_ += remote;
    co_return;
  }
  if (spec->multi_shard) {
    co_await RunMultiShardOp(shards, *spec, args, db, reply_, tracking ? TrackingScopeFor(*spec) : nullptr);
    co_return;
  }
  reply_.Error("ERR command not implemented");
}

}  // namespace darter::server
