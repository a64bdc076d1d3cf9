// The allocator interposer behind used_memory (server/core/memory_accounting.h).
//
// darter-server defines malloc and its relatives; the dynamic linker binds every
// caller in the process (libstdc++'s operator new, hiredis, Lua, OpenSSL) to them, and
// they forward to glibc's allocator through its __libc_* entry points, adding each
// block's usable size to the calling thread's counter or taking it off. That is what
// Redis's zmalloc does, without a header per block: glibc knows each block's size.
//
// Not linked in sanitizer builds (ASan must own malloc there).
//
// Nothing here may allocate: the thread's counter slot is claimed with one atomic add
// and held in a constinit thread_local (static TLS of the executable, no allocation).
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "server/core/memory_accounting.h"

extern "C" {
void* __libc_malloc(size_t);
void __libc_free(void*);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void* __libc_valloc(size_t);
void* __libc_pvalloc(size_t);
}

namespace {

using darter::memory::g_thread_counters;
using darter::memory::kCountedThreads;
using darter::memory::ThreadCounter;

constinit thread_local ThreadCounter* tl_counter = nullptr;

ThreadCounter* ClaimCounter() {
  unsigned i = darter::memory::g_threads_counted.fetch_add(1, std::memory_order_acq_rel);
  return &g_thread_counters[i < kCountedThreads ? i : kCountedThreads];
}

inline void Count(int64_t delta) {
  ThreadCounter* c = tl_counter;
  if (c == nullptr) [[unlikely]]
    c = tl_counter = ClaimCounter();
  if (c == &g_thread_counters[kCountedThreads]) [[unlikely]] {
    c->bytes.fetch_add(delta, std::memory_order_relaxed);  // shared by late threads
    return;
  }
  c->bytes.store(c->bytes.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
}

inline void* Counted(void* p) {
  if (p) Count(static_cast<int64_t>(malloc_usable_size(p)));
  return p;
}

struct Activate {
  Activate() { darter::memory::g_interposer_active.store(true, std::memory_order_relaxed); }
} activate;

}  // namespace

extern "C" {

void* malloc(size_t n) { return Counted(__libc_malloc(n)); }

void free(void* p) {
  if (!p) return;
  Count(-static_cast<int64_t>(malloc_usable_size(p)));
  __libc_free(p);
}

void* calloc(size_t n, size_t size) { return Counted(__libc_calloc(n, size)); }

void* realloc(void* p, size_t n) {
  if (!p) return malloc(n);
  if (n == 0) {
    free(p);
    return nullptr;
  }
  auto before = static_cast<int64_t>(malloc_usable_size(p));
  void* q = __libc_realloc(p, n);
  if (q) Count(static_cast<int64_t>(malloc_usable_size(q)) - before);
  return q;
}

void* reallocarray(void* p, size_t n, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(n, size, &total)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(p, total);
}

void* memalign(size_t alignment, size_t n) { return Counted(__libc_memalign(alignment, n)); }

void* aligned_alloc(size_t alignment, size_t n) { return Counted(__libc_memalign(alignment, n)); }

int posix_memalign(void** out, size_t alignment, size_t n) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
  void* p = Counted(__libc_memalign(alignment, n));
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}

void* valloc(size_t n) { return Counted(__libc_valloc(n)); }

void* pvalloc(size_t n) { return Counted(__libc_pvalloc(n)); }

}  // extern "C"
