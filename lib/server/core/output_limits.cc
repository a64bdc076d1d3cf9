#include "server/core/output_limits.h"

#include <atomic>
#include <vector>

#include "store/string_util.h"

namespace darter::server {

namespace {

struct AtomicLimit {
  std::atomic<uint64_t> hard, soft;
  std::atomic<int64_t> seconds;
};

// Redis's defaults.
AtomicLimit g_limits[3] = {
    {0, 0, 0},
    {256ull * 1024 * 1024, 64ull * 1024 * 1024, 60},
    {32ull * 1024 * 1024, 8ull * 1024 * 1024, 60},
};

}  // namespace

OutputBufferLimit GetOutputBufferLimit(ClientClass cls) {
  const AtomicLimit& l = g_limits[static_cast<int>(cls)];
  return {l.hard.load(std::memory_order_relaxed), l.soft.load(std::memory_order_relaxed),
          l.seconds.load(std::memory_order_relaxed)};
}

std::string FormatOutputBufferLimits() {
  static const char* kNames[] = {"normal", "slave", "pubsub"};
  std::string out;
  for (int c = 0; c < 3; ++c) {
    OutputBufferLimit l = GetOutputBufferLimit(static_cast<ClientClass>(c));
    if (c) out += ' ';
    out += std::string(kNames[c]) + " " + std::to_string(l.hard_bytes) + " " + std::to_string(l.soft_bytes) + " " +
           std::to_string(l.soft_seconds);
  }
  return out;
}

std::optional<std::string> SetOutputBufferLimits(std::string_view value) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < value.size()) {
    while (i < value.size() && value[i] == ' ') ++i;
    size_t j = i;
    while (j < value.size() && value[j] != ' ') ++j;
    if (j > i) words.push_back(value.substr(i, j - i));
    i = j;
  }
  if (words.empty() || words.size() % 4 != 0) return "Wrong number of arguments in buffer limit configuration.";
  struct Parsed {
    int cls;
    OutputBufferLimit limit;
  };
  std::vector<Parsed> parsed;
  for (size_t w = 0; w < words.size(); w += 4) {
    int cls;
    if (store::EqualsIgnoreCase(words[w], "normal")) cls = 0;
    else if (store::EqualsIgnoreCase(words[w], "replica") || store::EqualsIgnoreCase(words[w], "slave")) cls = 1;
    else if (store::EqualsIgnoreCase(words[w], "pubsub")) cls = 2;
    else return "Invalid client class specified in buffer limit configuration.";
    auto hard = store::ParseMemorySize(words[w + 1]);
    auto soft = store::ParseMemorySize(words[w + 2]);
    auto seconds = store::ParseInt64(words[w + 3]);
    if (!hard || !soft || !seconds || *seconds < 0)
      return "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
    parsed.push_back({cls, {*hard, *soft, *seconds}});
  }
  for (const Parsed& p : parsed) {
    AtomicLimit& l = g_limits[p.cls];
    l.hard.store(p.limit.hard_bytes, std::memory_order_relaxed);
    l.soft.store(p.limit.soft_bytes, std::memory_order_relaxed);
    l.seconds.store(p.limit.soft_seconds, std::memory_order_relaxed);
  }
  return std::nullopt;
}

uint64_t OutputBufferUsage(uint64_t unsent) {
  constexpr uint64_t kUncountedBuffer = 16 * 1024;  // Redis's PROTO_REPLY_CHUNK_BYTES
  return unsent > kUncountedBuffer ? unsent - kUncountedBuffer : 0;
}

bool OutputLimitTracker::Exceeded(ClientClass cls, uint64_t pending, int64_t now_ms) {
  OutputBufferLimit l = GetOutputBufferLimit(cls);
  if (l.hard_bytes && pending >= l.hard_bytes) return true;
  if (!l.soft_bytes || pending < l.soft_bytes) {
    soft_since_ms_ = 0;
    return false;
  }
  if (soft_since_ms_ == 0) {
    soft_since_ms_ = now_ms;
    return false;
  }
  // Redis: disconnect once the soft limit has held for more than soft_seconds.
  return (now_ms - soft_since_ms_) / 1000 > l.soft_seconds;
}

}  // namespace darter::server
