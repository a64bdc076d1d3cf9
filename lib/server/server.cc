#include "server/core/server.h"

#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <algorithm>
#include <random>
#include <sstream>
#include <mutex>
#include <thread>

#include "server/acl/acl_registry.h"
#include "server/command_families.h"
#include "server/core/connection.h"
#include "server/core/eviction.h"
#include "server/core/log.h"
#include "server/multi/multi_family.h"
#include "server/persist/persistence.h"
#include "server/core/protected_actions.h"
#include "server/pubsub/keyspace_notify.h"
#include "server/pubsub/pubsub_family.h"
#include "server/pubsub/pubsub_registry.h"
#include "server/repl/repl_master.h"
#include "server/repl/replica.h"
#include "server/admin/memory_family.h"
#include "server/admin/metrics_http.h"
#include "server/admin/reset_command.h"
#include "server/script/script_family.h"
#include "server/admin/server_family.h"
#include "server/multi/watch_registry.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

std::string RandomHex(size_t n) {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  static const char* kHex = "0123456789abcdef";
  std::string s(n, '0');
  for (auto& c : s) c = kHex[rng() & 15];
  return s;
}

unsigned ResolveThreads(unsigned requested) {
  if (requested) return requested;
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? hw : 1;
}

}  // namespace

Server::Server(ServerOptions options)
    : config_(options),
      db_count_(options.dbnum),
      run_id_(RandomHex(40)),
      start_time_ms_(store::UnixTimeMs()) {
  static std::once_flag registered;
  std::call_once(registered, [] { RegisterAllFamilies(store::CommandTable::Global()); });
  pubsub_ = std::make_unique<PubSubRegistry>();
  unsigned threads = ResolveThreads(options.threads);
  for (unsigned i = 0; i < threads; ++i) per_thread_.push_back(std::make_unique<PerThread>());
  shards_ = std::make_unique<ShardSet>(threads, db_count_);
  for (unsigned i = 0; i < threads; ++i) watches_.push_back(std::make_unique<WatchRegistry>(shards_->at(i).shard()));
  repl_master_ = std::make_unique<ReplicationMaster>(*this);
  repl_state_.Update([&](ReplicationSnapshot& s) { s.replid = run_id_; });
  persistence_ = std::make_unique<Persistence>(*this);
  config_.SetTlsReconfigure([this](const ServerOptions& o) {
    auto err = tls_.Configure(o);
    if (err) LOG_WARNING("%s", err->c_str());
    return err;
  });
}

void Server::SetShardsExpireLocally(bool on) {
  for (unsigned i = 0; i < shards_->size(); ++i) {
    ShardThread* st = &shards_->at(i);
    asio::post(st->ctx(), [st, on] { st->shard().set_expire_on_access(on); });
  }
}

void Server::ReplicaOf(const std::string& host, int port) {
  HandOverTo(host, port, "", -1);
}

std::shared_ptr<ReplicaLink> Server::HandOverTo(const std::string& host, int port, const std::string& replid,
                                                int64_t offset) {
  std::lock_guard lk(replica_mu_);
  if (link_) link_->Stop();
  is_replica_.store(true, std::memory_order_release);
  config_.NoteReplicaOf(host + " " + std::to_string(port));
  SetShardsExpireLocally(false);
  repl_state_.Update([&](ReplicationSnapshot& s) {
    s.is_replica = true;
    s.master_host = host;
    s.master_port = port;
    s.link_state = "connect";
    s.link_up = false;
    s.link_down_since_ms = store::UnixTimeMs();
  });
  LOG_NOTICE("REPLICAOF %s:%d: connecting to the primary", host.c_str(), port);
  link_ = std::make_shared<ReplicaLink>(*this, host, port);
  if (!replid.empty()) link_->HandOver(replid, offset);
  link_->Start();
  return link_;
}

void Server::ReplicaOfNoOne() {
  std::lock_guard lk(replica_mu_);
  if (!link_) return;
  link_->Stop();
  link_.reset();
  is_replica_.store(false, std::memory_order_release);
  config_.NoteReplicaOf("");
  loading_.store(false);
  SetShardsExpireLocally(true);
  // A new history starts here; the primary's id and offset stay valid as replid2, so
  // replicas that followed the same primary can continue with a partial resync.
  std::string new_id;
  {
    std::random_device rd;
    std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
    static const char* kHex = "0123456789abcdef";
    new_id.resize(40);
    for (auto& c : new_id) c = kHex[rng() & 15];
  }
  repl_state_.Update([&](ReplicationSnapshot& s) {
    s.replid2 = s.replid;
    s.second_repl_offset = s.repl_offset + 1;
    s.replid = new_id;
    s.is_replica = false;
    s.master_host.clear();
    s.master_port = 0;
    s.link_up = false;
    s.sync_in_progress = false;
  });
  LOG_NOTICE("REPLICAOF NO ONE: this server is now a primary (replid %s)", new_id.c_str());
}

