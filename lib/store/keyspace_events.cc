#include "store/keyspace_events.h"

namespace darter::store {

namespace {

// Character and class, in the order keyspaceEventsFlagsToString emits the data classes.
struct ClassChar {
  char c;
  uint32_t bit;
};
constexpr ClassChar kDataClasses[] = {
    {'g', kNotifyGeneric}, {'$', kNotifyString},  {'l', kNotifyList},    {'s', kNotifySet},
    {'h', kNotifyHash},    {'z', kNotifyZset},    {'x', kNotifyExpired}, {'e', kNotifyEvicted},
    {'t', kNotifyStream},  {'d', kNotifyModule},  {'n', kNotifyNew},
};

std::atomic<KeyspaceEventSink*> g_sink{nullptr};

}  // namespace

std::optional<uint32_t> ParseKeyspaceEventFlags(std::string_view s) {
  uint32_t flags = 0;
  for (char ch : s) {
    switch (ch) {
      case 'A': flags |= kNotifyAll; continue;
      case 'K': flags |= kNotifyKeyspace; continue;
      case 'E': flags |= kNotifyKeyevent; continue;
      case 'm': flags |= kNotifyKeyMiss; continue;
      default: break;
    }
    bool found = false;
    for (const ClassChar& cc : kDataClasses) {
      if (cc.c == ch) {
        flags |= cc.bit;
        found = true;
        break;
      }
    }
    if (!found) return std::nullopt;
  }
  return flags;
}

std::string FormatKeyspaceEventFlags(uint32_t flags) {
  std::string out;
  if ((flags & kNotifyAll) == kNotifyAll) {
    out += 'A';
  } else {
    for (const ClassChar& cc : kDataClasses)
      if (flags & cc.bit) out += cc.c;
  }
  if (flags & kNotifyKeyspace) out += 'K';
  if (flags & kNotifyKeyevent) out += 'E';
  if (flags & kNotifyKeyMiss) out += 'm';
  return out;
}

void SetKeyspaceEventSink(KeyspaceEventSink* sink) { g_sink.store(sink, std::memory_order_release); }
KeyspaceEventSink* GetKeyspaceEventSink() { return g_sink.load(std::memory_order_acquire); }

}  // namespace darter::store
