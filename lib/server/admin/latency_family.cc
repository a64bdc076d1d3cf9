#include "server/admin/latency_family.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <string>
#include <vector>

#include "server/core/command_stats.h"
#include "server/core/connection.h"
#include "server/core/observer_hooks.h"
#include "server/core/cross_thread.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "store/errors.h"
#include "store/string_util.h"
#include "store/thread_annotations.h"

namespace darter::server {

namespace {

using store::ConnectionContext;

constexpr size_t kSamples = 160;   // Redis's LATENCY_TS_LEN
constexpr int kGraphColumns = 80;  // Redis's LATENCY_GRAPH_COLS
constexpr int kGraphRows = 4;

struct Sample {
  int64_t time = 0;  // unix seconds; 0: unused slot
  uint64_t latency = 0;
};

// One event's ring of samples, oldest at `next`.
struct Series {
  Sample samples[kSamples];
  size_t next = 0;
  uint64_t max = 0;
};

struct Monitor {
  Mutex mu;
  std::map<std::string, Series, std::less<>> events GUARDED_BY(mu);
};

Monitor& TheMonitor() {
  static Monitor m;
  return m;
}

int64_t NowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

// ---- GRAPH: a sparkline of the samples, Redis's layout ----

struct Point {
  uint64_t value;
  std::string label;
};

// Rows of `points[from, from+len)`: kGraphRows rows of bars ('_', 'o', '#' for a third
// of a row each, '|' under a bar's top), then the labels written vertically.
void RenderRange(std::string& out, const std::vector<Point>& points, size_t from, size_t len, uint64_t lo,
                 uint64_t hi, size_t label_rows) {
  static constexpr char kFill[] = "_o#";
  const int steps = 3 * kGraphRows;
  double span = static_cast<double>(hi - lo);
  if (span == 0) span = 1;
  for (size_t row = 0;; ++row) {
    std::string line(len, ' ');
    bool any = false;
    for (size_t j = 0; j < len; ++j) {
      const Point& p = points[from + j];
      if (row < kGraphRows) {
        any = true;
        int step = static_cast<int>(static_cast<double>(p.value - lo) * steps / span);
        step = std::clamp(step, 0, steps - 1);
        const int idx = step - (kGraphRows - static_cast<int>(row) - 1) * 3;
        if (idx >= 0 && idx < 3) line[j] = kFill[idx];
        else if (idx >= 3) line[j] = '|';
      } else if (row - kGraphRows < label_rows) {
        any = true;
        if (row - kGraphRows < p.label.size()) line[j] = p.label[row - kGraphRows];
      }
    }
    if (!any) break;
    out += line;
    out += '\n';
  }
}

std::string ElapsedLabel(int64_t elapsed) {
  if (elapsed < 60) return std::to_string(elapsed) + "s";
  if (elapsed < 3600) return std::to_string(elapsed / 60) + "m";
  if (elapsed < 86400) return std::to_string(elapsed / 3600) + "h";
  return std::to_string(elapsed / 86400) + "d";
}

std::string Graph(std::string_view event, const Series& s) {
  std::vector<Point> points;
  uint64_t lo = 0, hi = 0;
  size_t label_rows = 0;
  const int64_t now = NowSeconds();
  for (size_t j = 0; j < kSamples; ++j) {
    const Sample& x = s.samples[(s.next + j) % kSamples];
    if (x.time == 0) continue;
    if (points.empty()) lo = hi = x.latency;
    lo = std::min(lo, x.latency);
    hi = std::max(hi, x.latency);
    points.push_back({x.latency, ElapsedLabel(now - x.time)});
    label_rows = std::max(label_rows, points.back().label.size());
  }
  char head[256];
  std::snprintf(head, sizeof head, "%.*s - high %llu ms, low %llu ms (all time high %llu ms)\n",
                static_cast<int>(event.size()), event.data(), static_cast<unsigned long long>(hi),
                static_cast<unsigned long long>(lo), static_cast<unsigned long long>(s.max));
  std::string out = head;
  out += std::string(kGraphColumns, '-') + "\n";
  for (size_t j = 0; j < points.size(); j += kGraphColumns) {
    if (j != 0) out += '\n';
    RenderRange(out, points, j, std::min<size_t>(kGraphColumns, points.size() - j), lo, hi, label_rows);
  }
  return out;
}

// ---- DOCTOR ----

// Redis's report: each event's figures, then the advice its events call for (those of
// Redis's advice that apply to the events Darter has).
std::string Doctor(Monitor& m) REQUIRES(m.mu) {
  const IntrospectionSettings& cfg = Introspection();
  const int64_t threshold = cfg.latency_monitor_threshold.load();
  if (m.events.empty() && threshold == 0)
    return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use "
           "\"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a "
           "deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n";
  std::string out;
  bool slowlog_enabled = false, slowlog_tuning = false, slowlog_inspect = false, scheduler = false, hz = false,
       large_objects = false;
  int n = 0;
  for (auto& [name, s] : m.events) {
    if (n == 0)
      out += "Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you "
             "Dave?\n\n";
    uint64_t sum = 0, count = 0;
    int64_t first = 0, last = 0;
    for (const Sample& x : s.samples) {
      if (x.time == 0) continue;
      sum += x.latency;
      ++count;
      first = first ? std::min(first, x.time) : x.time;
      last = std::max(last, x.time);
    }
    const uint64_t avg = count ? sum / count : 0;
    double dev = 0;
    for (const Sample& x : s.samples)
      if (x.time) dev += std::fabs(static_cast<double>(x.latency) - static_cast<double>(avg));
    const uint64_t mad = count ? static_cast<uint64_t>(dev / static_cast<double>(count)) : 0;
    const double period = count ? static_cast<double>(last - first) / static_cast<double>(count) : 0;
    char line[512];
    std::snprintf(line, sizeof line,
                  "%d. %s: %llu latency spikes (average %llums, mean deviation %llums, period %.2f sec). Worst all "
                  "time event %llums.\n",
                  ++n, name.c_str(), static_cast<unsigned long long>(count), static_cast<unsigned long long>(avg),
                  static_cast<unsigned long long>(mad), period, static_cast<unsigned long long>(s.max));
    out += line;
    if (name == "command") {
      const int64_t slower_than = cfg.slowlog_log_slower_than.load();
      if (slower_than < 0) slowlog_enabled = true;
      else if (slower_than / 1000 > threshold) slowlog_tuning = true;
      slowlog_inspect = large_objects = true;
    } else if (name == "fast-command") {
      scheduler = true;
    } else if (name == "expire-cycle") {
      hz = large_objects = true;
    }
  }
  const bool advice = slowlog_enabled || slowlog_tuning || slowlog_inspect || scheduler || hz || large_objects;
  if (n == 0 && !advice)
    return "Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest "
           "bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n";
  if (!advice)
    return out + "\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the "
                 "Redis community to get some help, providing this report in your help request.\n";
  out += "\nI have a few advices for you:\n\n";
  const std::string threshold_us = std::to_string(static_cast<unsigned long long>(threshold) * 1000);
  if (slowlog_enabled)
    out += "- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log "
           "Redis feature using the command 'CONFIG SET slowlog-log-slower-than " +
           threshold_us + "'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n";
  if (slowlog_tuning)
    out += "- Your current Slow Log configuration only logs events that are slower than your configured latency "
           "monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than " +
           threshold_us + "'.\n";
  if (slowlog_inspect)
    out += "- Check your Slow Log to understand what are the commands you are running which are too slow to "
           "execute. Please check https://redis.io/commands/slowlog for more information.\n";
  if (scheduler)
    out += "- The system is slow to execute Redis code paths not containing system calls. This usually means the "
           "system does not provide Redis CPU time to run for long periods. You should try to:\n"
           "  1) Lower the system load.\n"
           "  2) Use a computer / VM just for Redis if you are running other software in the same system.\n"
           "  3) Check if you have a \"noisy neighbour\" problem.\n"
           "  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n"
           "  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using "
           "Jemalloc. However this may create fragmentation problems.\n";
  if (hz)
    out += "- In order to make the Redis keys expiring process more incremental, try to set the 'hz' configuration "
           "parameter to 100 using 'CONFIG SET hz 100'.\n";
  if (large_objects)
    out += "- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If "
           "you have very large objects that are often deleted, expired, or evicted, try to fragment those objects "
           "into multiple smaller objects.\n";
  return out;
}

// ---- HISTOGRAM ----

void ReplyHistogram(resp::ReplyBuilder& rb, const std::string& name, const LatencyHistogram& h) {
  rb.Bulk(name);
  rb.MapHeader(2);
  rb.Bulk("calls");
  rb.Integer(static_cast<int64_t>(h.count()));
  rb.Bulk("histogram_usec");
  auto rows = h.CumulativePowersOfTwo();
  rb.MapHeader(rows.size());
  for (auto [us, n] : rows) {
    rb.Integer(static_cast<int64_t>(us));
    rb.Integer(static_cast<int64_t>(n));
  }
}

void Histogram(ConnectionContext& c) {
  std::vector<std::string> names;
  for (size_t j = 2; j < c.args.size(); ++j) names.emplace_back(c.args[j]);
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb, names]() -> awaitable<void> {
    const unsigned n = srv.shards().size();
    std::vector<CommandStatsSet> sets(n);
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    co_await AwaitAll(ctxs, [&](size_t t) { sets[t] = SnapshotLocalStats(t == 0); });
    CommandStatsSet all;
    for (auto& s : sets) all.MergeFrom(s);
    // The slots to show, in the order named (a name given twice is shown twice, as
    // Redis does): a container named alone stands for its subcommands.
    std::vector<size_t> slots;
    auto add = [&](size_t slot) {
      if (slot < all.commands.size() && all.commands[slot].histogram.count()) slots.push_back(slot);
    };
    if (names.empty()) {
      for (size_t i = 0; i < all.commands.size(); ++i) add(i);
    } else {
      for (const std::string& name : names) {
        const size_t slot = CommandSlotByName(name);
        if (slot >= CommandSlotCount()) continue;
        if (slot < all.commands.size() && all.commands[slot].histogram.count()) {
          add(slot);
          continue;
        }
        const std::string prefix = CommandSlotName(slot) + "|";
        for (size_t i = slot + 1; i < CommandSlotCount() && CommandSlotName(i).starts_with(prefix); ++i) add(i);
      }
    }
    rb.MapHeader(slots.size());
    for (size_t slot : slots) ReplyHistogram(rb, CommandSlotName(slot), all.commands[slot].histogram);
  };
}

void LatencyCommand(ConnectionContext& c) {
  const std::string sub = store::ToLower(c.args[1]);
  Monitor& m = TheMonitor();
  auto arity = [&](int a) {
    if (store::CommandSpec::ArityAllows(a, c.args.size())) return true;
    c.reply.Error(store::errors::WrongArity("latency|" + sub));
    return false;
  };
  if (sub == "help") {
    if (!arity(2)) return;
    c.reply.SimpleStringArray(std::initializer_list<const char*>{
         "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "DOCTOR",
         "    Return a human readable latency analysis report.", "GRAPH <event>",
         "    Return an ASCII latency graph for the <event> class.", "HISTORY <event>",
         "    Return time-latency samples for the <event> class.", "LATEST",
         "    Return the latest latency samples for all events.", "RESET [<event> ...]",
         "    Reset latency data of one or more <event> classes.",
         "    (default: reset all data for all event classes)", "HISTOGRAM [COMMAND ...]",
         "    Return a cumulative distribution of latencies in the format of a histogram for the specified command "
         "names.",
         "    If no commands are specified then all histograms are replied.", "HELP", "    Prints this help."});
  } else if (sub == "latest") {
    if (!arity(2)) return;
    MutexLock lock(&m.mu);
    c.reply.ArrayHeader(m.events.size());
    for (auto& [name, s] : m.events) {
      const Sample& last = s.samples[(s.next + kSamples - 1) % kSamples];
      c.reply.ArrayHeader(4);
      c.reply.Bulk(name);
      c.reply.Integer(last.time);
      c.reply.Integer(static_cast<int64_t>(last.latency));
      c.reply.Integer(static_cast<int64_t>(s.max));
    }
  } else if (sub == "history") {
    if (!arity(3)) return;
    MutexLock lock(&m.mu);
    auto it = m.events.find(c.args[2]);
    if (it == m.events.end()) {
      c.reply.ArrayHeader(0);
      return;
    }
    std::vector<Sample> samples;
    for (size_t j = 0; j < kSamples; ++j) {
      const Sample& x = it->second.samples[(it->second.next + j) % kSamples];
      if (x.time) samples.push_back(x);
    }
    c.reply.ArrayHeader(samples.size());
    for (const Sample& x : samples) {
      c.reply.ArrayHeader(2);
      c.reply.Integer(x.time);
      c.reply.Integer(static_cast<int64_t>(x.latency));
    }
  } else if (sub == "graph") {
    if (!arity(3)) return;
    MutexLock lock(&m.mu);
    auto it = m.events.find(c.args[2]);
    if (it == m.events.end()) {
      c.reply.Error("ERR No samples available for event '" + std::string(c.args[2]) + "'");
      return;
    }
    c.reply.Verbatim(Graph(it->first, it->second));
  } else if (sub == "doctor") {
    if (!arity(2)) return;
    MutexLock lock(&m.mu);
    c.reply.Verbatim(Doctor(m));
  } else if (sub == "reset") {
    if (!arity(-2)) return;
    MutexLock lock(&m.mu);
    int64_t resets = 0;
    if (c.args.size() == 2) {
      resets = static_cast<int64_t>(m.events.size());
      m.events.clear();
    } else {
      // Case-insensitive, as Redis's latencyResetEvent (HISTORY and GRAPH are not).
      for (size_t j = 2; j < c.args.size(); ++j) {
        for (auto it = m.events.begin(); it != m.events.end();) {
          if (store::EqualsIgnoreCase(it->first, c.args[j])) {
            it = m.events.erase(it);
            ++resets;
          } else {
            ++it;
          }
        }
      }
    }
    c.reply.Integer(resets);
  } else if (sub == "histogram") {
    if (!arity(-2)) return;
    Histogram(c);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try LATENCY HELP.");
  }
}

}  // namespace