Server::~Server() {
  persistence_->Stop();  // no scheduled save from here on; a running one ends first
  std::shared_ptr<ReplicaLink> link;
  {
    std::lock_guard lk(replica_mu_);
    if (link_) link_->Stop();
    link = std::move(link_);
  }
  // The accept loop (on main_ctx_) may hold a half-accepted socket that belongs to a
  // shard's loop: finish it while the shards' loops still exist.
  boost::system::error_code ec;
  for (Acceptor& a : acceptors_) a.socket->close(ec);
  memory_timer_stopped_.store(true);
  if (memory_timer_) memory_timer_->cancel();
  main_ctx_.restart();
  main_ctx_.poll();
  acceptors_.clear();
  memory_timer_.reset();
  // Threads first: their loops own coroutine frames that reference this Server.
  shards_->Stop();
  RemoveKeyspaceNotifier(*this);  // no shard thread fires events any more
  // The link's sockets belong to shard 0's loop: drop our reference while the loop still
  // exists (its own coroutine frames, destroyed with the loop, may hold the last one).
  if (link) link->ReleaseIo();  // multi-flow: frames on other shards may hold it too
  link.reset();
  for (unsigned i = 0; i < shards_->size(); ++i) per_thread_[i]->connections.clear();
  repl_master_.reset();
  shards_.reset();
}

void Server::RefreshUsedMemory() {
  auto used = static_cast<uint64_t>(memory::AllocatedBytes());
  used_memory_.store(used, std::memory_order_relaxed);
  if (used > peak_memory_.load(std::memory_order_relaxed)) peak_memory_.store(used, std::memory_order_relaxed);
}

void Server::ScheduleMemoryTimer() {
  memory_timer_->expires_after(std::chrono::milliseconds(100));
  memory_timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || memory_timer_stopped_) return;
    RefreshUsedMemory();
    ScheduleMemoryTimer();
  });
}

std::optional<std::string> Server::ListenAll(const std::string& bind_list, int port, ListenerKind kind,
                                             uint16_t* bound) {
  std::istringstream words(bind_list);
  std::string word;
  size_t listening = 0;
  while (words >> word) {
    // Redis 7.0's bind list: "-addr" may be unavailable on this host (skipped), "*" is
    // every IPv4 address and "::*" every IPv6 one.
    bool optional = word[0] == '-';
    std::string addr = optional ? word.substr(1) : word;
    if (addr == "*") addr = "0.0.0.0";
    if (addr == "::*") addr = "::";
    boost::system::error_code ec;
    auto address = asio::ip::make_address(addr, ec);
    if (ec) return "invalid bind address '" + word + "': " + ec.message();
    int use_port = *bound ? *bound : port;  // port 0: every address takes the port the first got
    asio::ip::tcp::endpoint ep(address, static_cast<uint16_t>(use_port));
    auto acceptor = std::make_unique<asio::ip::tcp::acceptor>(main_ctx_);
    acceptor->open(ep.protocol(), ec);
    // As Redis: an IPv6 socket serves IPv6 only, so "0.0.0.0" and "::" can both be bound.
    if (!ec && address.is_v6()) acceptor->set_option(asio::ip::v6_only(true), ec);
    if (!ec) acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor->bind(ep, ec);
    // tcp-backlog, as Redis (the kernel caps it at net.core.somaxconn).
    if (!ec) acceptor->listen(static_cast<int>(config_.startup().tcp_backlog), ec);
    if (ec) {
      bool unavailable = ec == boost::system::errc::address_not_available ||
                         ec == boost::system::errc::address_family_not_supported ||
                         ec == boost::system::errc::protocol_not_supported;
      if (optional && unavailable) {
        LOG_NOTICE("Skipping the unavailable optional bind address %s", addr.c_str());
        continue;
      }
      return "could not listen on " + addr + ":" + std::to_string(use_port) + ": " + ec.message();
    }
    if (!*bound) *bound = acceptor->local_endpoint().port();
    acceptors_.push_back(Acceptor{std::move(acceptor), kind});
    ++listening;
  }
  if (!listening) return "no address of bind '" + bind_list + "' could be listened on";
  return std::nullopt;
}

