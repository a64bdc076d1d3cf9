// Reader behaviour on the shared fixtures and on hostile input.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <string>

#include "fixtures.h"
#include "model_sink.h"
#include "rdb/crc64.h"
#include "rdb/reader.h"
#include "rdb/writer.h"

using namespace darter::rdb;
using darter::rdb::testing::AllFixtures;
using darter::rdb::testing::FixturesDir;
using darter::rdb::testing::IsCorruptOnPurpose;
using darter::rdb::testing::ModelSink;
using darter::rdb::testing::ReadFile;

namespace {

struct Decoded {
  Status status;
  std::string render;
  size_t keys = 0;
};

Decoded DecodeWhole(std::string_view data, ReaderOptions opt = {}) {
  ModelSink m;
  Decoded d;
  d.status = ReadRdb(data, &m, opt);
  d.render = m.Render(true);
  d.keys = m.keys.size();
  return d;
}

Decoded DecodeInPieces(std::string_view data, const std::vector<size_t>& cuts, ReaderOptions opt = {}) {
  ModelSink m;
  Reader r(&m, opt);
  Decoded d;
  size_t prev = 0;
  for (size_t c : cuts) {
    d.status = r.Feed(data.substr(prev, c - prev));
    prev = c;
    if (!d.status.ok()) break;
  }
  if (d.status.ok()) d.status = r.Feed(data.substr(prev));
  if (d.status.ok()) d.status = r.Finish();
  d.render = m.Render(true);
  d.keys = m.keys.size();
  return d;
}

Decoded DecodeByteByByte(std::string_view data) {
  ModelSink m;
  Reader r(&m);
  Decoded d;
  for (size_t i = 0; i < data.size() && d.status.ok(); ++i) d.status = r.Feed(data.substr(i, 1));
  if (d.status.ok()) d.status = r.Finish();
  d.render = m.Render(true);
  d.keys = m.keys.size();
  return d;
}

// Time at which the expectations below were recorded from redis-server.
constexpr int64_t kRecordedAtMs = 1795694988085;

}  // namespace

TEST_CASE("every fixture decodes, with its checksum verified") {
  auto files = AllFixtures();
  REQUIRE(files.size() >= 14);
  for (const auto& f : files) {
    CAPTURE(f.string());
    std::string data = ReadFile(f);
    ModelSink m;
    Status s = ReadRdb(data, &m);
    if (IsCorruptOnPurpose(f)) {
      // The type byte of key:000000000091 says hash-ziplist but the value is "xxxxx".
      CHECK_FALSE(s.ok());
      CHECK(s.message().find("key:000000000091") != std::string::npos);
      CHECK(s.message().find("ziplist") != std::string::npos);
      CHECK(s.message().rfind("offset 488:", 0) == 0);
      continue;
    }
    REQUIRE_MESSAGE(s.ok(), s.message());
    REQUIRE(m.ended);
    if (m.end.stored_checksum != 0) CHECK(m.end.checksum_verified);
    CHECK(m.end.bytes == data.size());
  }
}

// Expectations recorded by loading each file into Debian's redis-server
// 7.0.15 at kRecordedAtMs and counting TYPE of every key per db (see
// tests/integration/rdb_redis_roundtrip_test.cc, which checks the same live;
// regenerate with that test's --print-counts option). Keys whose TTL had
// passed at that time are the ones Redis drops while loading. The 7.2 file
// (RDB 11) cannot be loaded by 7.0; it was made by the same fill script as
// the 7.0 file, so its expectations are the 7.0 ones.
TEST_CASE("key counts per db and type equal what redis-server loads") {
  const std::map<std::string, int> v62 = {
      {"0:hash", 7}, {"0:list", 9}, {"0:set", 11}, {"0:stream", 10}, {"0:string", 57}, {"0:zset", 8},
      {"1:hash", 1}, {"1:list", 1}, {"1:set", 10}, {"1:stream", 1}, {"1:string", 1}, {"1:zset", 1},
      {"9:hash", 1}, {"9:string", 1}, {"15:list", 1}, {"15:string", 1}};
  std::map<std::string, int> v70 = v62;
  v70["0:list"] = 10;  // list:plainnodes exists on 7.x only
  const std::map<std::string, std::map<std::string, int>> expected = {
      {"redis62-alltypes.rdb", v62}, {"redis70-alltypes.rdb", v70}, {"redis72-alltypes.rdb", v70}};
  for (const auto& [name, counts] : expected) {
    CAPTURE(name);
    ModelSink m;
    REQUIRE(ReadRdb(ReadFile(FixturesDir() / name), &m).ok());
    CHECK(m.Counts(kRecordedAtMs) == counts);
    // All keys, expired included: what redis-check-rdb reports (128 / 129).
    CHECK(m.keys.size() == (name == "redis62-alltypes.rdb" ? 128u : 129u));
  }
  // The LRU/LFU files carry IDLE / FREQ before every key.
  for (const char* name : {"redis62-lru-idle.rdb", "redis62-lfu-freq.rdb"}) {
    ModelSink m;
    REQUIRE(ReadRdb(ReadFile(FixturesDir() / name), &m).ok());
    bool lru = std::string(name).find("lru") != std::string::npos;
    for (const auto& [k, v] : m.keys) {
      CAPTURE(k.second);
      if (lru) CHECK(v.idle >= 0);
      else CHECK(v.freq >= 0);
    }
    const auto& small = m.keys.at({0, "str:small"});
    if (lru) CHECK(small.idle == 0);
    else CHECK(small.freq == 11);
  }
}

