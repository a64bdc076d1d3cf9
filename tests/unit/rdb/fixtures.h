// Test helpers: where the RDB fixtures live, and file loading.
// DARTER_FIXTURES_DIR is set by the tests' CMakeLists.txt to ${PROJECT_SOURCE_DIR}/tests/data,
// which is part of the repository, so a missing folder is a hard failure, not a skip.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace darter::rdb::testing {

inline std::filesystem::path FixturesDir() {
  std::filesystem::path p = DARTER_FIXTURES_DIR;
  p /= "rdb";
  if (!std::filesystem::is_directory(p)) {
    std::fprintf(stderr, "FATAL: RDB fixtures folder %s is missing\n", p.c_str());
    std::abort();
  }
  return p;
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Every *.rdb under fixtures/rdb (including redis-assets/), sorted.
inline std::vector<std::filesystem::path> AllFixtures() {
  std::vector<std::filesystem::path> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(FixturesDir()))
    if (e.is_regular_file() && e.path().extension() == ".rdb") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

inline bool IsCorruptOnPurpose(const std::filesystem::path& p) {
  return p.filename() == "corrupt_ziplist.rdb";
}

}  // namespace darter::rdb::testing