void LatencyAddSampleIfNeeded(std::string_view event, int64_t latency_ms) {
  const int64_t threshold = Introspection().latency_monitor_threshold.load(std::memory_order_relaxed);
  if (threshold <= 0 || latency_ms < threshold) return;
  const uint64_t latency = static_cast<uint64_t>(latency_ms);
  const int64_t now = NowSeconds();
  Monitor& m = TheMonitor();
  MutexLock lock(&m.mu);
  auto it = m.events.find(event);
  if (it == m.events.end()) it = m.events.emplace(std::string(event), Series{}).first;
  Series& s = it->second;
  s.max = std::max(s.max, latency);
  // One sample a second: a second's later samples only raise its value.
  Sample& prev = s.samples[(s.next + kSamples - 1) % kSamples];
  if (prev.time == now) {
    prev.latency = std::max(prev.latency, latency);
    return;
  }
  s.samples[s.next] = {now, latency};
  s.next = (s.next + 1) % kSamples;
}

void LatencyOfferCommand(const store::CommandSpec& spec, int64_t latency_ms) {
  LatencyAddSampleIfNeeded((spec.flags & store::kCmdFast) ? "fast-command" : "command", latency_ms);
}

void RegisterLatencyFamily(store::CommandTable& t) {
  GetObserverHooks().latency_event = LatencyAddSampleIfNeeded;
  using namespace store;
  constexpr uint32_t kAnyState = kCmdLoading | kCmdStale;
  constexpr uint32_t kAdmin = kCmdAdmin | kCmdNoScript | kAnyState;
  CommandFamily family(t, 0);
  family << CommandRow("latency", -2, kAdmin)
                .Connection(LatencyCommand)
                .Container()
                .Subcommands({Sub("help", 2, kAnyState), Sub("reset", -2, kAdmin), Sub("histogram", -2, kAdmin),
                              Sub("doctor", 2, kAdmin), Sub("history", 3, kAdmin), Sub("latest", 2, kAdmin),
                              Sub("graph", 3, kAdmin)});
}

}  // namespace darter::server
