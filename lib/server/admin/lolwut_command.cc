#include "server/admin/lolwut_command.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "darter_version.h"
#include "server/core/connection.h"
#include "store/errors.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;

// At most this many pixels per picture (16 MB of canvas): Redis's bounds on the
// arguments alone still allow gigabyte canvases.
constexpr int64_t kMaxPixels = int64_t{1} << 24;

// A black-and-white pixel canvas, printed with one braille character per 2 x 4 pixels.
class DotCanvas {
 public:
  DotCanvas(int width, int height) : width_(width), height_(height), px_(static_cast<size_t>(width) * height) {}

  void Set(int x, int y) {
    if (x >= 0 && y >= 0 && x < width_ && y < height_) px_[static_cast<size_t>(y) * width_ + x] = 1;
  }
  bool Get(int x, int y) const {
    return x >= 0 && y >= 0 && x < width_ && y < height_ && px_[static_cast<size_t>(y) * width_ + x];
  }
  // Bresenham's line from (x0, y0) to (x1, y1), both ends included.
  void Line(int x0, int y0, int x1, int y1) {
    int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    while (true) {
      Set(x0, y0);
      if (x0 == x1 && y0 == y1) break;
      int e2 = 2 * err;
      if (e2 >= dy) {
        err += dy;
        x0 += sx;
      }
      if (e2 <= dx) {
        err += dx;
        y0 += sy;
      }
    }
  }
  // Rows of braille characters (U+2800 plus one bit per dot), each row ending in '\n'.
  std::string Render() const {
    // Bit of the dot at (column, row) inside one character cell.
    static constexpr uint8_t kDotBit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    std::string out;
    for (int y = 0; y < height_; y += 4) {
      for (int x = 0; x < width_; x += 2) {
        unsigned bits = 0;
        for (int dy = 0; dy < 4; ++dy)
          for (int dx = 0; dx < 2; ++dx)
            if (Get(x + dx, y + dy)) bits |= kDotBit[dy][dx];
        unsigned cp = 0x2800 + bits;  // three UTF-8 bytes: 1110xxxx 10xxxxxx 10xxxxxx
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
      out += '\n';
    }
    return out;
  }

 private:
  int width_, height_;
  std::vector<uint8_t> px_;
};

std::string VersionLine() { return std::string("Darter ver. ") + DARTER_VERSION + "\n"; }

// Parses an optional integer argument, clamped to [lo, hi]; false (and the error sent)
// when it is not an integer.
bool ClampedArg(ConnectionContext& c, size_t i, int def, int lo, int hi, int* out) {
  *out = def;
  if (i >= c.args.size()) return true;
  auto v = store::ParseInt64(c.args[i]);
  if (!v) {
    c.reply.Error(store::errors::kNotInteger);
    return false;
  }
  *out = static_cast<int>(std::clamp<int64_t>(*v, lo, hi));
  return true;
}

void LolwutCommand(ConnectionContext& c) {
  size_t first = 1;  // first argument of the picture
  // Without VERSION Redis 7.0 runs its "unstable" piece: the version line alone.
  int64_t version = 0;
  if (c.args.size() >= 3 && store::EqualsIgnoreCase(c.args[1], "version")) {
    auto v = store::ParseInt64(c.args[2]);
    if (!v) {
      c.reply.Error(store::errors::kNotInteger);
      return;
    }
    version = static_cast<uint32_t>(*v);  // Redis prints it as unsigned int
    first = 3;
  }
  uint64_t seed = std::random_device{}();
  if (version == 5) {
    int cols, per_row, per_col;
    if (!ClampedArg(c, first, 66, 1, 1000, &cols) || !ClampedArg(c, first + 1, 8, 1, 200, &per_row) ||
        !ClampedArg(c, first + 2, 12, 1, 200, &per_col))
      return;
    int side = std::max(1, cols * 2 / per_row);
    if (int64_t{cols} * 2 * (int64_t{per_col} * side + 4) > kMaxPixels) {
      c.reply.Error("ERR LOLWUT canvas too large: at most 16777216 pixels");
      return;
    }
    c.reply.Verbatim(LolwutSquares(cols, per_row, per_col, seed));
  } else if (version == 6) {
    int cols, rows;
    if (!ClampedArg(c, first, 80, 1, 1000, &cols) || !ClampedArg(c, first + 1, 40, 1, 1000, &rows)) return;
    c.reply.Verbatim(LolwutSkyline(cols, rows, seed));
  } else {
    c.reply.Verbatim(VersionLine());
  }
}

}  // namespace

