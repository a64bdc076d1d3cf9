// Compact blob formats: each decoder on hand-built valid blobs and on the
// malformed ones a hostile file could contain.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "rdb/intset.h"
#include "rdb/listpack.h"
#include "rdb/ziplist.h"
#include "rdb/zipmap.h"

using namespace darter::rdb;

namespace {

std::string LE32(uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); }
std::string LE16(uint16_t v) { return std::string(reinterpret_cast<const char*>(&v), 2); }

// Ziplist from entries given as encoded bytes (prevlen is computed).
std::string Ziplist(const std::vector<std::string>& encoded, int zllen = -1) {
  std::string body;
  size_t prev = 0, last = 10;
  for (const auto& e : encoded) {
    last = 10 + body.size();
    std::string entry;
    if (prev < 254) entry.push_back(static_cast<char>(prev));
    else entry += "\xFE" + LE32(static_cast<uint32_t>(prev));
    entry += e;
    prev = entry.size();
    body += entry;
  }
  std::string zl = LE32(static_cast<uint32_t>(11 + body.size())) + LE32(static_cast<uint32_t>(last)) +
                   LE16(static_cast<uint16_t>(zllen < 0 ? encoded.size() : zllen)) + body + "\xFF";
  return zl;
}

std::vector<std::string> Texts(std::string_view blob, bool listpack, Status* st) {
  std::vector<std::string> out;
  BlobElement e;
  if (listpack) {
    ListpackReader r;
    *st = r.Init(blob);
    if (!st->ok()) return out;
    while (r.Next(&e)) out.push_back(e.is_int ? std::to_string(e.ival) : std::string(e.str));
    *st = r.status();
  } else {
    ZiplistReader r;
    *st = r.Init(blob);
    if (!st->ok()) return out;
    while (r.Next(&e)) out.push_back(e.is_int ? std::to_string(e.ival) : std::string(e.str));
    *st = r.status();
  }
  return out;
}

}  // namespace

TEST_CASE("ziplist decodes every entry encoding") {
  std::vector<std::string> enc = {
      std::string("\x03" "abc", 4),
      std::string("\x40\x40", 2) + std::string(64, 'x'),        // 14-bit length
      std::string("\x80\x00\x00\x00\x02" "hi", 7),             // 32-bit length
      std::string("\xC0\x34\x12", 3),                          // int16 0x1234
      std::string("\xD0\xFF\xFF\xFF\xFF", 5),                  // int32 -1
      std::string("\xE0\x01\x00\x00\x00\x00\x00\x00\x80", 9),  // int64 min+1
      std::string("\xF0\xFF\xFF\x7F", 4),                      // int24 max
      std::string("\xFE\x80", 2),                              // int8 -128
      std::string("\xF1", 1),                                  // immediate 0
      std::string("\xFD", 1),                                  // immediate 12
  };
  Status st;
  auto v = Texts(Ziplist(enc), false, &st);
  REQUIRE(st.ok());
  REQUIRE(v.size() == 10);
  CHECK(v[0] == "abc");
  CHECK(v[1] == std::string(64, 'x'));
  CHECK(v[2] == "hi");
  CHECK(v[3] == "4660");
  CHECK(v[4] == "-1");
  CHECK(v[5] == "-9223372036854775807");
  CHECK(v[6] == "8388607");
  CHECK(v[7] == "-128");
  CHECK(v[8] == "0");
  CHECK(v[9] == "12");
}

TEST_CASE("ziplist rejects bad headers, counts and entries") {
  Status st;
  std::string good = Ziplist({std::string("\x01" "a", 2), std::string("\x01" "b", 2)});
  Texts(good, false, &st);
  CHECK(st.ok());
  std::string bad = good;
  bad[0] = 99;  // zlbytes
  Texts(bad, false, &st);
  CHECK(st.message().find("zlbytes") != std::string::npos);
  Texts(Ziplist({std::string("\x01" "a", 2)}, 5), false, &st);
  CHECK(st.message().find("zllen 5") != std::string::npos);
  Texts(Ziplist({std::string("\x3F" "a", 2)}), false, &st);  // length 63, 1 byte present
  CHECK_FALSE(st.ok());
  Texts(Ziplist({std::string("\xC5", 1)}), false, &st);  // invalid int encoding
  CHECK(st.message().find("invalid integer encoding") != std::string::npos);
  std::string wrong_prev = good;
  wrong_prev[13] = 7;  // prevlen of the second entry
  Texts(wrong_prev, false, &st);
  CHECK(st.message().find("prevlen") != std::string::npos);
  Texts(std::string("xxxxx"), false, &st);
  CHECK(st.message().find("shorter than a ziplist header") != std::string::npos);
  // A length field that ends exactly at the end marker (found by the fuzz replay): the
  // reader must refuse it, not read past the blob.
  // Its last length byte is the end marker itself.
  Texts(Ziplist({std::string("\x80\x00\x00\x00", 4)}), false, &st);
  CHECK(st.message().find("runs past the end") != std::string::npos);
  Texts(Ziplist({std::string("\x40", 1)}), false, &st);  // the same with a 14-bit length
  CHECK(st.message().find("runs past the end") != std::string::npos);
}

