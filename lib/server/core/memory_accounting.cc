#include "server/core/memory_accounting.h"

#include <malloc.h>

#include <algorithm>

#if defined(__SANITIZE_ADDRESS__)
// From the ASan runtime (its header, sanitizer/allocator_interface.h, is not in every
// compiler package).
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace darter::memory {

ThreadCounter g_thread_counters[kCountedThreads + 1];
std::atomic<unsigned> g_threads_counted{0};
std::atomic<bool> g_interposer_active{false};

int64_t AllocatedBytes() {
  if (ExactAccounting()) {
    unsigned n = std::min(g_threads_counted.load(std::memory_order_acquire), kCountedThreads);
    int64_t sum = g_thread_counters[kCountedThreads].bytes.load(std::memory_order_relaxed);
    for (unsigned i = 0; i < n; ++i) sum += g_thread_counters[i].bytes.load(std::memory_order_relaxed);
    return std::max<int64_t>(sum, 0);
  }
#if defined(__SANITIZE_ADDRESS__)
  return static_cast<int64_t>(__sanitizer_get_current_allocated_bytes());
#else
  struct mallinfo2 mi = mallinfo2();
  return static_cast<int64_t>(mi.uordblks + mi.hblkhd);
#endif
}

}  // namespace darter::memory