std::optional<std::string> Server::Start() {
  const ServerOptions& o = config_.startup();
  if (o.tls_port < 0 || o.tls_port > 65535) return "invalid --tls-port " + std::to_string(o.tls_port);
  if (!net::ClientAuthVerifyMode(o.tls_auth_clients))
    return "invalid --tls-auth-clients '" + o.tls_auth_clients + "' (want yes, no or optional)";
  if (net::TlsWanted(o)) {
    if (auto err = tls_.Configure(o)) return "Failed to configure TLS: " + *err;
  }
  // As Redis, port 0 beside a TLS port means no plain TCP listener. Alone, port 0 keeps
  // Darter's meaning: any free port (an embedded server reads it from bound_port()).
  if (o.port != 0 || o.tls_port == 0) {
    if (auto err = ListenAll(o.bind, o.port, ListenerKind::kClient, &bound_port_)) return err;
  }
  if (o.tls_port != 0) {
    if (auto err = ListenAll(o.bind, o.tls_port, ListenerKind::kClientTls, &tls_bound_port_)) return err;
  }
  if (o.metrics_port != 0) {
    if (auto err = ListenAll(o.bind, o.metrics_port, ListenerKind::kMetrics, &metrics_bound_port_)) return err;
  }
  RefreshUsedMemory();
  InstallKeyspaceNotifier(*this);
  shards_->Start();
  // Redis's startup.allocated: the server ready, before any data is loaded.
  RecordStartupMemory(memory::AllocatedBytes());
  // Start from the last snapshot, as Redis does, before any client can connect.
  std::string rdb_path = RdbPath(*this);
  if (::access(rdb_path.c_str(), R_OK) == 0) {
    int64_t t0 = store::UnixTimeMs();
    uint64_t keys = 0;
    rdb::Status st = LoadRdbFileAtStartup(*this, rdb_path, &keys);
    if (!st.ok()) return "cannot load " + rdb_path + ": " + st.message();
    persistence_->set_last_load_keys(keys);
    LOG_NOTICE("DB loaded from disk: %.3f seconds, %llu keys (%s)", (store::UnixTimeMs() - t0) / 1000.0,
               static_cast<unsigned long long>(keys), rdb_path.c_str());
  }
  last_save_time_.store(store::UnixTimeMs() / 1000);
  persistence_->Start(main_ctx_);
  for (Acceptor& a : acceptors_) asio::co_spawn(main_ctx_, AcceptLoop(a.socket.get(), a.kind), asio::detached);
  memory_timer_ = std::make_unique<asio::steady_timer>(main_ctx_);
  ScheduleMemoryTimer();
  if (!o.replicaof.empty()) {
    std::string spec = o.replicaof;
    std::replace(spec.begin(), spec.end(), ':', ' ');
    size_t sp = spec.rfind(' ');
    auto port = sp == std::string::npos ? std::nullopt : store::ParseInt64(spec.substr(sp + 1));
    if (!port || *port <= 0 || *port > 65535) return "invalid --replicaof '" + o.replicaof + "' (want host:port)";
    ReplicaOf(spec.substr(0, sp), static_cast<int>(*port));
  }
  return std::nullopt;
}