TEST_CASE("listpack builder and reader agree on every encoding") {
  ListpackBuilder b;
  std::vector<std::string> in = {"0", "127", "128", "-1", "-4096", "4095", "4096", "-32768", "32767",
                                 "8388607", "-8388608", "2147483647", "-2147483648",
                                 "9223372036854775807", "-9223372036854775808", "007", "-0", "",
                                 std::string(63, 'a'), std::string(64, 'b'), std::string(4095, 'c'),
                                 std::string(4096, 'd'), std::string(70000, 'e')};
  for (const auto& s : in) b.Append(s);
  Status st;
  auto out = Texts(b.Finish(), true, &st);
  REQUIRE(st.ok());
  CHECK(out == in);
}

TEST_CASE("listpack rejects bad headers, counts, backlen and encodings") {
  ListpackBuilder b;
  b.Append("abc");
  b.Append("12");
  std::string good = b.Finish();
  Status st;
  Texts(good, true, &st);
  CHECK(st.ok());
  std::string bad = good;
  bad[4] = 3;  // element count
  Texts(bad, true, &st);
  CHECK(st.message().find("header counts 3") != std::string::npos);
  bad = good;
  bad[10] = 9;  // backlen of "abc"
  Texts(bad, true, &st);
  CHECK(st.message().find("backlen") != std::string::npos);
  bad = good;
  bad[6] = static_cast<char>(0xF7);  // unused encoding
  Texts(bad, true, &st);
  CHECK(st.message().find("invalid element encoding") != std::string::npos);
  bad = good;
  bad[0] = 100;
  Texts(bad, true, &st);
  CHECK(st.message().find("total_bytes") != std::string::npos);
  bad = good;
  bad[6] = static_cast<char>(0xBF);  // string of 63 bytes: past the end
  Texts(bad, true, &st);
  CHECK_FALSE(st.ok());
}

TEST_CASE("intset widths, order and size checks") {
  std::vector<int64_t> m = {-5000000000LL, -3, 7, 70000, 5000000000LL};
  std::string blob;
  BuildIntset(m.data(), m.size(), &blob);
  IntsetReader r;
  REQUIRE(r.Init(blob).ok());
  CHECK(r.width() == 8);
  std::vector<int64_t> got;
  int64_t v;
  while (r.Next(&v)) got.push_back(v);
  CHECK(r.status().ok());
  CHECK(got == m);

  std::vector<int64_t> small = {1, 2, 3};
  BuildIntset(small.data(), small.size(), &blob);
  CHECK(blob.size() == 8 + 3 * 2);
  std::string unsorted = blob;
  unsorted[8] = 9;  // first member 9 > 2
  IntsetReader r2;
  REQUIRE(r2.Init(unsorted).ok());
  while (r2.Next(&v)) {
  }
  CHECK(r2.status().message().find("ascending") != std::string::npos);
  IntsetReader r3;
  CHECK_FALSE(r3.Init(blob.substr(0, blob.size() - 1)).ok());
  std::string badwidth = blob;
  badwidth[0] = 3;
  CHECK_FALSE(IntsetReader().Init(badwidth).ok());
}

TEST_CASE("zipmap pairs, free bytes and bounds") {
  // zmlen 2; "f1" -> "v1" (1 free byte), "f2" -> "v2"
  const char raw[] = "\x02" "\x02" "f1" "\x02\x01" "v1" "X" "\x02" "f2" "\x02\x00" "v2" "\xFF";
  std::string zm(raw, sizeof raw - 1);
  ZipmapReader r;
  REQUIRE(r.Init(zm).ok());
  std::string_view f, v;
  REQUIRE(r.Next(&f, &v));
  CHECK(f == "f1");
  CHECK(v == "v1");
  REQUIRE(r.Next(&f, &v));
  CHECK(f == "f2");
  CHECK(v == "v2");
  CHECK_FALSE(r.Next(&f, &v));
  CHECK(r.status().ok());

  std::string bad = zm;
  bad[1] = 100;  // field length past the end
  ZipmapReader r2;
  REQUIRE(r2.Init(bad).ok());
  CHECK_FALSE(r2.Next(&f, &v));
  CHECK_FALSE(r2.status().ok());
}
