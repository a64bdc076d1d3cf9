// ScriptFiber: runs a function on its own stack (ucontext) so that it can suspend
// itself at any depth and be resumed later by its owner on the same OS thread.
//
// Why not Lua coroutines: a Lua 5.1 coroutine cannot yield across a C call boundary,
// so a script doing `pcall(redis.call, ...)` or `pcall(function() ... redis.call ...)`
// could not wait for a hop on another shard. A fiber suspends the whole C stack of the
// interpreter instead, wherever it is.
//
// Invariants: Resume() and Suspend() alternate; Suspend() is called only from inside the
// fiber's function; the owner never destroys a fiber that is suspended mid-function
// (it resumes it until Done()). No C++ exception or longjmp crosses the fiber boundary
// (Lua's longjmp stays inside the lua_pcall that runs on the fiber stack).
//
// Thread-safety: a fiber belongs to one OS thread.
#pragma once

#include <ucontext.h>

#include <cstddef>
#include <functional>

namespace darter::server {

// Bytes of stack left below the caller's frame on the current stack (a fiber's, or the
// thread's own). Code that recurses in C by an amount the script controls (Lua's pattern
// matcher) checks it first, so that a deep recursion is an error, never an overflow.
size_t StackRemaining();

class ScriptFiber {
 public:
  // Scripts get 32 MB (Redis runs them on its 8 MB main stack; the matcher check in
  // script_lua.cc needs more for the same patterns since it is conservative). The
  // memory is reserved lazily: only pages a script touches are committed, and a stack
  // returned to the pool gives back what the script touched.
  static constexpr size_t kDefaultStackSize = 32u << 20;
  explicit ScriptFiber(std::function<void()> fn, size_t stack_size = kDefaultStackSize);
  ~ScriptFiber();
  ScriptFiber(const ScriptFiber&) = delete;
  ScriptFiber& operator=(const ScriptFiber&) = delete;

  // Owner side: runs the fiber until it suspends or its function returns.
  void Resume();
  // Fiber side: returns control to the owner's Resume() call.
  void Suspend();
  bool Done() const { return done_; }

 private:
  static void Trampoline(unsigned lo, unsigned hi);

  std::function<void()> fn_;
  void* stack_ = nullptr;
  size_t stack_size_;
  ucontext_t fiber_ctx_{};
  ucontext_t owner_ctx_{};
  bool done_ = false;
  bool started_ = false;
  // AddressSanitizer must be told about stack switches (else it reports false errors).
  void* fake_stack_ = nullptr;
  // The stack bounds StackRemaining() used before Resume() switched to this fiber.
  const char* saved_low_ = nullptr;
  const void* owner_stack_bottom_ = nullptr;
  size_t owner_stack_size_ = 0;
};

}  // namespace darter::server
