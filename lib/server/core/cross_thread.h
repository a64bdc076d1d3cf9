// Awaitables that move work between shard threads and bring results back.
//
// A coroutine (a connection, a transaction coordinator) stays on its own thread. It
// posts a closure to another thread's loop and is resumed on its own executor when
// the closure signals completion. The closure may complete later than it returns
// (a command deferred behind an intent lock), so it receives a Completion to call
// exactly once.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "server/core/asio.h"

namespace darter::server {

// Called exactly once, from any thread; resumes the awaiting coroutine on its executor.
template <typename R>
class Completion {
 public:
  explicit Completion(std::function<void(R)> fn) : fn_(std::move(fn)) {}
  void operator()(R r) const { fn_(std::move(r)); }

 private:
  std::function<void(R)> fn_;
};

// Posts `work(done)` to `target`; resumes with the value passed to `done`.
template <typename R, typename Work>
awaitable<R> AwaitOn(asio::io_context& target, Work work) {
  return asio::async_initiate<decltype(use_awaitable), void(R)>(
      [&target, work = std::move(work)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        Completion<R> done([h, ex](R r) {
          asio::post(ex, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        });
        asio::post(target, [work = std::move(work), done = std::move(done)]() mutable { work(std::move(done)); });
      },
      use_awaitable);
}

// GCC 12 miscompiles coroutines that copy or destroy non-trivial temporaries inside a
// co_await expression (it destroys them twice). So callers inside coroutines pass
// containers by reference and lambdas that capture only by reference; the copies are
// made here, in ordinary functions.

namespace cross_thread_detail {

// Posts `step(i, done)` to each target's loop (in parallel); `done` (a copyable callable,
// called exactly once per target, from any thread) resumes the awaiting coroutine on its
// executor once every target has called it.
template <typename Step>
awaitable<void> FanOut(const std::vector<asio::io_context*>& target_list, Step step) {
  return asio::async_initiate<decltype(use_awaitable), void()>(
      [targets = target_list, step = std::move(step)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        if (targets.empty()) {
          asio::post(ex, [h] { (*h)(); });
          return;
        }
        auto remaining = std::make_shared<std::atomic<size_t>>(targets.size());
        auto shared_step = std::make_shared<Step>(std::move(step));
        auto done = [h, ex, remaining] {
          if (remaining->fetch_sub(1, std::memory_order_acq_rel) == 1) asio::post(ex, [h] { (*h)(); });
        };
        for (size_t i = 0; i < targets.size(); ++i)
          asio::post(*targets[i], [i, shared_step, done] { (*shared_step)(i, done); });
      },
      use_awaitable);
}

}  // namespace cross_thread_detail

// Runs `fn(i)` on each target's loop (in parallel); resumes when all have finished.
template <typename Fn>
awaitable<void> AwaitAll(const std::vector<asio::io_context*>& target_list, Fn fn) {
  return cross_thread_detail::FanOut(target_list, [fn = std::move(fn)](size_t i, const auto& done) mutable {
    fn(i);
    done();
  });
}

// Like AwaitAll, but each target signals completion itself (possibly later), by calling
// the std::function<void()> it is given.
template <typename Fn>
awaitable<void> AwaitAllAsync(const std::vector<asio::io_context*>& target_list, Fn fn) {
  return cross_thread_detail::FanOut(target_list, [fn = std::move(fn)](size_t i, const auto& done) mutable {
    fn(i, std::function<void()>(done));
  });
}

}  // namespace darter::server
