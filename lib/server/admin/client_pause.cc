// CLIENT PAUSE / UNPAUSE (client_pause.h).
#include "server/admin/client_pause.h"

#include <algorithm>
#include <atomic>
#include <limits>
#include <mutex>
#include <vector>

#include "server/core/connection.h"
#include "server/core/server.h"
#include "server/multi/multi_family.h"
#include "store/blocking_forms.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

enum Mode : uint8_t { kNone = 0, kWrite = 1, kAll = 2 };

// Set under g_mu (end first, then mode); read without it. A mode left set after its end
// passed is cleared by the first reader that notices.
std::mutex g_mu;
std::atomic<uint8_t> g_mode{kNone};
std::atomic<int64_t> g_end_ms{0};
// FAILOVER's pause of writes (SetFailoverPause): apart from CLIENT PAUSE's, which
// CLIENT UNPAUSE ends and a timeout bounds; this one lasts until FAILOVER lifts it.
std::atomic<bool> g_failover{false};

// The timers of the commands waiting on this thread: CLIENT UNPAUSE cancels them.
thread_local std::vector<asio::steady_timer*> t_waiters;

// Redis's may-replicate commands (CMD_MAY_REPLICATE): not writes, but they may reach
// the replication stream, so a WRITE pause holds them back too.
bool MayReplicate(const store::CommandSpec& spec, store::ArgList args) {
  if (spec.flags & store::kCmdWrite) return true;
  const std::string& n = spec.name;
  if (n == "eval" || n == "evalsha" || n == "fcall" || n == "publish" || n == "spublish" || n == "pfcount")
    return true;
  if (args.size() < 2) return false;
  if (n == "script") return store::EqualsIgnoreCase(args[1], "load") || store::EqualsIgnoreCase(args[1], "flush");
  if (n == "function")
    return store::EqualsIgnoreCase(args[1], "load") || store::EqualsIgnoreCase(args[1], "delete") ||
           store::EqualsIgnoreCase(args[1], "flush") || store::EqualsIgnoreCase(args[1], "restore");
  return false;
}

// CLIENT PAUSE's mode in effect now (kNone once its end has passed).
Mode ClientModeNow() {
  auto mode = static_cast<Mode>(g_mode.load(std::memory_order_acquire));
  if (mode == kNone) return kNone;
  if (store::UnixTimeMs() < g_end_ms.load(std::memory_order_acquire)) return mode;
  std::lock_guard<std::mutex> lock(g_mu);
  if (store::UnixTimeMs() >= g_end_ms.load(std::memory_order_relaxed)) g_mode.store(kNone, std::memory_order_release);
  return kNone;
}

// The mode in effect now: CLIENT PAUSE's, or at least WRITE during a failover.
Mode ModeNow() {
  Mode mode = ClientModeNow();
  if (mode == kNone && g_failover.load(std::memory_order_acquire)) return kWrite;
  return mode;
}

// Each shard thread cancels the timers of its waiters: they check the pause again.
void WakeAllWaiters(Server& srv) {
  for (unsigned t = 0; t < srv.shards().size(); ++t)
    asio::post(srv.shards().at(t).ctx(), [] {
      for (asio::steady_timer* timer : t_waiters) timer->cancel();
    });
}

// The read a waiting command keeps going (as a blocked one's, blocking.cc): bytes join
// the input buffer's free tail; EOF or an error closes the connection.
struct PauseRead {
  bool pending = false;
  bool stop = false;                    // the wait is over: start no further read
  asio::steady_timer* timer = nullptr;  // the waiter's, woken when a read ends
};

void StartRead(Connection& c, const std::shared_ptr<PauseRead>& r) {
  std::span<char> space = c.InputSpace();
  if (c.closed() || space.empty() || r->stop) return;
  r->pending = true;
  c.stream().async_read_some(asio::buffer(space.data(), space.size()),
                             [&c, self = c.shared_from_this(), r](const boost::system::error_code& ec, size_t n) {
                               r->pending = false;
                               if (!ec) {
                                 c.InputReceived(n);
                                 c.server().thread_stats(c.thread()).net_input_bytes += n;
                                 StartRead(c, r);
                               } else if (ec != asio::error::operation_aborted && !c.closed()) {
                                 c.Close();  // EOF or reset: the client is gone
                               }
                               if (!r->pending && r->timer) r->timer->cancel();
                             });
}

}  // namespace

bool PauseMayBeActive() {
  return g_mode.load(std::memory_order_relaxed) != kNone || g_failover.load(std::memory_order_relaxed);
}

