// FAILOVER (failover_family.h).
#include "server/admin/failover_family.h"

#include <algorithm>
#include <chrono>
#include <mutex>
#include <string>

#include "server/admin/client_pause.h"
#include "server/core/connection.h"
#include "server/core/log.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/repl/repl_master.h"
#include "server/repl/replica.h"
#include "store/errors.h"
#include "store/string_util.h"

namespace darter::server {
namespace {

using store::EqualsIgnoreCase;

enum class State { kNone, kWaitForSync, kInProgress };

const char* StateName(State s) {
  switch (s) {
    case State::kNone: return "no-failover";
    case State::kWaitForSync: return "waiting-for-sync";
    case State::kInProgress: return "failover-in-progress";
  }
  return "no-failover";
}

// The failover of this process's server (there is one server per process).
struct Failover {
  std::mutex mu;
  State state = State::kNone;
  std::string host;  // the target; empty until chosen when FAILOVER named none
  int port = 0;
  bool force = false;
  int64_t end_ms = 0;  // TIMEOUT's end, 0: none
  bool abort = false;  // FAILOVER ABORT asked
};

Failover& TheFailover() {
  static Failover f;
  return f;
}

// How long the target has to answer the handover's PSYNC, unless TIMEOUT is longer.
constexpr int64_t kHandoverAnswerMs = 10000;
constexpr auto kPoll = std::chrono::milliseconds(50);

// Ends the failover: writes resume and the state is clear. `why`: the reason it was
// aborted, null when it completed.
void Finish(Server& srv, const char* why) {
  Failover& f = TheFailover();
  std::string target;
  {
    std::lock_guard<std::mutex> lock(f.mu);
    target = f.host.empty() ? "any replica" : f.host + ":" + std::to_string(f.port);
    f.state = State::kNone;
    f.host.clear();
    f.port = 0;
    f.force = false;
    f.end_ms = 0;
    f.abort = false;
  }
  srv.repl_master().SetFailoverState(StateName(State::kNone));
  SetFailoverPause(srv, false);
  if (why) LOG_WARNING("FAILOVER to %s aborted: %s", target.c_str(), why);
  else LOG_NOTICE("FAILOVER to %s completed: this server is now its replica", target.c_str());
}

awaitable<void> Sleep(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  timer.expires_after(d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
}

// Step 1: until a replica (the named one, else any) acknowledged the whole stream.
// Returns false when the failover ended instead (aborted, or timed out without FORCE).
awaitable<bool> WaitForSync(Server& srv) {
  Failover& f = TheFailover();
  while (true) {
    const int64_t offset = co_await srv.repl_master().MergedOffset();
    const auto replicas = srv.repl_master().PsyncReplicas();
    {
      std::lock_guard<std::mutex> lock(f.mu);
      if (f.abort) break;
      const int64_t now = store::UnixTimeMs();
      if (f.end_ms && now >= f.end_ms) {
        if (!f.force) break;
        LOG_NOTICE("FAILOVER to %s:%d time out exceeded, failing over.", f.host.c_str(), f.port);
        co_return true;
      }
      for (const auto& r : replicas) {
        const bool named = !f.host.empty();
        if (named && (!EqualsIgnoreCase(r.ip, f.host) || r.port != f.port)) continue;
        if (!r.online || r.ack_offset != offset) continue;
        f.host = r.ip;
        f.port = r.port;
        LOG_NOTICE("Failover target %s:%d is synced, failing over.", f.host.c_str(), f.port);
        co_return true;
      }
    }
    co_await Sleep(kPoll);
  }
  bool aborted;
  {
    std::lock_guard<std::mutex> lock(f.mu);
    aborted = f.abort;
  }
  Finish(srv, aborted ? "Failover manually aborted" : "Replica never caught up before timeout");
  co_return false;
}

// Step 2: this server becomes the target's replica, asking it to take over its history.
awaitable<void> HandOver(Server& srv) {
  Failover& f = TheFailover();
  std::string host;
  int port;
  int64_t answer_ms;
  {
    std::lock_guard<std::mutex> lock(f.mu);
    f.state = State::kInProgress;
    host = f.host;
    port = f.port;
    answer_ms = std::max<int64_t>(kHandoverAnswerMs, f.end_ms ? f.end_ms - store::UnixTimeMs() : 0);
  }
  srv.repl_master().SetFailoverState(StateName(State::kInProgress));
  const int64_t offset = co_await srv.repl_master().MergedOffset();
  const std::string replid = srv.repl_master().replid();
  std::shared_ptr<ReplicaLink> link = srv.HandOverTo(host, port, replid, offset);
  const int64_t deadline = store::UnixTimeMs() + answer_ms;
  const char* why = nullptr;
  while (true) {
    const ReplicaLink::Handover h = link->handover();
    if (h == ReplicaLink::Handover::kAccepted) break;
    if (h == ReplicaLink::Handover::kRejected) why = "Failover target rejected psync request";
    {
      std::lock_guard<std::mutex> lock(f.mu);
      if (f.abort) why = "Failover manually aborted";
    }
    if (!why && store::UnixTimeMs() >= deadline) why = "Failover target did not answer the handover in time";
    if (why) break;
    co_await Sleep(kPoll);
  }
  // Aborted: a primary again (the target may or may not have taken over; as in Redis,
  // an operator sorts that out).
  if (why) srv.ReplicaOfNoOne();
  Finish(srv, why);
}

awaitable<void> RunFailover(Server& srv) {
  const bool synced = co_await WaitForSync(srv);
  if (synced) co_await HandOver(srv);
}

// The replica FAILOVER TO names, among the PSYNC ones; null when there is none.
const ReplicationMaster::PsyncReplica* FindReplica(const std::vector<ReplicationMaster::PsyncReplica>& replicas,
                                                   std::string_view host, int64_t port) {
  for (const auto& r : replicas)
    if (EqualsIgnoreCase(r.ip, host) && r.port == port) return &r;
  return nullptr;
}

void FailoverCommand(store::ConnectionContext& c) {
  Server& srv = c.server;
  Failover& f = TheFailover();
  if (c.args.size() == 2 && EqualsIgnoreCase(c.args[1], "abort")) {
    {
      std::lock_guard<std::mutex> lock(f.mu);
      if (f.state == State::kNone) {
        c.reply.Error("ERR No failover in progress.");
        return;
      }
      f.abort = true;
    }
    // The failover's coroutine ends it at its next step (at most one poll away), so
    // the state INFO shows may lag this reply by that long.
    c.reply.Ok();
    return;
  }
  int64_t timeout = 0, port = 0;
  bool force = false;
  std::string_view host;
  bool has_host = false;
  for (size_t j = 1; j < c.args.size(); ++j) {
    if (EqualsIgnoreCase(c.args[j], "timeout") && j + 1 < c.args.size() && timeout == 0) {
      auto v = store::ParseInt64(c.args[j + 1]);
      if (!v) {
        c.reply.Error(store::errors::kNotInteger);
        return;
      }
      if (*v <= 0) {
        c.reply.Error("ERR FAILOVER timeout must be greater than 0");
        return;
      }
      timeout = *v;
      ++j;
    } else if (EqualsIgnoreCase(c.args[j], "to") && j + 2 < c.args.size() && !has_host) {
      auto v = store::ParseInt64(c.args[j + 2]);
      if (!v) {
        c.reply.Error(store::errors::kNotInteger);
        return;
      }
      port = *v;
      host = c.args[j + 1];
      has_host = true;
      j += 2;
    } else if (EqualsIgnoreCase(c.args[j], "force") && !force) {
      force = true;
    } else {
      c.reply.Error(store::errors::kSyntax);
      return;
    }
  }
  std::lock_guard<std::mutex> lock(f.mu);
  if (f.state != State::kNone) {
    c.reply.Error("ERR FAILOVER already in progress.");
    return;
  }
  if (srv.is_replica()) {
    c.reply.Error("ERR FAILOVER is not valid when server is a replica.");
    return;
  }
  const auto replicas = srv.repl_master().PsyncReplicas();
  const auto flow_replicas = srv.repl_master().FlowReplicas();
  if (replicas.empty() && flow_replicas.empty()) {
    c.reply.Error("ERR FAILOVER requires connected replicas.");
    return;
  }
  if (force && (!timeout || !has_host)) {
    c.reply.Error("ERR FAILOVER with force option requires both a timeout and target HOST and IP.");
    return;
  }
  if (has_host) {
    const auto* r = FindReplica(replicas, host, port);
    if (!r) {
      for (const auto& fr : flow_replicas)
        if (EqualsIgnoreCase(fr[0], host) && fr[1] == std::to_string(port)) {
          c.reply.Error(
              "ERR FAILOVER target is a Darter multi-flow replica, which cannot take over; FAILOVER hands over to "
              "PSYNC replicas only (start the replica with --repl-multi-flow no)");
          return;
        }
      c.reply.Error("ERR FAILOVER target HOST and PORT is not a replica.");
      return;
    }
    if (!r->online) {
      c.reply.Error("ERR FAILOVER target replica is not online.");
      return;
    }
    LOG_NOTICE("FAILOVER requested to %s:%lld.", std::string(host).c_str(), static_cast<long long>(port));
  } else {
    if (replicas.empty()) {
      c.reply.Error(
          "ERR FAILOVER requires a PSYNC replica: Darter multi-flow replicas cannot take over (start one with "
          "--repl-multi-flow no)");
      return;
    }
    LOG_NOTICE("FAILOVER requested to any replica.");
  }
  f.state = State::kWaitForSync;
  f.host = has_host ? std::string(host) : std::string();
  f.port = static_cast<int>(port);
  f.force = force;
  f.end_ms = timeout ? store::UnixTimeMs() + timeout : 0;
  f.abort = false;
  srv.repl_master().SetFailoverState(StateName(State::kWaitForSync));
  SetFailoverPause(srv, true);
  asio::co_spawn(srv.shards().at(0).ctx(), RunFailover(srv), asio::detached);
  c.reply.Ok();
}

}  // namespace

void RegisterFailoverFamily(store::CommandTable& t) {
  using namespace store;
  CommandFamily family(t, 0);
  family << CommandRow("failover", -1, kCmdAdmin | kCmdNoScript | kCmdStale).Connection(FailoverCommand);
}

}  // namespace darter::server