TEST_CASE("old encodings and assets decode to the values Redis's tests expect") {
  ModelSink m;
  REQUIRE(ReadRdb(ReadFile(FixturesDir() / "redis-assets/hash-zipmap.rdb"), &m).ok());
  CHECK(m.Render() == "0 hash hash:[f1=v1][f2=v2]\n");

  ModelSink q;
  REQUIRE(ReadRdb(ReadFile(FixturesDir() / "redis-assets/list-quicklist.rdb"), &q).ok());
  CHECK(q.Render() == "0 list list:[7]\n0 x string:7\n");

  ModelSink z;
  REQUIRE(ReadRdb(ReadFile(FixturesDir() / "redis-assets/zset-ziplist.rdb"), &z).ok());
  CHECK(z.Render() == "0 zset zset:[one=1][two=2]\n");

  ModelSink e;
  REQUIRE(ReadRdb(ReadFile(FixturesDir() / "redis-assets/encodings.rdb"), &e).ok());
  CHECK(e.keys.size() == 13);
  CHECK(e.keys.at({0, "compressible"}).str.size() > 20);

  for (const char* f : {"redis-assets/corrupt_empty_keys-v9.rdb", "redis-assets/corrupt_empty_keys-v10.rdb"}) {
    ModelSink c;
    REQUIRE(ReadRdb(ReadFile(FixturesDir() / f), &c).ok());
    CHECK(c.keys.empty());
    CHECK(c.empty_skipped.size() == (std::string(f).find("v9") != std::string::npos ? 8u : 9u));
  }

  ModelSink s;
  REQUIRE(ReadRdb(ReadFile(FixturesDir() / "redis-assets/scriptbackup.rdb"), &s).ok());
  bool lua = false;
  for (const auto& [k, v] : s.aux) lua |= k == "lua" && v.find("redis.call('set', 'foo', 'bar')") != std::string::npos;
  CHECK(lua);

  ModelSink f70;
  REQUIRE(ReadRdb(ReadFile(FixturesDir() / "redis70-alltypes.rdb"), &f70).ok());
  REQUIRE(f70.functions.size() == 1);
  CHECK(f70.functions[0].rfind("#!lua name=populatelib", 0) == 0);
}

TEST_CASE("stream consumer groups, PEL and consumers are decoded") {
  for (const char* name : {"redis62-alltypes.rdb", "redis70-alltypes.rdb", "redis72-alltypes.rdb"}) {
    CAPTURE(name);
    ModelSink m;
    REQUIRE(ReadRdb(ReadFile(FixturesDir() / name), &m).ok());
    const auto& s = m.keys.at({0, "stream:cgroups"});
    int groups = 0, consumers = 0, pel = 0, owned = 0;
    for (const auto& part : s.stream) {
      groups += part.rfind("G ", 0) == 0;
      consumers += part.rfind("C ", 0) == 0;
      pel += part.rfind("P ", 0) == 0;
      owned += part.rfind("O ", 0) == 0;
    }
    CHECK(groups == 3);
    CHECK(consumers == 6);  // alice, bob, carol, dave, erin + idle-group's one
    CHECK(pel == owned);    // every PEL entry has exactly one owner
    CHECK(pel > 0);
    // Emptied stream: length 0 but last id kept.
    const auto& empty = m.keys.at({0, "stream:emptied"});
    bool meta_ok = false;
    for (const auto& part : empty.stream) meta_ok |= part.rfind("M len=0 last=", 0) == 0 && part.find("last=0-0") == std::string::npos;
    CHECK(meta_ok);
  }
}

