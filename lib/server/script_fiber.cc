#include "server/script_fiber.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define DARTER_ASAN_FIBERS 1
#include <sanitizer/common_interface_defs.h>
#endif

namespace darter::server {

namespace {
constexpr size_t kGuardPage = 4096;

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
  if (mem == MAP_FAILED) std::abort();
  // One guard page below the stack turns an overflow into a crash instead of corruption.
  mprotect(mem, kGuardPage, PROT_NONE);
  return mem;
}

void GiveStack(void* mem, size_t total) {
  if (tl_pool.free.size() < StackPool::kMax) tl_pool.free.emplace_back(mem, total);
  else munmap(mem, total);
}
}  // namespace

ScriptFiber::ScriptFiber(std::function<void()> fn, size_t stack_size) : fn_(std::move(fn)), stack_size_(stack_size) {
  void* mem = TakeStack(stack_size_ + kGuardPage);
  stack_ = mem;
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
  swapcontext(&owner_ctx_, &fiber_ctx_);
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
#ifdef DARTER_ASAN_FIBERS
  __sanitizer_finish_switch_fiber(fake, &owner_stack_bottom_, &owner_stack_size_);
#endif
}

}  // namespace darter::server
