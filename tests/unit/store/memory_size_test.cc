// ParseMemorySize: Redis's memtoull, shared by every memory setting.
#include <doctest/doctest.h>

#include "store/string_util.h"

using darter::store::ParseMemorySize;

TEST_CASE("memory sizes: units are case-insensitive, k is 1000 and kb 1024") {
  CHECK(ParseMemorySize("0") == 0u);
  CHECK(ParseMemorySize("100") == 100u);
  CHECK(ParseMemorySize("100b") == 100u);
  CHECK(ParseMemorySize("1k") == 1000u);
  CHECK(ParseMemorySize("1KB") == 1024u);
  CHECK(ParseMemorySize("2mb") == 2u * 1024 * 1024);
  CHECK(ParseMemorySize("3M") == 3000000u);
  CHECK(ParseMemorySize("1gb") == 1024ull * 1024 * 1024);
  CHECK(ParseMemorySize("4g") == 4000000000ull);
}

TEST_CASE("memory sizes: malformed, negative and overflowing values are refused") {
  for (const char* bad : {"", "kb", "-1", "1.5mb", " 1", "1 kb", "1tb", "abc", "+1"}) {
    CAPTURE(bad);
    CHECK_FALSE(ParseMemorySize(bad).has_value());
  }
  bool overflow = false;
  CHECK_FALSE(ParseMemorySize("9223372036854775807gb", &overflow).has_value());
  CHECK(overflow);
  overflow = false;
  CHECK(ParseMemorySize("9223372036854775807", &overflow) == 9223372036854775807ull);
  CHECK_FALSE(overflow);
}
