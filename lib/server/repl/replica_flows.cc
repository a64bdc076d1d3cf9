// The replica's side of multi-flow replication from a Darter primary
// (repl_flow_master.h describes the protocol; docs/replication.md the design).
//
// One coroutine per flow, spread over this server's threads: it connects, asks for its
// flow, then decodes frames. A full sync's RDB is loaded by the flow's own
// ShardedRdbLoader, so the primary's shards load in parallel; journal entries are handed
// to thread 0, where the JournalMerger puts the flows back into one order (a multi-shard
// transaction waits for every flow's part, then applies as one block) and the entries run
// through the dispatcher as the master client, like a PSYNC stream. Each flow
// acknowledges the LSN its shard is applied through.
#include <algorithm>

#include "server/core/connection.h"
#include "server/repl/flow_frame.h"
#include "server/core/log.h"
#include "server/persist/rdb_loader.h"
#include "server/repl/repl_master.h"
#include "server/repl/replica.h"
#include "server/core/server.h"
#include "store/string_util.h"

namespace darter::server {

// One flow of a multi-flow run (replica.h).
struct ReplicaFlow {
  unsigned index = 0;
  asio::io_context* ctx = nullptr;
  std::unique_ptr<net::Stream> stream;            // on ctx only
  std::atomic<int> handshake{0};                  // 0: waiting, 1: FULL, 2: PARTIAL, -1: failed
  std::atomic<bool> go{false};
  std::atomic<bool> loaded{false};  // thread 0 sets it with the snapshot's LSN
  std::atomic<bool> done{false};    // the flow's coroutine ended
  std::atomic<uint64_t> rdb_bytes{0}, keys{0};
  std::atomic<uint64_t> ack_lsn{0};
  std::atomic<int64_t> last_io_ms{0};
};

namespace {

constexpr size_t kFlowReadChunk = 256 * 1024;
// A flow stops reading while this much waits to be applied on thread 0.
constexpr size_t kMaxHeldEntries = 256 * 1024;
constexpr size_t kMaxHeldBytes = 64 << 20;
constexpr size_t kMaxPostedBytes = 64 << 20;
constexpr std::string_view kOk = "+OK";
constexpr auto kFlowConnectTimeout = std::chrono::seconds(10);


awaitable<void> SleepMs(asio::steady_timer& timer, int64_t ms) {
  timer.expires_after(std::chrono::milliseconds(ms));
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
}

// What the merger releases, copied out so it can be applied across co_awaits.
struct MergedItem {
  bool block = false;
  std::vector<std::pair<unsigned, std::string>> commands;  // (db, RESP)
};

class CollectSink : public JournalMergeSink {
 public:
  std::vector<MergedItem> items;
  void Single(unsigned, const JournalEntry& e) override {
    MergedItem it;
    // One primary shard's entry with several commands (a MULTI/EXEC or script whose keys
    // all live on that shard) is still one transaction: this server shards keys its own
    // way (its thread count and hash seed), so the commands may land on several of its
    // shards and must apply as a block, not as pipelined singles a reader can see half of.
    it.block = e.commands.size() > 1;
    for (auto& c : e.commands) it.commands.emplace_back(e.db, c);
    items.push_back(std::move(it));
  }
  void Transaction(uint64_t, const std::vector<MergedCommand>& cmds) override {
    MergedItem it;
    it.block = cmds.size() > 1;
    for (auto& c : cmds) it.commands.emplace_back(c.db, *c.resp);
    items.push_back(std::move(it));
  }
};

}  // namespace

struct ReplicaLink::FlowRun {
  asio::io_context* ctx0 = nullptr;
  std::vector<std::shared_ptr<ReplicaFlow>> flows;
  std::atomic<bool> failed{false};
  std::mutex mu;
  std::string error;  // the first failure
  std::atomic<size_t> posted_bytes{0};
  std::atomic<size_t> held_entries{0};
  std::atomic<size_t> held_bytes{0};
  asio::steady_timer* wake = nullptr;  // thread 0 only

