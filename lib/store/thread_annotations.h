// Thread-safety annotations: which mutex guards which state, checked at compile time by
// clang's -Wthread-safety (a `clang-thread-safety` build, docs/testing.md); with GCC
// they compile to nothing. Mutex and MutexLock wrap std::mutex with the capability
// attributes the analysis needs (libstdc++'s std::mutex carries none).
#pragma once

#include <mutex>

#if defined(__clang__)
#define DARTER_THREAD_ATTRIBUTE(x) __attribute__((x))
#else
#define DARTER_THREAD_ATTRIBUTE(x)
#endif

#define CAPABILITY(x) DARTER_THREAD_ATTRIBUTE(capability(x))
#define SCOPED_CAPABILITY DARTER_THREAD_ATTRIBUTE(scoped_lockable)
// The member may be read or written only with the mutex held.
#define GUARDED_BY(x) DARTER_THREAD_ATTRIBUTE(guarded_by(x))
// The pointee may be read or written only with the mutex held.
#define PT_GUARDED_BY(x) DARTER_THREAD_ATTRIBUTE(pt_guarded_by(x))
// The caller must hold the mutex (the "...Locked" functions).
#define REQUIRES(...) DARTER_THREAD_ATTRIBUTE(requires_capability(__VA_ARGS__))
// The caller must not hold it (the function takes it).
#define EXCLUDES(...) DARTER_THREAD_ATTRIBUTE(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) DARTER_THREAD_ATTRIBUTE(acquire_capability(__VA_ARGS__))
#define RELEASE(...) DARTER_THREAD_ATTRIBUTE(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS DARTER_THREAD_ATTRIBUTE(no_thread_safety_analysis)

namespace darter {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope (std::lock_guard, visible to the analysis).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->lock(); }
  ~MutexLock() RELEASE() { mu_->unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* mu_;
};

}  // namespace darter