void SetFailoverPause(Server& srv, bool on) {
  g_failover.store(on, std::memory_order_release);
  if (!on) WakeAllWaiters(srv);
}

bool DatasetFrozenByPause() { return PauseMayBeActive() && ModeNow() != kNone; }

bool MustWaitForPause(Connection& conn, const store::CommandSpec& spec, store::ArgList args) {
  if (conn.is_master || conn.replica_feed || conn.monitor) return false;
  Mode mode = ModeNow();
  if (mode == kNone) return false;
  if (mode == kAll) return true;
  if (MayReplicate(spec, args)) return true;
  // EXEC carries the commands it queued (Redis's mstate.cmd_flags).
  if (spec.name == "exec" && InMulti(conn))
    for (const auto& q : conn.tx->queued) {
      if (!q.spec) continue;
      std::vector<std::string_view> qargs(q.argv.begin(), q.argv.end());
      if (MayReplicate(*q.spec, qargs)) return true;
    }
  return false;
}

awaitable<void> WaitForPause(Connection& conn, const store::CommandSpec& spec, store::ArgList args) {
  // Replies of earlier pipelined commands go out before the client waits.
  if (conn.output_buffer_size() != 0) co_await conn.Flush();
  asio::steady_timer timer(conn.stream().get_executor());
  t_waiters.push_back(&timer);
  auto read = std::make_shared<PauseRead>();
  read->timer = &timer;
  StartRead(conn, read);
  while (!conn.closed() && MustWaitForPause(conn, spec, args)) {
    // A failover's pause has no end of its own: SetFailoverPause wakes the waiters.
    int64_t left = ClientModeNow() != kNone ? g_end_ms.load(std::memory_order_acquire) - store::UnixTimeMs()
                                            : 60 * 60 * 1000;
    // A far end (or a pause extended meanwhile) is waited for in slices.
    timer.expires_after(std::chrono::milliseconds(std::clamp<int64_t>(left, 1, 60 * 60 * 1000)));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  std::erase(t_waiters, &timer);
  // The read in flight ends before the command runs, so no byte it reads is lost.
  read->stop = true;
  if (read->pending) {
    boost::system::error_code ec;
    conn.stream().cancel(ec);
    while (read->pending) {
      timer.expires_at(asio::steady_timer::time_point::max());
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }
  read->timer = nullptr;
}

// CLIENT PAUSE timeout [WRITE|ALL]
void ClientPauseCommand(store::ConnectionContext& c) {
  Mode mode = kAll;
  if (c.args.size() > 4) {
    c.reply.Error("ERR unknown subcommand or wrong number of arguments for '" + std::string(c.args[1]) +
                  "'. Try CLIENT HELP.");
    return;
  }
  if (c.args.size() == 4) {
    if (store::EqualsIgnoreCase(c.args[3], "write")) mode = kWrite;
    else if (!store::EqualsIgnoreCase(c.args[3], "all")) {
      c.reply.Error("ERR CLIENT PAUSE mode must be WRITE or ALL");
      return;
    }
  }
  int64_t timeout_ms = 0;
  if (std::string err = store::blocking::ParseTimeoutMillis(c.args[2], &timeout_ms); !err.empty()) {
    c.reply.Error(err);
    return;
  }
  const int64_t now = store::UnixTimeMs();
  const int64_t end = timeout_ms > std::numeric_limits<int64_t>::max() - now ? std::numeric_limits<int64_t>::max()
                                                                          : now + timeout_ms;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    // The most restrictive mode and the latest end win, over a pause still in effect.
    const bool active = g_mode.load(std::memory_order_relaxed) != kNone && g_end_ms.load() > now;
    if (!active || end > g_end_ms.load()) g_end_ms.store(end, std::memory_order_release);
    uint8_t m = active ? std::max<uint8_t>(static_cast<uint8_t>(mode), g_mode.load(std::memory_order_relaxed))
                       : static_cast<uint8_t>(mode);
    g_mode.store(m, std::memory_order_release);
  }
  // Waiters sleeping until an earlier end see the new one when they wake; none need
  // waking for a pause that only grows.
  c.reply.Ok();
}

// CLIENT UNPAUSE
void ClientUnpauseCommand(store::ConnectionContext& c) {
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_mode.store(kNone, std::memory_order_release);
    g_end_ms.store(0, std::memory_order_release);
  }
  WakeAllWaiters(c.server);
  c.reply.Ok();
}

}  // namespace darter::server
