#include "server/core/command_stats.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <unordered_map>

#include "server/core/observer_hooks.h"
#include "server/core/shard_set.h"
#include "store/string_util.h"
#include "store/thread_annotations.h"

namespace darter::server {

IntrospectionSettings& Introspection() {
  static IntrospectionSettings settings;
  return settings;
}

namespace {

Mutex percentiles_mu;
std::vector<double>& PercentilesLocked() {
  static std::vector<double> p{50, 99, 99.9};
  return p;
}

// %f with its trailing zeros (and a bare '.') trimmed, as Redis prints percentiles.
std::string TrimmedDouble(double v) {
  char buf[128];
  int n = std::snprintf(buf, sizeof buf, "%f", v);
  std::string s(buf, n > 0 ? static_cast<size_t>(n) : 0);
  if (s.find('.') != std::string::npos) {
    while (!s.empty() && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
  }
  return s;
}

}  // namespace

std::string SetInfoPercentiles(std::string_view text) {
  std::vector<double> parsed;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) {
      auto v = store::ParseDouble(text.substr(i, j - i));
      if (!v || std::isnan(*v)) return "Invalid latency-tracking-info-percentiles parameters";
      if (*v < 0 || *v > 100) return "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]";
      parsed.push_back(*v);
    }
    i = j;
  }
  MutexLock lock(&percentiles_mu);
  PercentilesLocked() = std::move(parsed);
  return "";
}

std::vector<double> InfoPercentiles() {
  MutexLock lock(&percentiles_mu);
  return PercentilesLocked();
}

std::string InfoPercentilesText() {
  std::string out;
  for (double p : InfoPercentiles()) {
    if (!out.empty()) out += ' ';
    out += TrimmedDouble(p);
  }
  return out;
}

bool TimingWanted() {
  const IntrospectionSettings& s = Introspection();
  return s.latency_tracking.load(std::memory_order_relaxed) ||
         (s.slowlog_log_slower_than.load(std::memory_order_relaxed) >= 0 &&
          s.slowlog_max_len.load(std::memory_order_relaxed) > 0) ||
         s.latency_monitor_threshold.load(std::memory_order_relaxed) > 0;
}

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- LatencyHistogram ----

namespace {
constexpr uint64_t kHistMin = 1, kHistMax = 1000000000;  // 1 ns .. 1 s, as Redis
constexpr unsigned kSubBits = 7;                          // 128 buckets per power of two
constexpr uint64_t kExactBelow = uint64_t{2} << kSubBits;  // 256: one bucket per value below
}  // namespace

size_t LatencyHistogram::IndexOf(uint64_t v) {
  if (v < kExactBelow) return static_cast<size_t>(v);
  const unsigned m = 63 - static_cast<unsigned>(std::countl_zero(v));  // >= kSubBits + 1
  const uint64_t sub = v >> (m - kSubBits);                             // [128, 256)
  return kExactBelow + (m - kSubBits - 1) * (uint64_t{1} << kSubBits) + (sub - (uint64_t{1} << kSubBits));
}

uint64_t LatencyHistogram::LowestOf(size_t index) {
  if (index < kExactBelow) return index;
  const size_t rel = index - kExactBelow;
  const unsigned m = static_cast<unsigned>(rel >> kSubBits) + kSubBits + 1;
  const uint64_t sub = (rel & ((1u << kSubBits) - 1)) + (uint64_t{1} << kSubBits);
  return sub << (m - kSubBits);
}

uint64_t LatencyHistogram::HighestOf(size_t index) {
  if (index < kExactBelow) return index;
  const unsigned m = static_cast<unsigned>((index - kExactBelow) >> kSubBits) + kSubBits + 1;
  return LowestOf(index) + (uint64_t{1} << (m - kSubBits)) - 1;
}

void LatencyHistogram::Record(uint64_t ns) {
  ns = std::clamp(ns, kHistMin, kHistMax);
  const size_t i = IndexOf(ns);
  // Grown to the largest value seen, a power of two's buckets at a time.
  if (buckets_.size() <= i) buckets_.resize((i | ((size_t{1} << kSubBits) - 1)) + 1);
  ++buckets_[i];
  ++count_;
}

void LatencyHistogram::Merge(const LatencyHistogram& o) {
  if (o.count_ == 0) return;
  if (buckets_.size() < o.buckets_.size()) buckets_.resize(o.buckets_.size());
  for (size_t i = 0; i < o.buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
}

uint64_t LatencyHistogram::ValueAtPercentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // HDR's rule: the count reached at the percentile, rounded, at least 1.
  uint64_t wanted = static_cast<uint64_t>(p / 100.0 * static_cast<double>(count_) + 0.5);
  wanted = std::max<uint64_t>(wanted, 1);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= wanted) return HighestOf(i);
  }
  return HighestOf(buckets_.size() - 1);
}