  void Fail(const std::string& why) {
    {
      std::lock_guard lk(mu);
      if (error.empty()) error = why;
    }
    if (failed.exchange(true)) return;
    for (auto& f : flows) {
      asio::post(*f->ctx, [f] {
        if (f->stream) f->stream->Close();
      });
    }
  }
  std::string first_error() {
    std::lock_guard lk(mu);
    return error;
  }
  bool paused() const {
    return held_entries.load(std::memory_order_relaxed) > kMaxHeldEntries ||
           held_bytes.load(std::memory_order_relaxed) > kMaxHeldBytes ||
           posted_bytes.load(std::memory_order_relaxed) > kMaxPostedBytes;
  }
};

namespace {

// Line-oriented reads for the flow's handshake.
struct FlowSocketReader {
  net::Stream& sock;
  std::string& in;
  awaitable<bool> Line(std::string* line) {
    while (true) {
      size_t eol = in.find("\r\n");
      if (eol != std::string::npos) {
        line->assign(in, 0, eol);
        in.erase(0, eol + 2);
        co_return true;
      }
      if (in.size() > 64 * 1024) co_return false;
      size_t old = in.size();
      in.resize(old + 4096);
      boost::system::error_code ec;
      size_t n = co_await sock.async_read_some(asio::buffer(in.data() + old, 4096), asio::redirect_error(use_awaitable, ec));
      in.resize(old + n);
      if (ec || n == 0) co_return false;
    }
  }
};

awaitable<void> FlowAckLoop(std::shared_ptr<ReplicaLink::FlowRun> run, std::shared_ptr<ReplicaFlow> flow,
                            int64_t timeout_ms) {
  asio::steady_timer timer(*flow->ctx);
  uint64_t sent = UINT64_MAX;
  int64_t sent_ms = 0;
  while (!run->failed.load()) {
    co_await SleepMs(timer, 10);
    if (run->failed.load()) break;
    const int64_t now = store::UnixTimeMs();
    if (now - flow->last_io_ms.load() > timeout_ms) {
      run->Fail("timeout: flow " + std::to_string(flow->index) + " had no data from the primary for " +
                std::to_string(timeout_ms / 1000) + " s");
      break;
    }
    uint64_t lsn = flow->ack_lsn.load();
    if (lsn == sent && now - sent_ms < 1000) continue;
    std::string msg = EncodeCommand({"REPLCONF", "ACK", std::to_string(lsn)});
    boost::system::error_code ec;
    co_await asio::async_write(*flow->stream, asio::buffer(msg), asio::redirect_error(use_awaitable, ec));
    if (ec) break;
    sent = lsn;
    sent_ms = now;
  }
}

}  // namespace

awaitable<ReplicaLink::SessionEnd> ReplicaLink::MultiFlowSession(std::string master_id, std::string sync_id,
                                                                 unsigned flow_count) {
  auto self = shared_from_this();
  auto& ctx0 = server_.shards().at(0).ctx();
  ServerOptions opts = server_.config().Snapshot();
  auto run = std::make_shared<FlowRun>();
  run->ctx0 = &ctx0;
  current_run_ = run;
  const bool resume = merger_ && master_replid_ == master_id && flow_lsn_.size() == flow_count;
  if (!resume) {
    merger_.reset();
    flow_lsn_.clear();
  }
  const unsigned threads = server_.shards().size();
  for (unsigned i = 0; i < flow_count; ++i) {
    auto f = std::make_shared<ReplicaFlow>();
    f->index = i;
    f->ctx = &server_.shards().at(i % threads).ctx();
    f->last_io_ms = store::UnixTimeMs();
    run->flows.push_back(f);
  }
  // Flows post their entries here; a run that is no longer current is ignored.
  auto to_thread0 = [&ctx0](std::function<void()> fn) { asio::post(ctx0, std::move(fn)); };
  for (unsigned i = 0; i < flow_count; ++i) {
    int64_t lsn = resume ? static_cast<int64_t>(flow_lsn_[i]) : -1;
    asio::co_spawn(*run->flows[i]->ctx,
                   RunFlow(self, server_, run, run->flows[i], host_, port_, master_id, sync_id, lsn, to_thread0),
                   asio::detached);
  }
  UpdateState([&](ReplicationSnapshot& s) {
    s.protocol = "multi-flow";
    s.flows = flow_count;
  });

  asio::steady_timer timer(ctx0);
  // Ends the run: closes every flow and waits for their coroutines, so nothing of this
  // run still loads or posts when the next one starts.
  auto finish = [&](const std::string& why) -> awaitable<SessionEnd> {
    run->Fail(why);
    for (auto& f : run->flows)
      while (!f->done.load()) co_await SleepMs(timer, 5);
    if (io_) io_->stream.Close();
    std::string err = run->first_error();
    if (!stop_.load() && !err.empty()) {
      LOG_WARNING("replication with %s:%d: %s", host_.c_str(), port_, err.c_str());
      UpdateState([&](ReplicationSnapshot& s) { s.last_error = err; });
    }
    current_run_.reset();
    co_return stop_.load() ? SessionEnd::kStopped : SessionEnd::kRetry;
  };

  while (!run->failed.load() && !stop_.load()) {
    bool all = std::all_of(run->flows.begin(), run->flows.end(), [](auto& f) { return f->handshake.load() != 0; });
    if (all) break;
    co_await SleepMs(timer, 5);
  }
  if (run->failed.load() || stop_.load()) co_return co_await finish(run->first_error());
  const bool partial =
      resume && std::all_of(run->flows.begin(), run->flows.end(), [](auto& f) { return f->handshake.load() == 2; });

  std::string line;
  const int64_t sync_started_ms = store::UnixTimeMs();
  if (partial) {
    bool ok = SendCommand({"DARTER", "STARTSTABLE", sync_id}) && co_await ReadLine(&line, true);
    if (!ok || line != kOk) co_return co_await finish("primary refused DARTER STARTSTABLE: " + line);
    LOG_NOTICE("replication: partial resync of %u flows from %s:%d", flow_count, host_.c_str(), port_);
    UpdateState([&](ReplicationSnapshot& s) { s.partial_syncs++; });
  } else {
    FlowCompression compression = FlowCompression::kNone;
    if (opts.repl_flow_compression == "auto") {
      boost::system::error_code ec;
      auto remote = io_->stream.tcp().remote_endpoint(ec);
      compression = !ec && remote.address().is_loopback() ? FlowCompression::kNone : FlowCompression::kLz4;
    } else {
      compression = ParseFlowCompression(opts.repl_flow_compression).value_or(FlowCompression::kNone);
    }
    UpdateState([&](ReplicationSnapshot& s) {
      s.link_state = "full_sync";
      s.sync_in_progress = true;
      s.sync_total_bytes = -1;
      s.sync_read_bytes = 0;
      s.sync_keys = 0;
      s.flow_compression = FlowCompressionName(compression);
    });
    server_.set_loading(true);
    // Our own replicas followed the dataset we are about to replace.
    server_.repl_master().NewHistory();
    co_await FlushAllDatabases();
    master_replid_.clear();
    merger_ = std::make_unique<JournalMerger>(flow_count);
    flow_lsn_.assign(flow_count, 0);
    LOG_NOTICE("replication: full sync of %u flows from %s:%d (compression %s)", flow_count, host_.c_str(), port_,
               FlowCompressionName(compression));
    bool ok = SendCommand({"DARTER", "SYNC", sync_id, FlowCompressionName(compression)}) &&
              co_await ReadLine(&line, true);
    if (!ok || line != kOk) co_return co_await finish("primary refused DARTER SYNC: " + line);
  }
  for (auto& f : run->flows) f->go = true;
  // The control connection carries nothing more; it closing means the primary is gone.
  asio::co_spawn(
      ctx0,
      [io = io_, run]() -> awaitable<void> {
        std::string buf(256, '\0');
        while (!run->failed.load()) {
          boost::system::error_code ec;
          size_t n = co_await io->stream.async_read_some(asio::buffer(buf.data(), buf.size()),
                                                         asio::redirect_error(use_awaitable, ec));
          if (ec || n == 0) {
            run->Fail("control connection to the primary lost");
            break;
          }
        }
      },
      asio::detached);

  if (!partial) {
    uint64_t keys = 0, bytes = 0;
    while (!run->failed.load() && !stop_.load()) {
      keys = bytes = 0;
      bool all = true;
      for (auto& f : run->flows) {
        keys += f->keys.load();
        bytes += f->rdb_bytes.load();
        all = all && f->loaded.load();
      }
      UpdateState([&](ReplicationSnapshot& s) {
        s.sync_read_bytes = static_cast<int64_t>(bytes);
        s.sync_keys = keys;
        s.sync_last_io_ms = store::UnixTimeMs();
      });
      if (all) break;
      co_await SleepMs(timer, 20);
    }
    if (run->failed.load() || stop_.load()) {
      server_.set_loading(false);
      co_return co_await finish(run->first_error());
    }
    master_replid_ = master_id;
    server_.set_loading(false);
    const int64_t took = store::UnixTimeMs() - sync_started_ms;
    UpdateState([&](ReplicationSnapshot& s) {
      s.sync_in_progress = false;
      s.full_syncs++;
      s.last_sync_keys = keys;
      s.last_sync_bytes = static_cast<int64_t>(bytes);
      s.last_sync_ms = took;
    });
    LOG_NOTICE("replication: loaded %llu keys (%llu bytes) over %u flows in %lld ms",
               static_cast<unsigned long long>(keys), static_cast<unsigned long long>(bytes), flow_count,
               static_cast<long long>(took));
  }
  connected_ = true;
  link_was_up_ = true;
  UpdateState([&](ReplicationSnapshot& s) {
    s.link_up = true;
    s.link_state = "stable_sync";
    s.replid = master_id;
    s.last_error.clear();
  });

  // Stable sync: apply what the flows deliver, in merged order, until the run ends.
  asio::steady_timer wake(ctx0);
  run->wake = &wake;
  while (!run->failed.load() && !stop_.load()) {
    co_await ApplyMerged(*run);
    if (run->failed.load() || stop_.load()) break;
    co_await SleepMs(wake, 100);  // a flow's delivery cancels the wait
  }
  run->wake = nullptr;
  connected_ = false;
  co_return co_await finish(run->first_error());
}

void ReplicaLink::ReleaseIo() {
  if (current_run_)
    for (auto& f : current_run_->flows)
      if (f) f->stream.reset();
  io_.reset();
}

awaitable<void> ReplicaLink::ApplyMerged(FlowRun& run) {
  resp::ParserLimits limits;
  resp::RequestParser parser(limits);
  std::vector<std::string_view> args;
  // Consecutive single commands of one db run as one pipeline (squashed per shard).
  std::vector<std::vector<std::string_view>> pipeline;
  unsigned pipeline_db = 0;
  auto flush = [&]() -> awaitable<void> {
    if (pipeline.empty()) co_return;
    master_client_->db = pipeline_db;
    std::string error = co_await master_client_->ExecutePipelineAsMaster(pipeline);
    if (!error.empty()) ReportRefused("a command of the stream", error);
    pipeline.clear();
  };
  // Everything drained is applied: each flow is applied up to its oldest held entry.
  // Published on every pass, including one that drained nothing: a flow's LSN also
  // advances without entries to apply (the snapshot's end LSN, sync points, heartbeats),
  // and the offset and the ACKs must reach it even when no write follows.
  auto publish = [&] {
    uint64_t applied = 0, received = 0;
    for (unsigned i = 0; i < run.flows.size(); ++i) {
      uint64_t held = merger_->LowestHeld(i);
      uint64_t through = held ? held - 1 : flow_lsn_[i];
      run.flows[i]->ack_lsn.store(through);
      applied += through;
      received += flow_lsn_[i];
    }
    UpdateState([&](ReplicationSnapshot& s) {
      s.repl_offset = static_cast<int64_t>(applied);
      s.read_offset = static_cast<int64_t>(received);
    });
  };
  while (!stop_.load()) {
    CollectSink sink;
    merger_->Drain(sink);
    run.held_entries.store(merger_->held_entries());
    run.held_bytes.store(merger_->held_bytes());
    if (sink.items.empty()) {
      publish();
      break;
    }
    for (auto& item : sink.items) {
      if (stop_.load()) co_return;  // after REPLICAOF NO ONE returns, nothing more is applied
      if (!item.block) {
        for (auto& [db, resp] : item.commands) {
          parser.Reset();
          if (parser.Parse(resp, &args).status != resp::ParseStatus::kCommand || args.empty()) continue;
          if (db != pipeline_db || pipeline.size() >= 1024) {
            co_await flush();
            pipeline_db = db;
          }
          pipeline.push_back(args);
        }
        continue;
      }
      co_await flush();
      block_.clear();
      unsigned db = item.commands[0].first;
      master_client_->db = db;
      for (auto& [cdb, resp] : item.commands) {
        if (cdb != db) {
          block_.push_back({"SELECT", std::to_string(cdb)});
          db = cdb;
        }
        parser.Reset();
        if (parser.Parse(resp, &args).status != resp::ParseStatus::kCommand) continue;
        block_.emplace_back(args.begin(), args.end());
      }
      co_await ApplyBlock();
    }
    co_await flush();
    publish();
  }
}

awaitable<void> ReplicaLink::RunFlow(std::shared_ptr<ReplicaLink> link, Server& server, std::shared_ptr<FlowRun> run,
                                     std::shared_ptr<ReplicaFlow> flow, std::string host, int port,
                                     std::string master_id, std::string sync_id, int64_t lsn,
                                     std::function<void(std::function<void()>)> to_thread0) {
  struct Done {
    ReplicaFlow* f;
    ~Done() { f->done = true; }
  } mark_done{flow.get()};
  const std::string name = "flow " + std::to_string(flow->index);
  auto& ctx = *flow->ctx;
  auto fail = [&](const std::string& why) {
    flow->handshake = -1;
    run->Fail(name + ": " + why);
  };
  ServerOptions opts = server.config().Snapshot();
  std::shared_ptr<asio::ssl::context> tls;
  if (opts.tls_replication) {
    tls = server.tls().Current().client;
    if (!tls) co_return fail("tls-replication is on but TLS is not configured");
  }
  flow->stream = std::make_unique<net::Stream>(asio::ip::tcp::socket(ctx), tls);
  boost::system::error_code ec;
  asio::ip::tcp::resolver resolver(ctx);
  auto endpoints =
      co_await resolver.async_resolve(host, std::to_string(port), asio::redirect_error(use_awaitable, ec));
  if (ec || run->failed.load()) co_return fail("cannot resolve " + host + ": " + ec.message());
  asio::steady_timer guard(ctx);
  guard.expires_after(kFlowConnectTimeout);
  auto connecting = std::make_shared<bool>(true);
  guard.async_wait([&flow, connecting](const boost::system::error_code& e) {
    if (!e && *connecting) flow->stream->Close();
  });
  co_await asio::async_connect(flow->stream->tcp(), endpoints, asio::redirect_error(use_awaitable, ec));
  *connecting = false;
  guard.cancel();
  if (ec || run->failed.load()) co_return fail("cannot connect: " + ec.message());
  flow->stream->tcp().set_option(asio::ip::tcp::no_delay(true), ec);
  if (flow->stream->tls()) {
    const std::string& sni = opts.tls_replication_sni.empty() ? host : opts.tls_replication_sni;
    ec = co_await flow->stream->ClientHandshake(sni, !opts.tls_replication_insecure, kFlowConnectTimeout);
    if (ec || run->failed.load()) co_return fail("TLS handshake failed: " + net::DescribeStreamError(ec));
  }
  std::string in;
  FlowSocketReader reader{*flow->stream, in};
  std::string line;
  if (!opts.masterauth.empty()) {
    std::string auth = opts.masteruser.empty() ? EncodeCommand({"AUTH", opts.masterauth})
                                               : EncodeCommand({"AUTH", opts.masteruser, opts.masterauth});
    co_await asio::async_write(*flow->stream, asio::buffer(auth), asio::redirect_error(use_awaitable, ec));
    bool ok = !ec && co_await reader.Line(&line);
    if (!ok || line != kOk) co_return fail("AUTH refused: " + line);
  }
  std::string flow_id = std::to_string(flow->index), lsn_text = std::to_string(lsn);
  std::string req = lsn >= 0 ? EncodeCommand({"DARTER", "FLOW", master_id, sync_id, flow_id, lsn_text})
                             : EncodeCommand({"DARTER", "FLOW", master_id, sync_id, flow_id});
  co_await asio::async_write(*flow->stream, asio::buffer(req), asio::redirect_error(use_awaitable, ec));
  if (ec || !co_await reader.Line(&line)) co_return fail("connection lost during the handshake");
  if (line == "+FULL") flow->handshake = 1;
  else if (line == "+PARTIAL") flow->handshake = 2;
  else co_return fail("primary refused the flow: " + line);

  asio::steady_timer timer(ctx);
  while (!flow->go.load() && !run->failed.load()) co_await SleepMs(timer, 5);
  if (run->failed.load()) co_return;
  const bool full = flow->handshake.load() == 1;
  flow->last_io_ms = store::UnixTimeMs();
  const int64_t timeout_ms = static_cast<int64_t>(opts.repl_timeout) * 1000;
  asio::co_spawn(ctx, FlowAckLoop(run, flow, timeout_ms), asio::detached);

  std::unique_ptr<ShardedRdbLoader> loader;
  if (full) loader = std::make_unique<ShardedRdbLoader>(server.shards(), server.db_count(), /*keep_expired=*/true);
  // Function libraries come on flow 0 (repl_flow_master.cc), which replaces the set.
  if (full && flow->index != 0) loader->keep_other_functions();
  bool rdb_complete = !full;
  FlowDecoder decoder;
  FlowFrame frame;
  std::string error;
  size_t pos = 0;
  const unsigned index = flow->index;
  ReplicaLink* lp = link.get();
  while (!run->failed.load()) {
    // Decode every complete frame in the buffer.
    std::vector<JournalEntry> batch;
    size_t batch_bytes = 0;
    uint64_t heartbeat = 0;
    while (true) {
      size_t used = 0;
      auto r = decoder.Next(std::string_view(in).substr(pos), &used, &frame, &error);
      if (r == FlowDecoder::Result::kNeedMore) break;
      if (r == FlowDecoder::Result::kError) co_return fail(error);
      pos += used;
      switch (frame.type) {
        case 'R':
        case 'L':
        case 'Z': {
          if (rdb_complete) co_return fail("RDB data after the snapshot ended");
          size_t consumed = 0;
          rdb::Status st = loader->Feed(frame.rdb, &consumed);
          if (!st.ok()) co_return fail("RDB from the primary is invalid: " + st.message());
          if (consumed != frame.rdb.size()) co_return fail("bytes after the RDB's EOF record");
          flow->rdb_bytes += frame.rdb.size();
          flow->keys = loader->keys_loaded();
          if (loader->ShouldFlush()) co_await loader->Flush();
          break;
        }
        case 'S': {
          if (rdb_complete || !loader->done()) co_return fail("snapshot end before the RDB's EOF record");
          co_await loader->Flush();
          flow->keys = loader->keys_loaded();
          rdb_complete = true;
          uint64_t start = frame.lsn;
          auto f = flow;
          to_thread0([lp, run, f, index, start] {
            if (lp->current_run_.get() != run.get()) return;
            lp->flow_lsn_[index] = start;
            f->loaded = true;
          });
          break;
        }
        case 'J':
          if (!rdb_complete) co_return fail("journal entry before the snapshot ended");
          for (auto& e : frame.entries) {
            batch_bytes += e.bytes();
            batch.push_back(std::move(e));
          }
          break;
        case 'H':
          heartbeat = frame.lsn;
          break;
      }
      if (run->failed.load()) co_return;
    }
    if (!batch.empty() || heartbeat) {
      run->posted_bytes += batch_bytes;
      auto entries = std::make_shared<std::vector<JournalEntry>>(std::move(batch));
      to_thread0([lp, run, entries, index, heartbeat, batch_bytes] {
        run->posted_bytes -= batch_bytes;
        if (lp->current_run_.get() != run.get() || !lp->merger_) return;
        uint64_t& received = lp->flow_lsn_[index];
        for (auto& e : *entries) {
          if (e.lsn <= received) continue;  // already here (cannot happen with a sane primary)
          received = e.lsn;
          if (e.kind != JournalEntry::Kind::kSyncPoint) lp->merger_->Push(index, std::move(e));
        }
        // A heartbeat: every entry up to its LSN was sent before it.
        if (heartbeat > received) received = heartbeat;
        run->held_entries.store(lp->merger_->held_entries());
        run->held_bytes.store(lp->merger_->held_bytes());
        if (run->wake) run->wake->cancel();
      });
    }
    if (pos > 0) {
      in.erase(0, pos);
      pos = 0;
    }
    // Paused, the flow waits for this server, not for the primary: that is no silence.
    while (run->paused() && !run->failed.load()) {
      co_await SleepMs(timer, 1);
      flow->last_io_ms = store::UnixTimeMs();
    }
    size_t old = in.size();
    in.resize(old + kFlowReadChunk);
    size_t n = co_await flow->stream->async_read_some(asio::buffer(in.data() + old, kFlowReadChunk),
                                                      asio::redirect_error(use_awaitable, ec));
    in.resize(old + n);
    if (ec || n == 0) {
      if (loader) co_await loader->Flush();
      co_return fail(ec ? "connection lost: " + ec.message() : "connection closed by the primary");
    }
    flow->last_io_ms = store::UnixTimeMs();
  }
  if (loader) co_await loader->Flush();
}

}  // namespace darter::server
