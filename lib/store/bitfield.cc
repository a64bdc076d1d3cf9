// Bit-level primitives; see bitfield.h.
#include "store/bitfield.h"

#include <bit>
#include <cstring>

namespace darter::store::bits {
namespace {

inline uint64_t Mask(unsigned bits) { return bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

// The up-to-9 bytes that hold a field, as a big-endian number of 8 * n bits, and how
// far the field's last bit sits above bit 0 of that number.
struct Window {
  unsigned __int128 acc = 0;
  unsigned nbytes = 0;
  unsigned shift = 0;
};

Window Load(std::string_view s, uint64_t offset, unsigned bits) {
  Window w;
  uint64_t byte = offset >> 3;
  unsigned lead = offset & 7;
  w.nbytes = (lead + bits + 7) / 8;
  for (unsigned i = 0; i < w.nbytes; ++i) {
    uint64_t at = byte + i;
    w.acc = (w.acc << 8) | (at < s.size() ? static_cast<uint8_t>(s[at]) : 0);
  }
  w.shift = 8 * w.nbytes - lead - bits;
  return w;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("popcnt", "default")))
#endif
uint64_t PopcountBytes(const unsigned char* p, size_t n) {
  uint64_t total = 0;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    uint64_t w[4];
    std::memcpy(w, p + i, 32);
    total += std::popcount(w[0]) + std::popcount(w[1]) + std::popcount(w[2]) + std::popcount(w[3]);
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    total += std::popcount(w);
  }
  for (; i < n; ++i) total += std::popcount(static_cast<unsigned>(p[i]));
  return total;
}

// Bits [lo, hi] of a byte in SETBIT numbering (0 = most significant).
inline uint8_t ByteMask(unsigned lo, unsigned hi) { return static_cast<uint8_t>((0xFFu >> lo) & (0xFFu << (7 - hi))); }

}  // namespace

uint64_t GetUnsigned(std::string_view s, uint64_t offset, unsigned bits) {
  Window w = Load(s, offset, bits);
  return static_cast<uint64_t>(w.acc >> w.shift) & Mask(bits);
}

int64_t GetSigned(std::string_view s, uint64_t offset, unsigned bits) {
  uint64_t u = GetUnsigned(s, offset, bits);
  if (bits < 64 && (u & (uint64_t{1} << (bits - 1)))) u |= ~uint64_t{0} << bits;
  return static_cast<int64_t>(u);
}

void SetField(char* data, uint64_t offset, unsigned bits, uint64_t value) {
  uint64_t byte = offset >> 3;
  unsigned lead = offset & 7;
  unsigned nbytes = (lead + bits + 7) / 8;
  std::string_view s(data + byte, nbytes);
  Window w = Load(s, lead, bits);
  unsigned __int128 m = static_cast<unsigned __int128>(Mask(bits)) << w.shift;
  w.acc = (w.acc & ~m) | (static_cast<unsigned __int128>(value & Mask(bits)) << w.shift);
  for (unsigned i = nbytes; i-- > 0;) {
    data[byte + i] = static_cast<char>(static_cast<uint8_t>(w.acc));
    w.acc >>= 8;
  }
}

int CheckUnsignedOverflow(uint64_t value, int64_t incr, unsigned bits, Overflow ow, uint64_t* limit) {
  uint64_t max = Mask(bits);
  int64_t maxincr = static_cast<int64_t>(max - value);
  int64_t minincr = static_cast<int64_t>(uint64_t{0} - value);
  int result;
  if (value > max || (incr > 0 && incr > maxincr)) {
    result = 1;
    if (ow == Overflow::kSat) *limit = max;
  } else if (incr < 0 && incr < minincr) {
    result = -1;
    if (ow == Overflow::kSat) *limit = 0;
  } else {
    return 0;
  }
  if (ow == Overflow::kWrap) {
    *limit = (value + static_cast<uint64_t>(incr)) & max;
    return 1;  // Redis reports a wrap as 1 whatever the direction
  }
  return result;
}

int CheckSignedOverflow(int64_t value, int64_t incr, unsigned bits, Overflow ow, int64_t* limit) {
  int64_t max = bits == 64 ? INT64_MAX : (int64_t{1} << (bits - 1)) - 1;
  int64_t min = -max - 1;
  // These may wrap, but are only used once `value` is known to be in range.
  int64_t maxincr = static_cast<int64_t>(static_cast<uint64_t>(max) - static_cast<uint64_t>(value));
  int64_t minincr = static_cast<int64_t>(static_cast<uint64_t>(min) - static_cast<uint64_t>(value));
  int result;
  if (value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr)) {
    result = 1;
    if (ow == Overflow::kSat) *limit = max;
  } else if (value < min || (bits != 64 && incr < minincr) || (value < 0 && incr < 0 && incr < minincr)) {
    result = -1;
    if (ow == Overflow::kSat) *limit = min;
  } else {
    return 0;
  }
  if (ow == Overflow::kWrap) {
    uint64_t c = static_cast<uint64_t>(value) + static_cast<uint64_t>(incr);
    if (bits < 64) {
      uint64_t high = ~uint64_t{0} << bits;
      if (c & (uint64_t{1} << (bits - 1))) c |= high;
      else c &= ~high;
    }
    *limit = static_cast<int64_t>(c);
    return 1;
  }
  return result;
}

uint64_t CountBits(std::string_view s, uint64_t first, uint64_t last) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  uint64_t fb = first >> 3, lb = last >> 3;
  if (fb == lb) return std::popcount(static_cast<unsigned>(p[fb] & ByteMask(first & 7, last & 7)));
  uint64_t total = std::popcount(static_cast<unsigned>(p[fb] & ByteMask(first & 7, 7)));
  total += std::popcount(static_cast<unsigned>(p[lb] & ByteMask(0, last & 7)));
  return total + PopcountBytes(p + fb + 1, lb - fb - 1);
}

int64_t FindBit(std::string_view s, uint64_t first, uint64_t last, int bit) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(s.data());
  uint8_t flip = bit ? 0 : 0xFF;  // search for set bits of (byte ^ flip)
  auto in_byte = [&](uint64_t b, unsigned lo, unsigned hi) -> int64_t {
    uint8_t v = static_cast<uint8_t>((p[b] ^ flip) & ByteMask(lo, hi));
    if (!v) return -1;
    return static_cast<int64_t>(b * 8 + std::countl_zero(v));
  };
  uint64_t fb = first >> 3, lb = last >> 3;
  if (fb == lb) return in_byte(fb, first & 7, last & 7);
  if (int64_t r = in_byte(fb, first & 7, 7); r >= 0) return r;
  uint64_t b = fb + 1;
  uint64_t skip = bit ? 0 : ~uint64_t{0};
  for (; b + 8 <= lb; b += 8) {
    uint64_t w;
    std::memcpy(&w, p + b, 8);
    if (w != skip) break;
  }
  for (; b < lb; ++b)
    if (int64_t r = in_byte(b, 0, 7); r >= 0) return r;
  return in_byte(lb, 0, last & 7);
}

}  // namespace darter::store::bits
