#include <doctest/doctest.h>

#include <random>
#include <string>

#include "rdb/crc64.h"
#include "rdb/lzf.h"

using namespace darter::rdb;

TEST_CASE("crc64 matches the CRC-64/REDIS check value") {
  CHECK(Crc64(0, std::string_view("123456789")) == 0xE9C6D914C4B8D9CAULL);
  CHECK(Crc64(0, std::string_view()) == 0);
}

TEST_CASE("crc64 can be computed piece by piece") {
  std::string s;
  for (int i = 0; i < 1000; ++i) s.push_back(static_cast<char>(i * 7 + 3));
  uint64_t whole = Crc64(0, s);
  for (size_t cut : {0, 1, 7, 8, 9, 500, 999, 1000}) {
    uint64_t c = Crc64(Crc64(0, s.data(), cut), s.data() + cut, s.size() - cut);
    CHECK(c == whole);
  }
}

TEST_CASE("lzf round trip and expansion of back-references") {
  std::mt19937 rng(1);
  for (int round = 0; round < 50; ++round) {
    std::string s;
    size_t n = 21 + rng() % 5000;
    for (size_t i = 0; i < n; ++i) s.push_back(static_cast<char>('a' + (rng() % (round % 5 + 1))));
    std::string c, d, err;
    if (!LzfCompress(s, s.size() - 4, &c)) continue;
    REQUIRE(LzfDecompress(c, s.size(), &d, &err));
    CHECK(d == s);
  }
  // Overlapping copy (run-length): "a" then a back-reference of distance 1.
  std::string rle = std::string("\x00" "a", 2) + std::string("\xE0\x05\x00", 3);  // len 7+5+2 = 14
  std::string out, err;
  REQUIRE(LzfDecompress(rle, 15, &out, &err));
  CHECK(out == std::string(15, 'a'));
}

TEST_CASE("lzf rejects corrupt streams") {
  std::string out, err;
  CHECK_FALSE(LzfDecompress(std::string("\x05" "ab", 3), 6, &out, &err));  // literal past end
  CHECK(err.find("literal run past end") != std::string::npos);
  CHECK_FALSE(LzfDecompress(std::string("\x20\x05", 2), 3, &out, &err));  // reference before start
  CHECK_FALSE(LzfDecompress(std::string("\x01" "ab", 3), 5, &out, &err));  // shorter than announced
  CHECK_FALSE(LzfDecompress(std::string("\x01" "ab", 3), 1, &out, &err));  // longer than announced
  CHECK_FALSE(LzfDecompress(std::string("\xE0", 1), 10, &out, &err));      // truncated back-reference
  std::string incompressible;
  for (int i = 0; i < 100; ++i) incompressible.push_back(static_cast<char>(i * 37 + 11));
  std::string c;
  CHECK_FALSE(LzfCompress(incompressible, incompressible.size() - 4, &c));
}
