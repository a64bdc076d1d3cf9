#include <doctest/doctest.h>

#include "store/string_util.h"

using namespace darter::store;

TEST_CASE("ParseInt64 follows Redis's string2ll") {
  CHECK(ParseInt64("0") == 0);
  CHECK(ParseInt64("-1") == -1);
  CHECK(ParseInt64("9223372036854775807") == INT64_MAX);
  CHECK(ParseInt64("-9223372036854775808") == INT64_MIN);
  CHECK(!ParseInt64("9223372036854775808"));
  CHECK(!ParseInt64("-9223372036854775809"));
  CHECK(!ParseInt64("01"));
  CHECK(!ParseInt64("-0"));
  CHECK(!ParseInt64("+1"));
  CHECK(!ParseInt64(" 1"));
  CHECK(!ParseInt64("1 "));
  CHECK(!ParseInt64(""));
  CHECK(!ParseInt64("-"));
  CHECK(!ParseInt64("1e3"));
}

TEST_CASE("Long doubles format like Redis's INCRBYFLOAT") {
  CHECK(FormatLongDoubleHuman(10.5L) == "10.5");
  CHECK(FormatLongDoubleHuman(3.0e3L) == "3000");
  CHECK(FormatLongDoubleHuman(-0.0L) == "0");
  CHECK(FormatLongDoubleHuman(1.0L / 3) == "0.33333333333333333");
  auto v = ParseLongDouble("1.1");
  REQUIRE(v);
  CHECK(!ParseLongDouble(" 1"));
  CHECK(!ParseLongDouble("nan"));
  CHECK(!ParseLongDouble("1x"));
}
