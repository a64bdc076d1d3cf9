#include "migrate/progress.h"

#include <sys/time.h>

#include <cmath>
#include <ctime>

namespace darter::migrate {

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kConnecting: return "connecting";
    case Phase::kWaitingSnapshot: return "waiting-snapshot";
    case Phase::kTransfer: return "transfer";
    case Phase::kCatchUp: return "catch-up";
    case Phase::kInSync: return "in-sync";
    case Phase::kCutover: return "cutover";
    case Phase::kVerify: return "verify";
    case Phase::kSave: return "save";
    case Phase::kDone: return "done";
  }
  return "?";
}

void LagTracker::AddSourceOffset(double now_s, int64_t source_offset) {
  if (!samples_.empty() && samples_.back().second == source_offset) return;  // keep the first time seen
  samples_.emplace_back(now_s, source_offset);
  while (samples_.size() > 4096 || (samples_.size() > 1 && now_s - samples_.front().first > 3600)) samples_.pop_front();
}

double LagTracker::LagSeconds(double now_s, int64_t target_offset) const {
  if (samples_.empty() || target_offset >= samples_.back().second) return 0;
  // The first sample the target has not reached: it has been behind since then.
  for (const auto& [t, off] : samples_)
    if (off > target_offset) return std::max(0.0, now_s - t);
  return 0;
}

std::string Timestamp() {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm lt;
  localtime_r(&tv.tv_sec, &lt);
  char buf[64];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &lt);
  snprintf(buf + n, sizeof buf - n, ".%03d", static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

std::string HumanBytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string HumanDuration(double s) {
  if (s < 0 || !std::isfinite(s)) return "?";
  long long t = static_cast<long long>(s + 0.5);
  char buf[32];
  if (t >= 3600)
    snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, (t / 60) % 60, t % 60);
  else
    snprintf(buf, sizeof buf, "%lld:%02lld", t / 60, t % 60);
  return buf;
}

ProgressPrinter::ProgressPrinter(FILE* out, bool tty, double interval_s)
    : out_(out), tty_(tty), interval_s_(interval_s) {}

std::string ProgressPrinter::Render(const ProgressSample& s) const {
  char buf[512];
  std::string line = PhaseName(s.phase);
  if (s.phase == Phase::kTransfer) {
    double frac = -1;
    if (s.bytes_total > 0) frac = static_cast<double>(s.bytes) / static_cast<double>(s.bytes_total);
    else if (s.keys_expected > 0) frac = static_cast<double>(s.keys) / static_cast<double>(s.keys_expected);
    if (frac > 1) frac = 1;
    if (frac >= 0) {
      if (tty_) {
        int width = 24, fill = static_cast<int>(frac * width);
        line = "[" + std::string(fill, '#') + std::string(width - fill, '.') + "] " + line;
      }
      snprintf(buf, sizeof buf, " %5.1f%%", frac * 100);
      line += buf;
    }
    snprintf(buf, sizeof buf, "  keys %lld%s  %s%s  %s/s  %.0f keys/s  ETA %s", static_cast<long long>(s.keys),
             s.keys_expected >= 0 ? ("/" + std::to_string(s.keys_expected)).c_str() : "", HumanBytes(s.bytes).c_str(),
             s.bytes_total >= 0 ? (" of " + HumanBytes(s.bytes_total)).c_str() : "", HumanBytes(s.bytes_per_s).c_str(),
             s.keys_per_s, HumanDuration(s.eta_s).c_str());
    line += buf;
  } else if (s.phase == Phase::kCatchUp || s.phase == Phase::kInSync) {
    if (s.lag_bytes >= 0) {
      snprintf(buf, sizeof buf, "  lag %lld bytes, %.1f s", static_cast<long long>(s.lag_bytes),
               s.lag_s < 0 ? 0.0 : s.lag_s);
      line += buf;
    }
    if (s.keys > 0) line += "  (full sync loaded " + std::to_string(s.keys) + " keys)";
  }
  if (!s.note.empty()) line += "  [" + s.note + "]";
  return line;
}

void ProgressPrinter::Update(const ProgressSample& s, double now_s) {
  if (tty_) {
    std::string line = Render(s);
    fprintf(out_, "\r\033[K%s", line.c_str());
    fflush(out_);
    bar_shown_ = true;
    return;
  }
  if (s.phase == last_phase_ && now_s - last_print_s_ < interval_s_) return;
  last_phase_ = s.phase;
  last_print_s_ = now_s;
  fprintf(out_, "%s %s\n", Timestamp().c_str(), Render(s).c_str());
  fflush(out_);
}

void ProgressPrinter::Finish() {
  if (tty_ && bar_shown_) {
    fprintf(out_, "\n");
    fflush(out_);
  }
  bar_shown_ = false;
}

void ProgressPrinter::Message(const std::string& text) {
  if (tty_) {
    fprintf(out_, "%s%s\n", bar_shown_ ? "\r\033[K" : "", text.c_str());
  } else {
    fprintf(out_, "%s %s\n", Timestamp().c_str(), text.c_str());
  }
  bar_shown_ = false;
  fflush(out_);
}

}  // namespace darter::migrate
