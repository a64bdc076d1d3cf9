#include "server/script/script_fiber.h"

#include <pthread.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#include "store/check.h"

#if defined(__SANITIZE_ADDRESS__)
#define DARTER_ASAN_FIBERS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DARTER_ASAN_FIBERS 1
#endif
#endif
#ifdef DARTER_ASAN_FIBERS
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace darter::server {

namespace {
// Inaccessible pages below each stack: an overflow faults instead of corrupting memory.
constexpr size_t kGuardPage = 64 * 1024;
// A pooled stack whose page this far below the top is resident was used deeply: all
// but its top is given back (one mincore call tells; most scripts stay far above).
constexpr size_t kDeepMark = 1024 * 1024;
constexpr size_t kKeepTouched = 64 * 1024;

// Lowest usable address of the stack the thread runs on now: the running fiber's, or
// (nullptr until first needed) the thread's own.
thread_local const char* tl_stack_low = nullptr;
thread_local const char* tl_thread_stack_low = nullptr;

const char* ThreadStackLow() {
  if (!tl_thread_stack_low) {
    pthread_attr_t attr;
    void* addr = nullptr;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      pthread_attr_getstack(&attr, &addr, &size);
      pthread_attr_destroy(&attr);
    }
    // The lowest page of the main thread's stack may not be mapped yet and a guard
    // page sits below other threads' stacks: keep a margin above the reported bottom.
    tl_thread_stack_low = static_cast<const char*>(addr) + 64 * 1024;
  }
  return tl_thread_stack_low;
}

// A few stacks per thread are kept for reuse: a multi-shard script then costs no
// mmap/munmap. Stacks are lazily backed (MAP_NORESERVE), so a pooled one costs only
// the pages a script touched.
struct StackPool {
  static constexpr size_t kMax = 4;
  std::vector<std::pair<void*, size_t>> free;
  ~StackPool() {
    for (auto& [mem, size] : free) munmap(mem, size);
  }
};
thread_local StackPool tl_pool;

void* TakeStack(size_t total) {
  for (size_t i = 0; i < tl_pool.free.size(); ++i) {
    if (tl_pool.free[i].second == total) {
      void* mem = tl_pool.free[i].first;
      tl_pool.free.erase(tl_pool.free.begin() + static_cast<long>(i));
      return mem;
    }
  }
  void* mem = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  DARTER_CHECK(mem != MAP_FAILED, "out of memory for a script stack");
  // One guard page below the stack turns an overflow into a crash instead of corruption.
  DARTER_CHECK(mprotect(mem, kGuardPage, PROT_NONE) == 0, "cannot protect a script stack guard page");
  return mem;
}

void GiveStack(void* mem, size_t total) {
  if (tl_pool.free.size() < StackPool::kMax) {
    // A deep script may have touched megabytes: drop them, keep the top every script
    // uses. A shallow one kept at most kDeepMark.
    char* base = static_cast<char*>(mem);
    unsigned char resident = 0;
    if (total > kGuardPage + kDeepMark && mincore(base + total - kDeepMark, 4096, &resident) == 0 && (resident & 1))
      madvise(base + kGuardPage, total - kGuardPage - kKeepTouched, MADV_DONTNEED);
    tl_pool.free.emplace_back(mem, total);
  } else {
    munmap(mem, total);
  }
}
}  // namespace

size_t StackRemaining() {
  char here;
  const char* low = tl_stack_low ? tl_stack_low : ThreadStackLow();
  return &here > low ? static_cast<size_t>(&here - low) : 0;
}

ScriptFiber::ScriptFiber(std::function<void()> fn, size_t stack_size) : fn_(std::move(fn)), stack_size_(stack_size) {
  void* mem = TakeStack(stack_size_ + kGuardPage);
  stack_ = mem;
#ifdef DARTER_ASAN_FIBERS
  // A pooled stack keeps the shadow of the frames its last fiber left (scopes ended,
  // never unwound): without this, uninstrumented code (liblua) writing there trips
  // false stack-use-after-scope reports.
  ASAN_UNPOISON_MEMORY_REGION(static_cast<char*>(mem) + kGuardPage, stack_size_);
#endif
  getcontext(&fiber_ctx_);
  fiber_ctx_.uc_stack.ss_sp = static_cast<char*>(mem) + kGuardPage;
  fiber_ctx_.uc_stack.ss_size = stack_size_;
  fiber_ctx_.uc_link = &owner_ctx_;
  auto self = reinterpret_cast<uintptr_t>(this);
  makecontext(&fiber_ctx_, reinterpret_cast<void (*)()>(&ScriptFiber::Trampoline), 2,
              static_cast<unsigned>(self & 0xffffffffu), static_cast<unsigned>(self >> 32));
}

ScriptFiber::~ScriptFiber() {
  if (stack_) GiveStack(stack_, stack_size_ + kGuardPage);
}

void ScriptFiber::Trampoline(unsigned lo, unsigned hi) {
  auto* f = reinterpret_cast<ScriptFiber*>((static_cast<uintptr_t>(hi) << 32) | lo);
#ifdef DARTER_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(nullptr, &f->owner_stack_bottom_, &f->owner_stack_size_);
#endif
  f->fn_();
  f->done_ = true;
#ifdef DARTER_ASAN_FIBERS
  // The fiber's frames are gone for good: pass nullptr so ASan releases its fake stack.
  __sanitizer_start_switch_fiber(nullptr, f->owner_stack_bottom_, f->owner_stack_size_);
#endif
  // Returning switches to uc_link (the owner context saved by the last Resume()).
}

void ScriptFiber::Resume() {
  if (done_) return;
  started_ = true;
#ifdef DARTER_ASAN_FIBERS
  __sanitizer_start_switch_fiber(&fake_stack_, static_cast<char*>(stack_) + kGuardPage, stack_size_);
#endif
  saved_low_ = tl_stack_low;
  tl_stack_low = static_cast<char*>(stack_) + kGuardPage;
  swapcontext(&owner_ctx_, &fiber_ctx_);
  tl_stack_low = saved_low_;
#ifdef DARTER_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake_stack_, nullptr, nullptr);
#endif
}

void ScriptFiber::Suspend() {
#ifdef DARTER_ASAN_FIBERS
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, owner_stack_bottom_, owner_stack_size_);
#endif
  swapcontext(&fiber_ctx_, &owner_ctx_);
  // Resumed (Resume() set the bounds to this fiber's stack again).
#ifdef DARTER_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake, &owner_stack_bottom_, &owner_stack_size_);
#endif
}

}  // namespace darter::server
