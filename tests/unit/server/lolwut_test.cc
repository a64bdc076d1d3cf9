// LOLWUT's pictures: sizes follow the arguments, the randomness is the seed's, the first
// row of squares is undisturbed, and every picture ends with the version line.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "server/admin/lolwut_command.h"

using namespace darter::server;

namespace {

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = s.find('\n', pos);
    if (end == std::string::npos) end = s.size();
    out.push_back(s.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("LOLWUT VERSION 5: braille rows as wide as the columns, then a blank line and the version") {
  std::string art = LolwutSquares(20, 4, 3, 42);
  std::vector<std::string> lines = Lines(art);
  // Squares of 40 / 4 = 10 pixels, 3 rows of them plus a 4-pixel margin: 34 pixels, 9 braille rows.
  REQUIRE(lines.size() == 9 + 2);
  for (size_t i = 0; i < 9; ++i) CHECK(lines[i].size() == 20 * 3);  // one 3-byte character per column
  CHECK(lines[9].empty());
  CHECK(lines[10].find("Darter ver. ") != std::string::npos);
  CHECK(art.back() == '\n');
  CHECK(LolwutSquares(20, 4, 3, 42) == art);  // the seed decides
  CHECK(LolwutSquares(20, 4, 3, 43) != art);
  // One row of squares has no disorder at all: the seed changes nothing.
  CHECK(LolwutSquares(20, 4, 1, 1) == LolwutSquares(20, 4, 1, 2));
}

TEST_CASE("LOLWUT VERSION 6: rows x columns of shaded cells, then the version") {
  std::string art = LolwutSkyline(7, 5, 9);
  std::vector<std::string> lines = Lines(art);
  REQUIRE(lines.size() == 5 + 1);
  const std::string cell_end = "m \033[0m";
  for (size_t i = 0; i < 5; ++i) {
    size_t cells = 0;
    for (size_t pos = lines[i].find(cell_end); pos != std::string::npos; pos = lines[i].find(cell_end, pos + 1)) ++cells;
    CHECK(cells == 7);
  }
  CHECK(lines[5].find("Darter ver. ") != std::string::npos);
  CHECK(LolwutSkyline(7, 5, 9) == art);
}
