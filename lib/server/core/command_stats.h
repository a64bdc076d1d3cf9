// Command introspection's counters: INFO commandstats / errorstats / latencystats,
// LATENCY HISTOGRAM's histograms, and the settings SLOWLOG and LATENCY read
// (docs/introspection.md).
//
// Where they are fed (dispatcher.h, "Hook point"): Dispatch begins an observation of an
// admitted command (ObserveBegin) or counts a refused one as rejected; the caller that
// awaited the route ends it (Connection::EndObservation), which reads the clock, counts
// the call (failed when its reply is an error) and offers it to the slowlog and the
// latency monitor. Squashed pipeline runs, EXEC's queued commands and a script's
// redis.call record their commands with RecordCall directly.
//
// Cost and threads. Counters live per thread (the shard thread running the recording
// code; a thread that is no shard thread, which runs no commands today, shares one
// mutex-guarded set), written without atomics; INFO, LATENCY HISTOGRAM and CONFIG
// RESETSTAT visit each shard thread to read or clear its own. The clock is read only
// when something needs a duration (TimingWanted): the slowlog on, latency tracking on, or
// a latency-monitor threshold set. With all three off, commandstats' usec stays 0.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/command_table.h"

namespace darter::server {

// The settings, with Redis 7.0's names and defaults; CONFIG SET may change them on any
// thread (config.cc, AddIntrospectionParams).
struct IntrospectionSettings {
  std::atomic<int64_t> slowlog_log_slower_than{10000};  // µs; -1 disables, 0 logs every command
  std::atomic<int64_t> slowlog_max_len{128};
  std::atomic<int64_t> latency_monitor_threshold{0};    // ms; 0: monitor off
  std::atomic<bool> latency_tracking{true};             // per-command histograms
};
IntrospectionSettings& Introspection();
// latency-tracking-info-percentiles ("50 99 99.9"): parsed and kept under a lock (read
// only by INFO). Empty list allowed. Returns CONFIG SET's error when `text` is not a list
// of numbers in [0, 100], else "".
std::string SetInfoPercentiles(std::string_view text);
std::vector<double> InfoPercentiles();
std::string InfoPercentilesText();

// Whether a command's duration is wanted at all (one relaxed load each).
bool TimingWanted();
// Monotonic clock, ns.
int64_t MonotonicNs();

// A log-linear histogram of durations in ns, over [1 ns, 1 s] (values outside are
// clamped), with the precision of Redis's HDR histograms at 2 significant digits: values
// below 256 ns exact, above that 128 buckets per power of two, so a bucket spans at most
// 1/128 (0.78%) of its values. Reported values are a bucket's highest value, as Redis
// reports its HDR "highest equivalent value". Empty (no memory) until the first Record.
class LatencyHistogram {
 public:
  void Record(uint64_t ns);
  void Merge(const LatencyHistogram& other);
  uint64_t count() const { return count_; }
  // The highest value of the bucket holding the p-th percentile (p in [0, 100]), in ns.
  uint64_t ValueAtPercentile(double p) const;
  // LATENCY HISTOGRAM's rows: at each power of two from 1024 ns, the bucket upper bound
  // in µs and how many values are at most that; a row only where that count grows.
  std::vector<std::pair<uint64_t, uint64_t>> CumulativePowersOfTwo() const;

  static size_t IndexOf(uint64_t ns);
  static uint64_t LowestOf(size_t index);
  static uint64_t HighestOf(size_t index);

 private:
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0;
};

// One command's (or subcommand's) counters.
struct CommandCounters {
  uint64_t calls = 0, usec = 0, rejected = 0, failed = 0;
  LatencyHistogram histogram;
  void Merge(const CommandCounters& o);
};

// Every counter of one thread, or (after MergeFrom) of all threads.
struct CommandStatsSet {
  std::vector<CommandCounters> commands;      // by slot (CommandSlotName)
  std::map<std::string, uint64_t> errors;     // by the error's first word
  uint64_t total_error_replies = 0;
  void MergeFrom(const CommandStatsSet& o);
};

// Slots: each registered command, and each subcommand of a command that declares some,
// has one; the name INFO uses ("get", "client|list").
size_t CommandSlotCount();
const std::string& CommandSlotName(size_t slot);
// The slot of `spec` called with `args` (its subcommand's when args[1] names one), or
// SIZE_MAX for a container command whose subcommand is unknown (Redis counts that nowhere
// but in errorstats).
size_t CommandSlotOf(const store::CommandSpec& spec, store::ArgList args);
// The slot named `name` ("get", "config|set"), case-insensitive; SIZE_MAX when none.
size_t CommandSlotByName(std::string_view name);

// Recording, on the calling thread.
void RecordRejected(const store::CommandSpec& spec, store::ArgList args);
// `duration_ns` < 0: not measured (counts the call, adds no time and no sample).
void RecordCall(const store::CommandSpec& spec, store::ArgList args, int64_t duration_ns, bool failed);
// An error reply sent to a client: `error` is the reply without its leading '-'.
void RecordErrorReply(std::string_view error);
// A reply's bytes: the error it is, without '-' (RESP2/RESP3 simple error), or "".
std::string_view ErrorOfReply(std::string_view reply);

// Must run on each shard thread in turn (INFO, LATENCY HISTOGRAM, CONFIG RESETSTAT);
// also take/clear the shared set of non-shard threads once (`include_shared`).
CommandStatsSet SnapshotLocalStats(bool include_shared);
void ResetLocalStats(bool include_shared);

// INFO's section bodies from merged counters.
std::string InfoCommandStats(const CommandStatsSet& s);
std::string InfoErrorStats(const CommandStatsSet& s);
std::string InfoLatencyStats(const CommandStatsSet& s);

// What the connection keeps between Dispatch admitting a command and its route's end.
struct CommandObservation {
  const store::CommandSpec* spec = nullptr;  // null: nothing observed
  int64_t start_ns = -1;                     // -1: not timed
  size_t reply_at = 0;                       // where the reply starts in the output
  uint64_t flush_gen = 0;                    // the output's flush count at the start
  bool untimed = false;                      // a blocking command waited (blocking.cc): no duration
};

// What happens to a command once its duration is known: counted, then offered to the
// slowlog and the latency monitor. `client_addr` / `client_name`: the slowlog's fields.
void FinishCommand(const store::CommandSpec& spec, store::ArgList args, int64_t duration_ns, bool failed,
                   std::string_view client_addr, std::string_view client_name);

}  // namespace darter::server
