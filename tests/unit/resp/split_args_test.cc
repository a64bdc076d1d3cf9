// sdssplitargs (SplitArgs) and its inverse sdscatrepr (Repr).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "resp/split_args.h"

namespace darter::resp {

TEST_CASE("Repr: Redis's sdscatrepr") {
  CHECK(Repr("plain") == "\"plain\"");
  CHECK(Repr("") == "\"\"");
  CHECK(Repr("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(Repr("\n\r\t\a\b") == "\"\\n\\r\\t\\a\\b\"");
  CHECK(Repr(std::string("\x00\x7f\xff", 3)) == "\"\\x00\\x7f\\xff\"");
}

TEST_CASE("SplitArgs reads back what Repr writes, every byte value") {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  for (const std::string& s : {std::string(), std::string("x y"), all}) {
    std::vector<std::string> args;
    std::string error;
    REQUIRE_MESSAGE(SplitArgs("set " + Repr(s) + " " + Repr(s), &args, &error), error);
    REQUIRE(args.size() == 3);
    CHECK(args[1] == s);
    CHECK(args[2] == s);
  }
}

}  // namespace darter::resp
