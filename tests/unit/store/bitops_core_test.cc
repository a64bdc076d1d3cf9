// Bit primitives checked against naive bit-by-bit versions on random data, and the
// BITFIELD overflow rules on their edge values.
#include <doctest/doctest.h>

#include <random>
#include <string>

#include "store/bitfield.h"

using namespace darter::store;

namespace {

int NaiveBit(const std::string& s, uint64_t i) {
  if (i / 8 >= s.size()) return 0;
  return (static_cast<uint8_t>(s[i / 8]) >> (7 - i % 8)) & 1;
}

uint64_t NaiveGet(const std::string& s, uint64_t off, unsigned bits) {
  uint64_t v = 0;
  for (unsigned j = 0; j < bits; ++j) v = (v << 1) | NaiveBit(s, off + j);
  return v;
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string s(n, '\0');
  for (char& c : s) {
    int kind = static_cast<int>(rng() % 4);
    c = static_cast<char>(kind == 0 ? 0 : kind == 1 ? 0xFF : rng() & 0xFF);
  }
  return s;
}

}  // namespace

TEST_CASE("Bit fields read and write MSB-first at any offset and width") {
  std::mt19937_64 rng(7);
  for (int iter = 0; iter < 5000; ++iter) {
    std::string s = RandomBytes(rng, 1 + rng() % 20);
    unsigned bits = 1 + rng() % 64;
    uint64_t off = rng() % (s.size() * 8 + 16);
    REQUIRE(bits::GetUnsigned(s, off, bits) == NaiveGet(s, off, bits));
    int64_t sv = bits::GetSigned(s, off, bits);
    uint64_t u = NaiveGet(s, off, bits);
    if (bits < 64 && (u >> (bits - 1))) u |= ~uint64_t{0} << bits;
    REQUIRE(sv == static_cast<int64_t>(u));
    if ((off + bits - 1) / 8 < s.size()) {
      std::string before = s;
      uint64_t value = rng();
      bits::SetField(s.data(), off, bits, value);
      uint64_t mask = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
      REQUIRE(NaiveGet(s, off, bits) == (value & mask));
      for (uint64_t i = 0; i < s.size() * 8; ++i)
        if (i < off || i >= off + bits) REQUIRE(NaiveBit(s, i) == NaiveBit(before, i));
    }
  }
}

TEST_CASE("CountBits and FindBit agree with a bit-by-bit scan") {
  std::mt19937_64 rng(11);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = RandomBytes(rng, 1 + rng() % 80);
    uint64_t n = s.size() * 8;
    uint64_t a = rng() % n, b = rng() % n;
    if (a > b) std::swap(a, b);
    uint64_t count = 0;
    for (uint64_t i = a; i <= b; ++i) count += NaiveBit(s, i);
    REQUIRE(bits::CountBits(s, a, b) == count);
    for (int bit : {0, 1}) {
      int64_t expect = -1;
      for (uint64_t i = a; i <= b; ++i)
        if (NaiveBit(s, i) == bit) {
          expect = static_cast<int64_t>(i);
          break;
        }
      REQUIRE(bits::FindBit(s, a, b, bit) == expect);
    }
  }
}

TEST_CASE("BITFIELD overflow: wrap, saturate, fail at the type limits") {
  uint64_t u = 0;
  CHECK(bits::CheckUnsignedOverflow(255, 1, 8, bits::Overflow::kWrap, &u) == 1);
  CHECK(u == 0);
  CHECK(bits::CheckUnsignedOverflow(255, 1, 8, bits::Overflow::kSat, &u) == 1);
  CHECK(u == 255);
  CHECK(bits::CheckUnsignedOverflow(0, -1, 8, bits::Overflow::kSat, &u) == -1);
  CHECK(u == 0);
  CHECK(bits::CheckUnsignedOverflow(0, -1, 8, bits::Overflow::kWrap, &u) == 1);
  CHECK(u == 255);
  CHECK(bits::CheckUnsignedOverflow(10, -10, 8, bits::Overflow::kFail, &u) == 0);
  CHECK(bits::CheckUnsignedOverflow(static_cast<uint64_t>(-1), 0, 63, bits::Overflow::kSat, &u) == 1);
  CHECK(u == (uint64_t{1} << 63) - 1);
  int64_t s = 0;
  CHECK(bits::CheckSignedOverflow(127, 1, 8, bits::Overflow::kWrap, &s) == 1);
  CHECK(s == -128);
  CHECK(bits::CheckSignedOverflow(-128, -1, 8, bits::Overflow::kSat, &s) == -1);
  CHECK(s == -128);
  CHECK(bits::CheckSignedOverflow(INT64_MAX, 1, 64, bits::Overflow::kWrap, &s) == 1);
  CHECK(s == INT64_MIN);
  CHECK(bits::CheckSignedOverflow(INT64_MIN, -1, 64, bits::Overflow::kSat, &s) == -1);
  CHECK(s == INT64_MIN);
  CHECK(bits::CheckSignedOverflow(-5, 3, 4, bits::Overflow::kFail, &s) == 0);
  CHECK(bits::CheckSignedOverflow(200, 0, 8, bits::Overflow::kWrap, &s) == 1);
  CHECK(s == -56);
}