std::string LolwutSquares(int columns, int squares_per_row, int squares_per_col, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  const int width = columns * 2;
  const int side = std::max(1, width / squares_per_row);
  const int pad = std::max(0, (width - side * squares_per_row) / 2);
  DotCanvas canvas(width, squares_per_col * side + 4);
  for (int row = 0; row < squares_per_col; ++row) {
    // Disorder grows with the row: none at the top, full at the bottom.
    double disorder = squares_per_col > 1 ? static_cast<double>(row) / (squares_per_col - 1) : 0.0;
    for (int col = 0; col < squares_per_row; ++col) {
      double half = side / 2.0 - 1.0;  // a one-pixel gap between neighbours
      double cx = pad + col * side + side / 2.0 + unit(rng) * disorder * side / 4.0;
      double cy = 2 + row * side + side / 2.0 + unit(rng) * disorder * side / 4.0;
      double angle = unit(rng) * disorder * (M_PI / 4.0);
      double ca = std::cos(angle), sa = std::sin(angle);
      int px[4], py[4];
      static constexpr double kCorner[4][2] = {{-1, -1}, {1, -1}, {1, 1}, {-1, 1}};
      for (int k = 0; k < 4; ++k) {
        double x = kCorner[k][0] * half, y = kCorner[k][1] * half;
        px[k] = static_cast<int>(std::lround(cx + x * ca - y * sa));
        py[k] = static_cast<int>(std::lround(cy + x * sa + y * ca));
      }
      for (int k = 0; k < 4; ++k) canvas.Line(px[k], py[k], px[(k + 1) % 4], py[(k + 1) % 4]);
    }
  }
  return canvas.Render() + "\nSquares losing their order, after the plotter art of the 1960s. " + VersionLine();
}

std::string LolwutSkyline(int columns, int rows, uint64_t seed) {
  std::mt19937_64 rng(seed);
  // Shades, darkest first, as ANSI foreground;background codes (black, gray, silver, white).
  static constexpr const char* kShade[4] = {"0;30;40", "0;90;100", "0;37;47", "0;97;107"};
  std::vector<uint8_t> px(static_cast<size_t>(columns) * rows, 1);  // the dusk sky: gray
  // A moon in the upper third.
  int mx = static_cast<int>(rng() % static_cast<unsigned>(columns)), my = rows / 6;
  int mr = std::max(1, rows / 12);
  for (int y = 0; y < rows; ++y)
    for (int x = 0; x < columns; ++x)
      if ((x - mx) * (x - mx) / 4 + (y - my) * (y - my) <= mr * mr) px[static_cast<size_t>(y) * columns + x] = 3;
  // Buildings from left to right: black blocks of random width and height, with lit
  // (silver) windows on a regular grid, about one in three lit.
  for (int x = 0; x < columns;) {
    int w = 3 + static_cast<int>(rng() % 8);
    int h = rows / 4 + static_cast<int>(rng() % static_cast<unsigned>(std::max(1, rows / 2)));
    for (int bx = x; bx < std::min(columns, x + w); ++bx) {
      for (int y = rows - h; y < rows; ++y) {
        if (y < 0) continue;
        bool window = (bx - x) % 2 == 1 && (rows - y) % 3 == 1 && bx != x + w - 1 && rng() % 3 == 0;
        px[static_cast<size_t>(y) * columns + bx] = window ? 2 : 0;
      }
    }
    x += w + static_cast<int>(rng() % 2);
  }
  std::string out;
  for (int y = 0; y < rows; ++y) {
    for (int x = 0; x < columns; ++x) {
      out += "\033[";
      out += kShade[px[static_cast<size_t>(y) * columns + x]];
      out += "m \033[0m";
    }
    out += '\n';
  }
  return out + "A skyline at dusk, in four shades. " + VersionLine();
}

void RegisterLolwutCommand(store::CommandTable& t) {
  using namespace store;
  CommandFamily family(t, 0);
  family << CommandRow("lolwut", -1, kCmdReadOnly | kCmdFast).Connection(LolwutCommand);
}

}  // namespace darter::server
