#include "server/repl/flow_frame.h"

#include <doctest/doctest.h>

#include <random>

using darter::server::FlowCompression;
using darter::server::FlowDecoder;
using darter::server::FlowEncoder;
using darter::server::FlowFrame;
using darter::server::JournalEntry;

namespace {

JournalEntry Entry(uint64_t lsn, uint64_t txid, unsigned tx_shards, std::vector<std::string> commands) {
  JournalEntry e;
  e.lsn = lsn;
  e.db = 3;
  e.txid = txid;
  e.tx_shards = tx_shards;
  e.commands = std::move(commands);
  return e;
}

// Decodes every frame of `wire`, fed in pieces of `step` bytes as a socket would.
std::vector<FlowFrame> DecodeAll(const std::string& wire, size_t step, std::string* error) {
  FlowDecoder d;
  std::vector<FlowFrame> out;
  std::string buf;
  size_t fed = 0;
  while (true) {
    FlowFrame f;
    size_t used = 0;
    auto r = d.Next(buf, &used, &f, error);
    if (r == FlowDecoder::Result::kError) return out;
    if (r == FlowDecoder::Result::kFrame) {
      out.push_back(std::move(f));
      buf.erase(0, used);
      continue;
    }
    if (fed == wire.size()) return out;
    size_t n = std::min(step, wire.size() - fed);
    buf.append(wire, fed, n);
    fed += n;
  }
}

std::string Compressible(size_t n) {
  std::string s;
  while (s.size() < n) s += "key:" + std::to_string(s.size() % 977) + ",value-value-value;";
  s.resize(n);
  return s;
}

}  // namespace

TEST_CASE("flow frames round-trip with every compression, fed byte by byte or in bulk") {
  for (FlowCompression c : {FlowCompression::kNone, FlowCompression::kLz4, FlowCompression::kZstd}) {
    CAPTURE(darter::server::FlowCompressionName(c));
    FlowEncoder enc(c);
    std::string wire;
    std::string rdb = Compressible(3 << 20);  // more than one frame's worth
    enc.AppendRdb(&wire, rdb);
    enc.AppendRdb(&wire, "tiny");
    enc.AppendSnapshotEnd(&wire, 41, 1234);
    enc.AppendJournal(&wire, Entry(42, 0, 1, {"*1\r\n$4\r\nPING\r\n"}));
    JournalEntry mark = Entry(43, 77, 3, {});
    mark.kind = JournalEntry::Kind::kTxEnd;
    enc.AppendJournal(&wire, mark);
    enc.AppendHeartbeat(&wire, 43);
    if (c != FlowCompression::kNone) CHECK(enc.wire_bytes() < enc.raw_bytes() / 2);
    for (size_t step : {size_t{1} << 22, size_t{7}}) {
      if (step == 7 && c != FlowCompression::kZstd) continue;  // byte-wise once is enough
      std::string error;
      auto frames = DecodeAll(wire, step, &error);
      REQUIRE(error.empty());
      std::string got;
      size_t i = 0;
      while (i < frames.size() && std::string("RLZ").find(frames[i].type) != std::string::npos) got += frames[i++].rdb;
      CHECK(got == rdb + "tiny");
      REQUIRE(frames.size() == i + 4);
      CHECK(frames[i].type == 'S');
      CHECK(frames[i].lsn == 41);
      CHECK(frames[i].keys == 1234);
      REQUIRE(frames[i + 1].entries.size() == 1);
      const JournalEntry& e = frames[i + 1].entries[0];
      CHECK(e.lsn == 42);
      CHECK(e.db == 3);
      CHECK(e.commands == std::vector<std::string>{"*1\r\n$4\r\nPING\r\n"});
      const JournalEntry& m = frames[i + 2].entries[0];
      CHECK(m.kind == JournalEntry::Kind::kTxEnd);
      CHECK(m.txid == 77);
      CHECK(m.tx_shards == 3);
      CHECK(frames[i + 3].type == 'H');
      CHECK(frames[i + 3].lsn == 43);
    }
  }
}

TEST_CASE("incompressible RDB bytes go out raw") {
  std::mt19937 rng(7);
  std::string noise(100000, '\0');
  for (auto& ch : noise) ch = static_cast<char>(rng());
  FlowEncoder enc(FlowCompression::kLz4);
  std::string wire;
  enc.AppendRdb(&wire, noise);
  CHECK(wire[0] == 'R');
  CHECK(wire.size() == noise.size() + 5);
}

TEST_CASE("a corrupt flow fails with an error, never a crash or a hang") {
  std::string error;
  FlowDecoder d;
  FlowFrame f;
  size_t used = 0;
  SUBCASE("unknown type") {
    std::string w("Q\0\0\0\0", 5);
    CHECK(d.Next(w, &used, &f, &error) == FlowDecoder::Result::kError);
    CHECK(error.find("unknown flow frame type") != std::string::npos);
  }
  SUBCASE("huge length prefix") {
    std::string w("R\xff\xff\xff\x7f", 5);
    CHECK(d.Next(w, &used, &f, &error) == FlowDecoder::Result::kError);
  }
  SUBCASE("journal entry whose command runs past its frame") {
    FlowEncoder enc(FlowCompression::kNone);
    std::string w;
    enc.AppendJournal(&w, Entry(1, 0, 1, {"abc"}));
    w[w.size() - 4] = 'z';  // the command's length's low byte: now 'z' (122) bytes
    CHECK(d.Next(w, &used, &f, &error) == FlowDecoder::Result::kError);
  }
  SUBCASE("truncated compressed block") {
    FlowEncoder enc(FlowCompression::kZstd);
    std::string w;
    enc.AppendRdb(&w, Compressible(10000));
    REQUIRE(w[0] == 'Z');
    // Drop the last 10 bytes of the block and fix up the frame length.
    w.resize(w.size() - 10);
    uint32_t len = static_cast<uint32_t>(w.size() - 5);
    for (int i = 0; i < 4; ++i) w[1 + i] = static_cast<char>(len >> (8 * i));
    CHECK(d.Next(w, &used, &f, &error) == FlowDecoder::Result::kError);
  }
}

TEST_CASE("random corruption of a valid flow is always refused or decoded, within bounds") {
  FlowEncoder lz4(FlowCompression::kLz4), zstd(FlowCompression::kZstd);
  std::string wire;
  lz4.AppendRdb(&wire, Compressible(20000));
  zstd.AppendRdb(&wire, Compressible(20000));
  lz4.AppendJournal(&wire, Entry(5, 9, 2, {"*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n", "x"}));
  lz4.AppendSnapshotEnd(&wire, 4, 2);
  std::mt19937 rng(12345);
  for (int round = 0; round < 3000; ++round) {
    std::string w = wire;
    int flips = 1 + static_cast<int>(rng() % 4);
    for (int i = 0; i < flips; ++i) w[rng() % w.size()] = static_cast<char>(rng());
    if (rng() % 3 == 0) w.resize(rng() % w.size());
    std::string error;
    auto frames = DecodeAll(w, 1 + rng() % 5000, &error);
    for (auto& fr : frames) CHECK(fr.rdb.size() <= (1u << 20));
  }
}
