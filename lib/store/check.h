// DARTER_CHECK(cond, msg): an invariant the code relies on, or an allocation that must
// not fail. Always evaluated, in every build type. When it does not hold, the server
// cannot continue without risking the data it holds: it logs where and why on stderr,
// then aborts (a core dump, as Redis's serverAssert gives). Not for bad input: clients'
// mistakes get an error reply.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace darter {

[[noreturn, gnu::cold, gnu::noinline]] inline void CheckFailed(const char* condition, const char* why,
                                                                const char* file, int line) {
  std::fprintf(stderr, "darter: check failed at %s:%d: %s (%s)\n", file, line, condition, why);
  std::fflush(stderr);
  std::abort();
}

}  // namespace darter

#define DARTER_CHECK(cond, msg)                                              \
  do {                                                                       \
    if (__builtin_expect(!(cond), 0)) ::darter::CheckFailed(#cond, msg, __FILE__, __LINE__); \
  } while (0)
