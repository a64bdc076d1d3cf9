// Progress display for darter-migrate: one model (phase, keys, bytes, rate, ETA, lag)
// rendered either as a live bar rewritten in place (terminal) or as plain timestamped
// lines (pipes, logs, CI). LagTracker turns offset samples into a lag in seconds.
//
// Thread-safety: requires external synchronization (the main loop owns both).
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <string>

namespace darter::migrate {

// What the migration is doing; the words are shown to the user and put in the report.
enum class Phase { kConnecting, kWaitingSnapshot, kTransfer, kCatchUp, kInSync, kCutover, kVerify, kSave, kDone };
const char* PhaseName(Phase p);

struct ProgressSample {
  Phase phase = Phase::kConnecting;
  int64_t keys = 0;            // keys loaded by the target so far (full sync)
  int64_t keys_expected = -1;  // the source's key count, when known
  int64_t bytes = 0;           // RDB bytes received
  int64_t bytes_total = -1;    // -1: diskless transfer (size unknown)
  double bytes_per_s = 0;
  double keys_per_s = 0;
  double eta_s = -1;           // -1: unknown
  int64_t lag_bytes = -1;      // after the transfer: source offset - target offset
  double lag_s = -1;
  std::string note;            // e.g. the replica's last error while it retries
};

// Lag in seconds: the age of the newest source offset the target has reached.
class LagTracker {
 public:
  void AddSourceOffset(double now_s, int64_t source_offset);
  // Seconds the target is behind; 0 when it has applied the latest sample.
  double LagSeconds(double now_s, int64_t target_offset) const;

 private:
  std::deque<std::pair<double, int64_t>> samples_;  // (time, source offset), oldest first
};

class ProgressPrinter {
 public:
  // `tty`: rewrite one line in place; else one timestamped line per `interval_s`
  // and on every phase change. `out` is stdout, or stderr when stdout carries JSON.
  ProgressPrinter(FILE* out, bool tty, double interval_s);
  void Update(const ProgressSample& s, double now_s);
  // Ends the live line (before printing anything else).
  void Finish();
  // A message line (timestamped when not a terminal), keeping the bar intact.
  void Message(const std::string& text);

 private:
  std::string Render(const ProgressSample& s) const;

  FILE* out_;
  bool tty_;
  double interval_s_;
  double last_print_s_ = -1e9;
  Phase last_phase_ = Phase::kDone;
  bool bar_shown_ = false;
};

// "2024-05-01 12:00:00.123" in local time.
std::string Timestamp();
std::string HumanBytes(double bytes);
std::string HumanDuration(double seconds);

}  // namespace darter::migrate
