// Exact heap accounting, as Redis's zmalloc keeps used_memory.
//
// darter-server links an allocator interposer (apps/server/counting_malloc.cc) that adds
// each block's usable size to its thread's counter on malloc and subtracts it on free.
// A block freed on another thread than the one that allocated it moves bytes between
// two counters, so one thread's figure means nothing alone; the sum over all threads is
// exactly the bytes the process holds in malloc blocks, and a thread's *change* across
// a stretch of its own work (evicting a key) is exactly what that work freed.
//
// Without the interposer (sanitizer builds, where ASan owns malloc; unit tests) the
// figure comes from the sanitizer's allocator statistics or glibc's mallinfo2, which
// cost more: callers that check it per command cache it (see UsedMemoryGauge).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace darter::memory {

struct alignas(64) ThreadCounter {
  // Written only by its thread (a relaxed load and store, no locked instruction); read
  // by anyone. The overflow counter (threads beyond kCountedThreads) is shared and uses
  // fetch_add.
  std::atomic<int64_t> bytes{0};
};

inline constexpr unsigned kCountedThreads = 255;

// Storage the interposer writes; zero when it is not linked.
extern ThreadCounter g_thread_counters[kCountedThreads + 1];  // last: shared overflow
extern std::atomic<unsigned> g_threads_counted;
extern std::atomic<bool> g_interposer_active;

// Bytes held in malloc blocks by the whole process.
int64_t AllocatedBytes();
// Whether AllocatedBytes is exact and cheap (the interposer is linked).
inline bool ExactAccounting() { return g_interposer_active.load(std::memory_order_relaxed); }

}  // namespace darter::memory