std::vector<std::pair<uint64_t, uint64_t>> LatencyHistogram::CumulativePowersOfTwo() const {
  std::vector<std::pair<uint64_t, uint64_t>> rows;
  uint64_t seen = 0, last = 0;
  size_t i = 0;
  for (uint64_t level = 1024; seen < count_; level *= 2) {
    // Every bucket starting at or below the level's bucket counts for it.
    const size_t upto = IndexOf(level);
    for (; i < buckets_.size() && i <= upto; ++i) seen += buckets_[i];
    if (seen > last) rows.emplace_back(HighestOf(upto) / 1000, seen);
    last = seen;
  }
  return rows;
}

// ---- counters ----

void CommandCounters::Merge(const CommandCounters& o) {
  calls += o.calls;
  usec += o.usec;
  rejected += o.rejected;
  failed += o.failed;
  histogram.Merge(o.histogram);
}

void CommandStatsSet::MergeFrom(const CommandStatsSet& o) {
  if (commands.size() < o.commands.size()) commands.resize(o.commands.size());
  for (size_t i = 0; i < o.commands.size(); ++i) commands[i].Merge(o.commands[i]);
  for (auto& [code, n] : o.errors) {
    auto it = errors.find(code);
    // Redis keeps at most 128 error codes; later new ones count in the total only.
    if (it != errors.end()) it->second += n;
    else if (errors.size() < 128) errors.emplace(code, n);
  }
  total_error_replies += o.total_error_replies;
}

namespace {

struct Slots {
  std::vector<std::string> names;
  std::unordered_map<const store::CommandSpec*, size_t> base;
  std::unordered_map<std::string, size_t> by_name;
};

const Slots& AllSlots() {
  // Built at the first command: every family registered before the server serves.
  static const Slots slots = [] {
    Slots s;
    for (const auto& spec : store::CommandTable::Global().all()) {
      s.base[spec.get()] = s.names.size();
      s.by_name[spec->name] = s.names.size();
      s.names.push_back(spec->name);
      for (const auto& sub : spec->subcommands) {
        std::string name = spec->name + "|" + sub.name;
        s.by_name[name] = s.names.size();
        s.names.push_back(std::move(name));
      }
    }
    return s;
  }();
  return slots;
}

constexpr size_t kNoSlot = std::numeric_limits<size_t>::max();

// A thread that is no shard thread (none runs commands today) shares this set.
Mutex shared_mu;
CommandStatsSet& SharedSetLocked() {
  static CommandStatsSet s;
  return s;
}
thread_local CommandStatsSet tl_stats;

// Runs fn on the calling thread's set.
template <typename Fn>
void WithLocalSet(Fn fn) {
  if (ShardSet::CurrentIndex() >= 0) {
    fn(tl_stats);
    return;
  }
  MutexLock lock(&shared_mu);
  fn(SharedSetLocked());
}

CommandCounters* CountersIn(CommandStatsSet& set, size_t slot) {
  if (set.commands.size() <= slot) set.commands.resize(CommandSlotCount());
  return &set.commands[slot];
}

}  // namespace

size_t CommandSlotCount() { return AllSlots().names.size(); }
const std::string& CommandSlotName(size_t slot) { return AllSlots().names[slot]; }

size_t CommandSlotOf(const store::CommandSpec& spec, store::ArgList args) {
  const Slots& s = AllSlots();
  auto it = s.base.find(&spec);
  if (it == s.base.end()) return kNoSlot;
  if (spec.subcommands.empty() || args.size() < 2) return spec.container ? kNoSlot : it->second;
  const store::SubcommandSpec* sub = spec.FindSubcommand(args[1]);
  if (!sub) return spec.container ? kNoSlot : it->second;
  return it->second + 1 + static_cast<size_t>(sub - spec.subcommands.data());
}

size_t CommandSlotByName(std::string_view name) {
  const Slots& s = AllSlots();
  auto it = s.by_name.find(store::ToLower(name));
  return it == s.by_name.end() ? kNoSlot : it->second;
}

void RecordRejected(const store::CommandSpec& spec, store::ArgList args) {
  const size_t slot = CommandSlotOf(spec, args);
  if (slot == kNoSlot) return;
  WithLocalSet([&](CommandStatsSet& set) { ++CountersIn(set, slot)->rejected; });
}

