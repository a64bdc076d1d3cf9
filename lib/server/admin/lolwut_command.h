// LOLWUT [VERSION v] [args...] (Redis 7.0's lolwut*.c, in spirit): a piece of computer
// art and the server version. Darter draws its own pictures:
//   VERSION 5 [columns] [squares-per-row] [squares-per-col]: a grid of squares in braille
//     dots whose rows are turned and shifted more and more at random, after the plotter
//     art of the 1960s (defaults 66, 8, 12; bounds 1..1000, 1..200, 1..200, as Redis);
//   VERSION 6 [columns] [rows]: a city skyline in four ANSI shades (defaults 80, 40;
//     bounds 1..1000 each, as Redis);
//   no VERSION, or any other version: only the version line (Redis 7.0 likewise).
// Every reply ends with "Darter ver. <version>\n" and is a verbatim string (txt) under
// RESP3, a bulk string under RESP2, as Redis's. Canvases are bounded (kMaxPixels).
//
// Thread-safety: stateless; runs on the connection's thread.
#pragma once

#include <string>

#include "store/command_table.h"

namespace darter::server {

void RegisterLolwutCommand(store::CommandTable& table);

// The renderings, exposed for tests. `seed` fixes the randomness.
std::string LolwutSquares(int columns, int squares_per_row, int squares_per_col, uint64_t seed);
std::string LolwutSkyline(int columns, int rows, uint64_t seed);

}  // namespace darter::server
