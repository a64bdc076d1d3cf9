// DARTER_CHECK: a broken invariant aborts with where and why on stderr; a holding one
// costs a branch. Run in a forked child, the only way to watch an abort from outside.
#include <doctest/doctest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <string>

#include "store/check.h"

namespace {

// Runs `fn` in a child whose stderr is captured; returns its stderr and wait status.
template <typename Fn>
std::string RunChild(Fn fn, int* status) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    fn();
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  REQUIRE(waitpid(pid, status, 0) == pid);
  return out;
}

}  // namespace

TEST_CASE("DARTER_CHECK aborts with the condition, the reason and the place when it fails") {
  int status = 0;
  std::string err = RunChild([] { DARTER_CHECK(1 + 1 == 3, "arithmetic broke"); }, &status);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGABRT);
  CHECK(err.find("check failed at") != std::string::npos);
  CHECK(err.find("check_test.cc") != std::string::npos);
  CHECK(err.find("1 + 1 == 3 (arithmetic broke)") != std::string::npos);
}

TEST_CASE("DARTER_CHECK is silent, and evaluates its condition once, when it holds") {
  int status = 0;
  std::string err = RunChild(
      [] {
        int evaluated = 0;
        DARTER_CHECK(++evaluated == 1, "evaluated once");
        if (evaluated != 1) _exit(2);
      },
      &status);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(err.empty());
}