void RecordCall(const store::CommandSpec& spec, store::ArgList args, int64_t duration_ns, bool failed) {
  const size_t slot = CommandSlotOf(spec, args);
  if (slot == kNoSlot) return;
  const bool track = duration_ns >= 0 && Introspection().latency_tracking.load(std::memory_order_relaxed);
  WithLocalSet([&](CommandStatsSet& set) {
    CommandCounters& c = *CountersIn(set, slot);
    ++c.calls;
    if (failed) ++c.failed;
    if (duration_ns > 0) c.usec += static_cast<uint64_t>(duration_ns) / 1000;
    if (track) c.histogram.Record(static_cast<uint64_t>(duration_ns));
  });
}

void RecordErrorReply(std::string_view error) {
  // Redis's rule: the first word when a space comes within the first 32 bytes, else ERR.
  std::string_view code = "ERR";
  const size_t space = error.substr(0, 31).find(' ');
  if (space != std::string_view::npos && space > 0) code = error.substr(0, space);
  WithLocalSet([&](CommandStatsSet& set) {
    ++set.total_error_replies;
    auto it = set.errors.find(std::string(code));
    if (it != set.errors.end()) ++it->second;
    else if (set.errors.size() < 128) set.errors.emplace(std::string(code), 1);
  });
}

std::string_view ErrorOfReply(std::string_view reply) {
  if (reply.empty() || reply[0] != '-') return {};
  const size_t end = reply.find('\r');
  return reply.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1);
}

CommandStatsSet SnapshotLocalStats(bool include_shared) {
  CommandStatsSet out;
  if (ShardSet::CurrentIndex() >= 0) out.MergeFrom(tl_stats);
  if (include_shared) {
    MutexLock lock(&shared_mu);
    out.MergeFrom(SharedSetLocked());
  }
  return out;
}

void ResetLocalStats(bool include_shared) {
  if (ShardSet::CurrentIndex() >= 0) tl_stats = CommandStatsSet{};
  if (include_shared) {
    MutexLock lock(&shared_mu);
    SharedSetLocked() = CommandStatsSet{};
  }
}

std::string InfoCommandStats(const CommandStatsSet& s) {
  std::string out;
  char buf[512];
  for (size_t i = 0; i < s.commands.size(); ++i) {
    const CommandCounters& c = s.commands[i];
    if (!c.calls && !c.failed && !c.rejected) continue;
    std::snprintf(buf, sizeof buf,
                  "cmdstat_%s:calls=%llu,usec=%llu,usec_per_call=%.2f,rejected_calls=%llu,failed_calls=%llu\r\n",
                  CommandSlotName(i).c_str(), static_cast<unsigned long long>(c.calls),
                  static_cast<unsigned long long>(c.usec),
                  c.calls ? static_cast<double>(c.usec) / static_cast<double>(c.calls) : 0.0,
                  static_cast<unsigned long long>(c.rejected), static_cast<unsigned long long>(c.failed));
    out += buf;
  }
  return out;
}

std::string InfoErrorStats(const CommandStatsSet& s) {
  std::string out;
  for (auto& [code, n] : s.errors) out += "errorstat_" + code + ":count=" + std::to_string(n) + "\r\n";
  return out;
}

std::string InfoLatencyStats(const CommandStatsSet& s) {
  const std::vector<double> percentiles = InfoPercentiles();
  std::string out;
  char buf[64];
  for (size_t i = 0; i < s.commands.size(); ++i) {
    const LatencyHistogram& h = s.commands[i].histogram;
    if (h.count() == 0) continue;
    out += "latency_percentiles_usec_" + CommandSlotName(i) + ":";
    for (size_t j = 0; j < percentiles.size(); ++j) {
      std::snprintf(buf, sizeof buf, "=%.3f", static_cast<double>(h.ValueAtPercentile(percentiles[j])) / 1000.0);
      out += (j ? ",p" : "p") + TrimmedDouble(percentiles[j]) + buf;
    }
    out += "\r\n";
  }
  return out;
}

void FinishCommand(const store::CommandSpec& spec, store::ArgList args, int64_t duration_ns, bool failed,
                   std::string_view client_addr, std::string_view client_name) {
  RecordCall(spec, args, duration_ns, failed);
  if (duration_ns < 0) return;
  const int64_t us = duration_ns / 1000;
  const ObserverHooks& hooks = GetObserverHooks();
  if (hooks.slow_command) hooks.slow_command(spec, args, us, client_addr, client_name);
  if (hooks.latency_event) hooks.latency_event((spec.flags & store::kCmdFast) ? "fast-command" : "command", us / 1000);
}

}  // namespace darter::server