TEST_CASE("any split of the input gives the same result as the whole") {
  std::mt19937 rng(42);
  for (const auto& f : AllFixtures()) {
    CAPTURE(f.string());
    std::string data = ReadFile(f);
    Decoded whole = DecodeWhole(data);
    Decoded bytes = DecodeByteByByte(data);
    CHECK(bytes.status.ToString() == whole.status.ToString());
    CHECK(bytes.render == whole.render);
    for (int round = 0; round < 3; ++round) {
      std::vector<size_t> cuts;
      size_t pos = 0;
      while (true) {
        pos += 1 + rng() % (round == 0 ? 7 : round == 1 ? 4096 : 65536);
        if (pos >= data.size()) break;
        cuts.push_back(pos);
      }
      Decoded pieces = DecodeInPieces(data, cuts);
      CHECK(pieces.status.ToString() == whole.status.ToString());
      CHECK(pieces.render == whole.render);
    }
  }
}

TEST_CASE("chunks are bounded by chunk_elements and carry no meaning") {
  std::string data = ReadFile(FixturesDir() / "redis70-alltypes.rdb");
  struct MaxChunk : ModelSink {
    size_t max = 0;
    Status OnListElements(std::span<const std::string_view> e) override {
      max = std::max(max, e.size());
      return ModelSink::OnListElements(e);
    }
    Status OnZSetMembers(std::span<const ZSetMember> e) override {
      max = std::max(max, e.size());
      return ModelSink::OnZSetMembers(e);
    }
    Status OnStreamEntries(std::span<const StreamEntry> e) override {
      max = std::max(max, e.size());
      return ModelSink::OnStreamEntries(e);
    }
  };
  ReaderOptions small;
  small.chunk_elements = 3;
  MaxChunk a;
  REQUIRE(ReadRdb(data, &a, small).ok());
  CHECK(a.max <= 3);
  ModelSink b;
  REQUIRE(ReadRdb(data, &b).ok());
  CHECK(a.Render(true) == b.Render(true));
}

TEST_CASE("truncated fixtures give an error naming the offset, never a crash") {
  for (const auto& f : AllFixtures()) {
    CAPTURE(f.string());
    std::string data = ReadFile(f);
    for (int i = 0; i < 100; ++i) {
      size_t cut = data.size() * static_cast<size_t>(i) / 100;
      ModelSink m;
      Reader r(&m);
      Status s = r.Feed(std::string_view(data).substr(0, cut));
      if (s.ok()) s = r.Finish();
      CHECK_FALSE(s.ok());
      CHECK(s.message().rfind("offset ", 0) == 0);
    }
  }
}

TEST_CASE("flipped bytes give errors when checksummed, and never a crash") {
  std::mt19937 rng(7);
  for (const auto& f : AllFixtures()) {
    CAPTURE(f.string());
    const std::string data = ReadFile(f);
    ModelSink probe;
    Status whole = ReadRdb(data, &probe);
    const bool checksummed = whole.ok() && probe.end.stored_checksum != 0;
    for (int i = 0; i < 200; ++i) {
      std::string bad = data;
      size_t pos = rng() % bad.size();
      bad[pos] = static_cast<char>(bad[pos] ^ (1 + rng() % 255));
      ModelSink m;
      Status s = ReadRdb(bad, &m);
      if (checksummed) {
        CAPTURE(pos);
        CHECK_FALSE(s.ok());
      }
      if (!s.ok()) CHECK(s.message().rfind("offset ", 0) == 0);
    }
    // Without checksum verification the structure checks alone must hold up.
    for (int i = 0; i < 200; ++i) {
      std::string bad = data;
      for (int k = 0; k < 3; ++k) {
        size_t pos = rng() % bad.size();
        bad[pos] = static_cast<char>(rng());
      }
      ReaderOptions o;
      o.verify_checksum = false;
      o.module_policy = ModulePolicy::kSkip;
      ModelSink m;
      (void)ReadRdb(bad, &m, o);
    }
  }
}

