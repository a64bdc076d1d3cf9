// Running a program to completion from a test: its output captured, its time bounded.
//
// Thread-safety: plain functions; each call forks one child and reaps it.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace darter::test {

struct ProgramResult {
  int exit_code = -1;  // -1: killed at the deadline, or did not exit normally
  std::string output;  // stdout and stderr together
};

// Runs `binary args...` (argv[0] added), killed after `limit`; returns once it exited and
// its output ended (a daemon it leaves behind does not hold the output open).
ProgramResult RunProgram(const std::string& binary, const std::vector<std::string>& args,
              std::chrono::seconds limit = std::chrono::seconds(10));

}  // namespace darter::test
