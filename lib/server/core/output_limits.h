// client-output-buffer-limit: how much unsent output a client may accumulate before the
// server disconnects it, per client class, as Redis configures it:
//   "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"
// A class's hard limit disconnects as soon as pending output reaches it; its soft limit
// disconnects when pending output stays at or above it for more than soft_seconds.
// 0 disables a limit. Connections check after every command of a batch and on every
// asynchronous push (pub/sub message); the replication feed checks its replica class.
//
// Thread-safety: the limits are process-wide atomics; CONFIG SET may run on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace darter::server {

enum class ClientClass { kNormal = 0, kReplica = 1, kPubSub = 2 };

struct OutputBufferLimit {
  uint64_t hard_bytes = 0;
  uint64_t soft_bytes = 0;
  int64_t soft_seconds = 0;
};

OutputBufferLimit GetOutputBufferLimit(ClientClass cls);
// CONFIG GET's value: every class, Redis's order and names ("slave" for replica).
std::string FormatOutputBufferLimits();
// CONFIG SET's value: one or more "<class> <hard> <soft> <soft_seconds>" groups; nothing
// changes unless every group is valid. Returns Redis's error message on failure.
std::optional<std::string> SetOutputBufferLimits(std::string_view value);

// The bytes the limits are compared with, Redis's way: Redis keeps the first 16 KB of a
// client's output in a fixed buffer it does not count, so a limit applies to what
// overflows it. `unsent` is every byte produced and not yet written.
uint64_t OutputBufferUsage(uint64_t unsent);

// Tracks one client's time above its soft limit. Owner thread only.
class OutputLimitTracker {
 public:
  // True when a client of class `cls` with `pending` unsent bytes must be disconnected.
  bool Exceeded(ClientClass cls, uint64_t pending, int64_t now_ms);

 private:
  int64_t soft_since_ms_ = 0;  // 0: below the soft limit
};

}  // namespace darter::server