namespace {

// Builds small synthetic files: header, raw records, EOF and checksum.
std::string Rdb(std::string_view magic, std::string_view body, bool checksum = true) {
  std::string s(magic);
  s += body;
  s.push_back(static_cast<char>(0xFF));
  uint64_t crc = checksum ? Crc64(0, s) : 0;
  s.append(reinterpret_cast<const char*>(&crc), 8);
  return s;
}

std::string Str(std::string_view v) {
  std::string s(1, static_cast<char>(v.size()));  // REQUIRES: v.size() < 64
  s += v;
  return s;
}

std::string LE64(uint64_t v) { return std::string(reinterpret_cast<const char*>(&v), 8); }

}  // namespace

TEST_CASE("hostile length prefixes are refused without allocating for them") {
  // String key whose value claims 2^40 bytes.
  std::string huge = Rdb("REDIS0009", std::string("\x00", 1) + Str("k") + "\x81" + std::string("\x00\x00\x01\x00\x00\x00\x00\x00", 8));
  ModelSink m0;
  Status s = ReadRdb(huge, &m0);
  CHECK(s.message().find("is implausible") != std::string::npos);
  // A set that claims 2^62 members: waits for them, then reports truncation.
  ModelSink m;
  Reader r(&m);
  std::string body = std::string("REDIS0009") + "\x02" + Str("s") + "\x81" + std::string("\x40\x00\x00\x00\x00\x00\x00\x00", 8) + Str("a");
  CHECK(r.Feed(body).ok());
  Status fin = r.Finish();
  CHECK_FALSE(fin.ok());
  CHECK(fin.message().find("key 's'") != std::string::npos);
  // LZF that claims a huge uncompressed size from 3 bytes.
  std::string lzf = Rdb("REDIS0009", std::string("\x00", 1) + Str("k") + "\xC3\x03\x80\x7F\xFF\xFF\xFF" + "\x00ab");
  ModelSink m2;
  Status s2 = ReadRdb(lzf, &m2);
  CHECK(s2.message().find("cannot come from 3 compressed bytes") != std::string::npos);
  // Invalid length byte, unknown type, bad magic, unsupported version.
  ModelSink m3;
  CHECK(ReadRdb(Rdb("REDIS0009", "\xFE\xBF"), &m3).message().find("invalid length encoding") != std::string::npos);
  CHECK(ReadRdb(Rdb("REDIS0009", "\x08" + Str("k")), &m3).message().find("unknown value type 8") != std::string::npos);
  CHECK(ReadRdb(Rdb("REDIX0009", ""), &m3).message().find("not an RDB file") != std::string::npos);
  CHECK(ReadRdb(Rdb("REDIS0013", ""), &m3).message().find("unsupported RDB version 13") != std::string::npos);
  // Types 24/25 only exist from version 12 on.
  CHECK(ReadRdb(Rdb("REDIS0011", "\x18" + Str("k")), &m3).message().find("unknown value type 24") != std::string::npos);
}

TEST_CASE("a sink error aborts loading with the offset and key") {
  ModelSink m;
  m.error_injected_at = "str:small";
  Status s = ReadRdb(ReadFile(FixturesDir() / "redis70-alltypes.rdb"), &m);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("sink refused: injected") != std::string::npos);
}

TEST_CASE("bytes after the end of the RDB are not consumed") {
  std::string data = ReadFile(FixturesDir() / "redis-assets/hash-ziplist.rdb");
  std::string with_tail = data + "*1\r\n$4\r\nPING\r\n";
  ModelSink m;
  Reader r(&m);
  size_t consumed = 0;
  REQUIRE(r.Feed(std::string_view(with_tail).substr(0, 50), &consumed).ok());
  CHECK(consumed == 50);
  REQUIRE(r.Feed(std::string_view(with_tail).substr(50), &consumed).ok());
  CHECK(consumed == data.size() - 50);
  CHECK(r.done());
  CHECK(r.Finish().ok());
}

