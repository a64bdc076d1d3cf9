// The MONITOR feed (monitor_feed.h).
#include "server/core/monitor_feed.h"

#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <vector>

#include "resp/split_args.h"
#include "server/core/connection.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

struct Monitor {
  uint64_t id;
  std::weak_ptr<Connection> conn;
  asio::io_context* ctx;  // the monitor's thread
};
using MonitorList = std::vector<Monitor>;

// Copy on write: feeders take the current list under the lock and post outside it.
std::mutex g_mu;
std::shared_ptr<const MonitorList> g_monitors = std::make_shared<MonitorList>();

std::shared_ptr<const MonitorList> Snapshot() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_monitors;
}


// Whether argument i is a credential Redis 7.0 redacts (redactClientCommandArgument).
bool Redacted(const store::CommandSpec& spec, store::ArgList args, size_t i) {
  if (spec.name == "auth") return i >= 1;
  if (spec.name == "hello") {
    for (size_t j = 2; j + 2 < args.size() && j < i; ++j)
      if (store::EqualsIgnoreCase(args[j], "auth") && (i == j + 1 || i == j + 2)) return true;
    return false;
  }
  if (spec.name == "migrate") {
    for (size_t j = 6; j < i; ++j) {
      if (store::EqualsIgnoreCase(args[j], "auth") && i == j + 1) return true;
      if (store::EqualsIgnoreCase(args[j], "auth2") && (i == j + 1 || i == j + 2)) return true;
    }
  }
  return false;
}

bool FedBeforeRunning(const store::CommandSpec& spec) {
  return (spec.flags & store::kCmdSkipMonitor) && (spec.name.starts_with("eval") || spec.name.starts_with("fcall"));
}

// Whether Redis shows the command: not ADMIN or SKIP_MONITOR (a subcommand's flags count).
bool Shown(const store::CommandSpec& spec, store::ArgList args) {
  uint32_t flags = spec.flags;
  if (!spec.subcommands.empty() && args.size() > 1)
    if (const store::SubcommandSpec* sub = spec.FindSubcommand(args[1])) flags |= sub->flags;
  return !(flags & (store::kCmdAdmin | store::kCmdSkipMonitor));
}

void Feed(unsigned db, std::string_view source, const store::CommandSpec& spec, store::ArgList args) {
  auto monitors = Snapshot();
  if (monitors->empty()) return;
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  char head[64];
  std::snprintf(head, sizeof head, "+%lld.%06lld [%u ", static_cast<long long>(us / 1000000),
                static_cast<long long>(us % 1000000), db);
  auto line = std::make_shared<std::string>(head);
  line->append(source);
  line->push_back(']');
  for (size_t i = 0; i < args.size(); ++i) {
    line->push_back(' ');
    if (Redacted(spec, args, i)) line->append("\"(redacted)\"");
    else resp::AppendRepr(line.get(), args[i]);
  }
  line->append("\r\n");
  for (const Monitor& m : *monitors) {
    asio::post(*m.ctx, [w = m.conn, line] {
      std::shared_ptr<Connection> c = w.lock();
      // CLIENT REPLY OFF on the monitor drops its lines, as Redis does.
      if (c && c->monitor && !c->closed() && !c->reply_off) c->Push(*line);
    });
  }
}

}  // namespace

std::atomic<int> monitor_count{0};

void StartMonitoring(Connection& conn, asio::io_context& ctx) {
  conn.monitor = true;
  std::lock_guard<std::mutex> lock(g_mu);
  auto next = std::make_shared<MonitorList>(*g_monitors);
  next->push_back({conn.id(), conn.weak_from_this(), &ctx});
  g_monitors = std::move(next);
  monitor_count.store(static_cast<int>(g_monitors->size()), std::memory_order_relaxed);
}

void FeedMonitors(Connection& conn, const store::CommandSpec& spec, store::ArgList args) {
  FeedMonitors(conn, conn.db, spec, args);
}

void FeedMonitors(Connection& conn, unsigned db, const store::CommandSpec& spec, store::ArgList args) {
  if (!Shown(spec, args)) return;
  Feed(db, conn.peer_address, spec, args);
}

void FeedBlockToMonitors(Connection& master, const std::vector<store::ExecBlockOp::Command>& commands) {
  const store::CommandTable& table = store::CommandTable::Global();
  unsigned db = master.db;
  std::string_view multi[] = {"MULTI"}, exec[] = {"EXEC"};
  if (const store::CommandSpec* spec = table.Find("multi")) FeedMonitors(master, db, *spec, multi);
  for (const auto& c : commands) {
    if (!c.spec) continue;
    std::vector<std::string_view> args(c.argv.begin(), c.argv.end());
    if (c.spec->name == "select" && args.size() == 2)
      if (auto v = store::ParseInt64(args[1]); v && *v >= 0) db = static_cast<unsigned>(*v);
    FeedMonitors(master, db, *c.spec, args);
  }
  if (const store::CommandSpec* spec = table.Find("exec")) FeedMonitors(master, db, *spec, exec);
}

void FeedMonitorsFromScript(unsigned db, const store::CommandSpec& spec, store::ArgList args) {
  if (!Shown(spec, args)) return;
  Feed(db, "lua", spec, args);
}

awaitable<void> RunAndFeedMonitors(Connection& conn, const store::CommandSpec& spec, store::ArgList args,
                                   awaitable<void> route) {
  if (FedBeforeRunning(spec)) {
    Feed(conn.db, conn.peer_address, spec, args);
    co_await std::move(route);
    co_return;
  }
  co_await std::move(route);
  FeedMonitors(conn, spec, args);
}

void StopMonitoring(Connection& conn) {
  if (!conn.monitor) return;
  conn.monitor = false;
  std::lock_guard<std::mutex> lock(g_mu);
  auto next = std::make_shared<MonitorList>();
  for (const Monitor& m : *g_monitors)
    if (m.id != conn.id()) next->push_back(m);
  g_monitors = std::move(next);
  monitor_count.store(static_cast<int>(g_monitors->size()), std::memory_order_relaxed);
}

}  // namespace darter::server