awaitable<void> Server::AcceptLoop(asio::ip::tcp::acceptor* acceptor, ListenerKind kind) {
  const bool tls = kind == ListenerKind::kClientTls;
  while (acceptor->is_open()) {
    unsigned t = next_thread_;
    next_thread_ = (next_thread_ + 1) % shards_->size();
    ShardThread& st = shards_->at(t);
    boost::system::error_code ec;
    asio::ip::tcp::socket socket = co_await acceptor->async_accept(st.ctx(), asio::redirect_error(use_awaitable, ec));
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      LOG_WARNING("accept failed: %s", ec.message().c_str());
      continue;
    }
    if (kind == ListenerKind::kMetrics) {
      // Not a client: no maxclients, protected mode or client id; the page is read-only
      // and the operator chose to open this port (docs/metrics.md).
      asio::co_spawn(st.ctx(), ServeMetricsPortClient(*this, std::move(socket)), asio::detached);
      continue;
    }
    const ServerOptions cfg = config_.Snapshot();
    // Refusals before the TLS handshake cannot be read by a TLS client: it is closed
    // without a word (Redis's write fails the same way there).
    if (connected_clients_.load(std::memory_order_relaxed) >= cfg.maxclients) {
      rejected_connections_.fetch_add(1, std::memory_order_relaxed);
      static const char kMsg[] = "-ERR max number of clients reached\r\n";
      if (!tls) asio::write(socket, asio::buffer(kMsg, sizeof kMsg - 1), ec);
      continue;
    }
    if (ProtectedModeRefuses(cfg.protected_mode, acl::Registry::Global().DefaultUserHasPassword(),
                             IsLoopbackPeer(socket))) {
      if (!tls) asio::write(socket, asio::buffer(kProtectedModeDenied.data(), kProtectedModeDenied.size()), ec);
      continue;
    }
    std::shared_ptr<asio::ssl::context> tls_ctx;
    if (tls) {
      tls_ctx = tls_.Current().server;
      if (!tls_ctx) continue;  // cannot happen: the listener exists only with a context
    }
    uint64_t id = next_client_id_.fetch_add(1) + 1;
    connected_clients_.fetch_add(1, std::memory_order_relaxed);
    total_connections_.fetch_add(1, std::memory_order_relaxed);
    asio::post(st.ctx(), [this, t, id, s = std::make_shared<asio::ip::tcp::socket>(std::move(socket)),
                          tls_ctx = std::move(tls_ctx)]() mutable {
      auto conn = std::make_shared<Connection>(*this, t, std::move(*s), id, std::move(tls_ctx));
      conn->authenticated = acl::Registry::Global().DefaultUserOpen();
      per_thread_[t]->connections[id] = conn;
      asio::co_spawn(shards_->at(t).ctx(), conn->Run(), asio::detached);
    });
  }
}

void Server::RequestShutdown() {
  asio::post(main_ctx_, [this] { main_ctx_.stop(); });
}

void Server::Run() {
  asio::signal_set signals(main_ctx_, SIGINT, SIGTERM);
  bool saving = false;
  // As Redis: with a save schedule, SIGTERM/SIGINT save first and exit only if the save
  // worked; a failed save keeps the server running (SHUTDOWN NOSAVE still stops it). A
  // second SIGINT during that save exits at once.
  std::function<void()> arm = [&] {
    signals.async_wait([&](const boost::system::error_code& ec, int sig) {
      if (ec) return;
      const char* name = sig == SIGINT ? "SIGINT" : "SIGTERM";
      if (saving) {
        if (sig == SIGINT) {
          LOG_WARNING("You insist... exiting now.");
          persistence_->set_shutdown_decided();
          main_ctx_.stop();
        }
        arm();
        return;
      }
      LOG_NOTICE("received %s, scheduling shutdown...", name);
      if (!persistence_->save_schedule_set()) {
        main_ctx_.stop();
        return;
      }
      saving = true;
      LOG_NOTICE("Saving the final RDB snapshot before exiting.");
      // The loop stops from the completion handler, once the coroutine's frame is gone.
      asio::co_spawn(
          main_ctx_,
          [this]() -> awaitable<bool> {
            std::string path = RdbPath(*this);
            rdb::Status st = co_await SaveRdbFileWhenIdle(*this, path);
            co_return st.ok();
          },
          [this, &saving, &arm, name](std::exception_ptr, bool saved) {
            saving = false;
            if (saved) {
              persistence_->set_shutdown_decided();
              main_ctx_.stop();
              return;
            }
            LOG_WARNING("Error trying to save the DB, can't exit.");
            LOG_WARNING("%s received but errors trying to shut down the server, check the logs for more information",
                        name);
            arm();
          });
    });
  };
  arm();
  main_ctx_.run();
  boost::system::error_code ec;
  for (Acceptor& a : acceptors_) a.socket->close(ec);
  persistence_->OnShutdown();  // stops the schedule; saves if nothing decided (RequestShutdown)
  memory_timer_.reset();
  // Close every connection on its own thread, then stop the loops.
  for (unsigned t = 0; t < shards_->size(); ++t) {
    asio::post(shards_->at(t).ctx(), [this, t] {
      for (auto& [id, c] : per_thread_[t]->connections) c->Close();
    });
  }
  shards_->Stop();
  LOG_NOTICE("Darter is now ready to exit, bye bye...");
}

}  // namespace darter::server