TEST_CASE("module values and MODULE_AUX: fail by default, skip and report on request") {
  // Module id for type name "darter-mo" encver 3, computed as Redis does.
  const char* charset = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  uint64_t id = 0;
  for (char c : std::string("darter-mo")) id = (id << 6) | static_cast<uint64_t>(std::strchr(charset, c) - charset);
  id = (id << 10) | 3;
  auto len64 = [](uint64_t v) {
    std::string s = "\x81";
    for (int i = 7; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    return s;
  };
  std::string module_ops = std::string("\x01\x05", 2) + "\x02\x07" + "\x03" + std::string(4, 'f') + "\x04" +
                           std::string(8, 'd') + "\x05" + Str("blob") + std::string("\x00", 1);
  std::string body = "\xF7" + len64(id) + "\x02\x02" + module_ops +          // MODULE_AUX, when=2
                     std::string("\xFE\x00", 2) + "\x07" + Str("mk") + len64(id) + module_ops +  // module value
                     std::string("\x00", 1) + Str("after") + Str("x");
  std::string file = Rdb("REDIS0009", body);
  ModelSink m;
  Status s = ReadRdb(file, &m);
  CHECK(s.message().find("MODULE_AUX data of module type 'darter-mo'") != std::string::npos);
  ReaderOptions skip;
  skip.module_policy = ModulePolicy::kSkip;
  ModelSink m2;
  Status skipped = ReadRdb(file, &m2, skip);
  REQUIRE_MESSAGE(skipped.ok(), skipped.message());
  REQUIRE(m2.module_skipped.size() == 1);
  CHECK(m2.module_skipped[0] == "0:mk:darter-mo");
  CHECK(m2.keys.size() == 1);  // "after" still loads
  // Byte by byte gives the same.
  ModelSink m3;
  Reader r(&m3, skip);
  for (char c : file) REQUIRE(r.Feed(std::string_view(&c, 1)).ok());
  REQUIRE(r.Finish().ok());
  CHECK(m3.module_skipped == m2.module_skipped);
}

TEST_CASE("Redis 7.4 hash field TTL types and Valkey's HASH_2 dispatch on magic + version") {
  const int64_t t1 = 4102444800000, t2 = 4102444805000;
  // Type 24: min expire, count, (ttl-relative, field, value)*.
  std::string t24 = std::string("\x18", 1) + Str("h") + LE64(t1) + "\x02" + "\x01" + Str("a") + Str("1") +
                    std::string("\x00", 1) + Str("b") + Str("2");
  ModelSink m;
  REQUIRE(ReadRdb(Rdb("REDIS0012", t24), &m).ok());
  CHECK(m.Render() == "0 h hash:[a=1@" + std::to_string(t1) + "][b=2]\n");
  // Type 25: min expire, then a listpack of field, value, ttl (0 = none).
  ListpackBuilder lp;
  lp.Append("f");
  lp.Append("v");
  lp.AppendInt(t2);
  lp.Append("g");
  lp.Append("w");
  lp.AppendInt(0);
  const std::string& blob = lp.Finish();
  std::string t25 = std::string("\x19", 1) + Str("h") + LE64(t2) + std::string(1, static_cast<char>(0x40 | (blob.size() >> 8))) +
                    std::string(1, static_cast<char>(blob.size() & 0xFF)) + blob;
  ModelSink m2;
  REQUIRE(ReadRdb(Rdb("REDIS0012", t25), &m2).ok());
  CHECK(m2.Render() == "0 h hash:[f=v@" + std::to_string(t2) + "][g=w]\n");
  // Valkey 9: type 22 is HASH_2 (field, value, 8-byte expiry, -1 = none).
  std::string v22 = std::string("\x16", 1) + Str("h") + "\x02" + Str("a") + Str("1") + LE64(static_cast<uint64_t>(t1)) +
                    Str("b") + Str("2") + LE64(static_cast<uint64_t>(-1));
  ModelSink m3;
  REQUIRE(ReadRdb(Rdb("VALKEY080", v22), &m3).ok());
  CHECK(m3.Render() == "0 h hash:[a=1@" + std::to_string(t1) + "][b=2]\n");
  // The same bytes in a Redis 12 file mean the 7.4-RC layout and fail here.
  ModelSink m4;
  CHECK_FALSE(ReadRdb(Rdb("REDIS0012", v22), &m4).ok());
  ModelSink m5;
  CHECK(ReadRdb(Rdb("VALKEY079", ""), &m5).message().find("unsupported Valkey RDB version 79") != std::string::npos);
}
