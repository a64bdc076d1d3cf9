// Keyspace notifications (Redis's notify-keyspace-events): the event classes, their
// flag-string form, the process-wide enabled set, and the sink that publishes them.
//
// The store fires an event through Shard::NotifyKeyspaceEvent with its class; nothing
// happens (one relaxed load and a branch) unless the class is enabled. Publishing is
// lib/server's business (it owns pub/sub), so the store only knows the sink interface.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace darter::store {

// Class bits, as Redis numbers them (server.h NOTIFY_*).
enum KeyspaceEventClass : uint32_t {
  kNotifyKeyspace = 1u << 0,  // K: publish on __keyspace@<db>__:<key>
  kNotifyKeyevent = 1u << 1,  // E: publish on __keyevent@<db>__:<event>
  kNotifyGeneric = 1u << 2,   // g: del, expire, rename_*, ...
  kNotifyString = 1u << 3,    // $
  kNotifyList = 1u << 4,      // l
  kNotifySet = 1u << 5,       // s
  kNotifyHash = 1u << 6,      // h
  kNotifyZset = 1u << 7,      // z
  kNotifyExpired = 1u << 8,   // x
  kNotifyEvicted = 1u << 9,   // e
  kNotifyStream = 1u << 10,   // t
  kNotifyKeyMiss = 1u << 11,  // m (not part of A)
  kNotifyModule = 1u << 13,   // d (no module fires it; accepted as Redis 7.0 does)
  kNotifyNew = 1u << 14,      // n (Redis 7.0; not part of A)
  // A: every data class, "g$lshzxetd".
  kNotifyAll = kNotifyGeneric | kNotifyString | kNotifyList | kNotifySet | kNotifyHash | kNotifyZset |
               kNotifyExpired | kNotifyEvicted | kNotifyStream | kNotifyModule,
};

// Redis's keyspaceEventsStringToFlags: nullopt on a character that names no class.
std::optional<uint32_t> ParseKeyspaceEventFlags(std::string_view s);
// Redis's keyspaceEventsFlagsToString: the canonical form CONFIG GET shows. As in Redis
// 7.0, "A" covers every class of kNotifyAll and then hides 'n' (only m, K, E follow it).
std::string FormatKeyspaceEventFlags(uint32_t flags);

// The enabled classes (notify-keyspace-events). Set by CONFIG SET on any thread; read
// relaxed on every shard thread's hot path.
inline std::atomic<uint32_t> keyspace_event_flags{0};

// Receives enabled events. Called on the shard thread that fired the event, in firing
// order; must be safe to call from every shard thread at once.
class KeyspaceEventSink {
 public:
  virtual ~KeyspaceEventSink() = default;
  // `cls` is the event's class bit (K/E decide which channels get it).
  virtual void Publish(uint32_t cls, std::string_view event, unsigned db, std::string_view key) = 0;
};

// The process-wide sink (the server's pub/sub), set once before shard threads run
// commands; null (events dropped) in unit tests that set none.
void SetKeyspaceEventSink(KeyspaceEventSink* sink);
KeyspaceEventSink* GetKeyspaceEventSink();

}  // namespace darter::store
