// HyperLogLog: Redis's exact representation (golden bytes from redis-server 7.0),
// sparse/dense equivalence and promotion, corruption detection, estimator accuracy,
// and the PFADD/PFCOUNT/PFMERGE commands driven over two simulated shards.
#include <doctest/doctest.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/hyperloglog.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"

using namespace darter::store;

namespace {

std::string Bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

std::string Header(uint8_t enc, uint8_t card7 = 0x80) {
  std::string h = "HYLL";
  h.push_back(static_cast<char>(enc));
  h.append(10, '\0');
  h.push_back(static_cast<char>(card7));
  return h;
}

const uint8_t* Regs(const std::string& s) { return reinterpret_cast<const uint8_t*>(s.data() + hll::kHeaderSize); }

// Runs commands against `n` shards the way lib/server does: a shard handler on its
// key's shard; a MultiShardOp hop by hop on the shards that own its keys.
class Harness {
 public:
  explicit Harness(unsigned n) {
    for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(i, 1));
    RegisterHllFamily(table_);
    RegisterStringFamily(table_);
  }

  std::string Run(std::vector<std::string> argv) {
    std::vector<std::string_view> args(argv.begin(), argv.end());
    const CommandSpec* spec = table_.Find(args[0]);
    REQUIRE(spec != nullptr);
    std::string out;
    darter::resp::ReplyBuilder rb(&out);
    std::vector<size_t> keys = spec->KeyIndices(args);
    unsigned n = static_cast<unsigned>(shards_.size());
    if (spec->shard_handler) {
      CommandContext ctx{*shards_[ShardOf(args[1], n)], 0, args, rb, 1000};
      spec->shard_handler(ctx);
      return out;
    }
    std::unique_ptr<MultiShardOp> op = spec->multi_shard(args);
    HopPlan plan = op->FirstHop(n);
    for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
      for (unsigned s = 0; s < n; ++s) {
        std::vector<size_t> mine;
        for (size_t k : keys)
          if (ShardOf(args[k], n) == s) mine.push_back(k);
        bool runs = plan.target == HopTarget::kAllShards ||
                    (plan.target == HopTarget::kKeyShards && !mine.empty()) ||
                    (plan.target == HopTarget::kShardOfKey && ShardOf(args[plan.key_index], n) == s) ||
                    (plan.target == HopTarget::kShard && plan.shard == s);
        if (!runs) continue;
        HopContext h{*shards_[s], 0, args, mine, 1000, n};
        op->RunHop(hop, h);
      }
      plan = op->NextHop(hop);
    }
    op->Reply(rb);
    return out;
  }

  std::string Get(const std::string& key) {
    Slot* s = shards_[ShardOf(key, static_cast<unsigned>(shards_.size()))]->FindLive(0, key, 1000);
    return s ? std::string(s->value.string_view()) : std::string();
  }

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  CommandTable table_;
};

}  // namespace

TEST_CASE("An empty HLL is Redis's: sparse, one XZERO opcode over 16384 registers") {
  std::string e = hll::Empty();
  CHECK(e == Header(hll::kSparse, 0) + Bytes({0x7f, 0xff}));
  bool invalid = false;
  CHECK(hll::Count(e, &invalid) == 0);
  CHECK_FALSE(invalid);
}

TEST_CASE("PFADD a b c gives the bytes redis-server 7.0 gives") {
  // GET after `PFADD s a b c` on redis-server 7.0.15.
  std::string expected = Header(hll::kSparse) + "`\xf3\x80P\xb1\x84K\xfb\x80" "BZ";
  std::string h = hll::Empty();
  for (const char* e : {"a", "b", "c"}) CHECK(hll::Add(&h, e) == 1);
  hll::InvalidateCache(h.data());
  CHECK(h == expected);
  CHECK(hll::Add(&h, "a") == 0);
  bool invalid = false;
  CHECK(hll::Count(h, &invalid) == 3);
}

TEST_CASE("Dense registers: 6-bit packing round-trips for every register, the last included") {
  std::vector<uint8_t> regs(hll::kDenseSize - hll::kHeaderSize, 0);
  for (int i = 0; i < hll::kRegisters; ++i) hll::DenseSetRegister(regs.data(), i, static_cast<uint8_t>(i % 64));
  for (int i = 0; i < hll::kRegisters; ++i) REQUIRE(hll::DenseGet(regs.data(), i) == i % 64);
  CHECK(hll::DenseSet(regs.data(), hll::kRegisters - 1, 1) == 0);
  hll::DenseSetRegister(regs.data(), hll::kRegisters - 1, 0);
  CHECK(hll::DenseSet(regs.data(), hll::kRegisters - 1, 63) == 1);
  CHECK(hll::DenseGet(regs.data(), hll::kRegisters - 1) == 63);
  CHECK(hll::DenseGet(regs.data(), hll::kRegisters - 2) == (hll::kRegisters - 2) % 64);
}

TEST_CASE("A register value above 32 promotes a sparse HLL to dense, keeping the header") {
  std::string h = hll::Empty();
  hll::StoreCachedCardinality(h.data(), 0x1234);
  REQUIRE(hll::SparseSet(&h, 7, 5) == 1);
  REQUIRE(hll::SparseSet(&h, 100, 40) == 1);
  REQUIRE(h.size() == hll::kDenseSize);
  CHECK(hll::EncodingOf(h) == hll::kDense);
  CHECK(hll::CachedCardinality(h) == (0x1234 | (uint64_t{0x80} << 56)));
  CHECK(hll::DenseGet(Regs(h), 7) == 5);
  CHECK(hll::DenseGet(Regs(h), 100) == 40);
  int nonzero = 0;
  for (int i = 0; i < hll::kRegisters; ++i) nonzero += hll::DenseGet(Regs(h), i) != 0;
  CHECK(nonzero == 2);
}

TEST_CASE("Sparse growth promotes past hll-sparse-max-bytes, with the registers a dense HLL gets") {
  std::string sparse = hll::Empty();
  std::string dense = hll::Empty();
  REQUIRE(hll::SparseToDense(&dense));
  bool promoted_at_limit = false;
  for (int i = 0; i < 5000; ++i) {
    std::string e = "element:" + std::to_string(i);
    size_t before = sparse.size();
    bool was_sparse = hll::EncodingOf(sparse) == hll::kSparse;
    hll::Add(&sparse, e);
    hll::Add(&dense, e);
    if (was_sparse) CHECK(sparse.size() <= hll::kSparseMaxBytes + (hll::EncodingOf(sparse) == hll::kDense ? 100000 : 0));
    if (was_sparse && hll::EncodingOf(sparse) == hll::kDense) promoted_at_limit = before + 3 > hll::kSparseMaxBytes;
  }
  CHECK(promoted_at_limit);
  REQUIRE(hll::EncodingOf(sparse) == hll::kDense);
  CHECK(std::memcmp(Regs(sparse), Regs(dense), hll::kDenseSize - hll::kHeaderSize) == 0);
}

TEST_CASE("Sparse and dense forms count alike, and merge into raw registers alike") {
  std::string sparse = hll::Empty();
  for (int i = 0; i < 300; ++i) hll::Add(&sparse, "k" + std::to_string(i));
  REQUIRE(hll::EncodingOf(sparse) == hll::kSparse);
  std::string dense = sparse;
  REQUIRE(hll::SparseToDense(&dense));
  bool invalid = false;
  uint64_t a = hll::Count(sparse, &invalid), b = hll::Count(dense, &invalid);
  CHECK_FALSE(invalid);
  CHECK(a == b);
  std::vector<uint8_t> m1(hll::kRegisters, 0), m2(hll::kRegisters, 0);
  CHECK(hll::MergeInto(m1.data(), sparse));
  CHECK(hll::MergeInto(m2.data(), dense));
  CHECK(m1 == m2);
  CHECK(hll::CountRaw(m1.data()) == a);
}

TEST_CASE("The estimator stays within a few percent over six orders of magnitude") {
  std::string h = hll::Empty();
  int n = 0;
  for (int target : {10, 100, 1000, 10000, 100000, 1000000}) {
    for (; n < target; ++n) hll::Add(&h, "user:" + std::to_string(n));
    bool invalid = false;
    double est = static_cast<double>(hll::Count(h, &invalid));
    CHECK(est > target * 0.97);
    CHECK(est < target * 1.03);
  }
}

TEST_CASE("Corrupt sparse bodies are detected by every reader") {
  std::string over = Header(hll::kSparse) + Bytes({0x7f, 0xff, 0x80});
  std::string under = Header(hll::kSparse) + Bytes({0x7f, 0xfe});
  for (const std::string& bad : {over, under}) {
    bool invalid = false;
    hll::Count(bad, &invalid);
    CHECK(invalid);
    std::vector<uint8_t> max(hll::kRegisters, 0);
    CHECK_FALSE(hll::MergeInto(max.data(), bad));
    std::string copy = bad;
    CHECK_FALSE(hll::SparseToDense(&copy));
    CHECK(copy == bad);
  }
  CHECK(hll::LooksLikeHll(over));
  CHECK_FALSE(hll::LooksLikeHll("HYLL"));
  CHECK_FALSE(hll::LooksLikeHll(Header(2) + Bytes({0x7f, 0xff})));
  CHECK_FALSE(hll::LooksLikeHll(Header(hll::kDense) + Bytes({0x7f, 0xff})));
}

TEST_CASE("PFADD, PFCOUNT and PFMERGE across two shards") {
  Harness h(2);
  CHECK(h.Run({"PFADD", "x", "a", "b", "c"}) == ":1\r\n");
  CHECK(h.Run({"PFADD", "x", "a"}) == ":0\r\n");
  CHECK(h.Run({"PFADD", "y", "c", "d"}) == ":1\r\n");
  CHECK(h.Run({"PFCOUNT", "x"}) == ":3\r\n");
  CHECK(hll::CacheValid(h.Get("x")));
  CHECK(hll::CachedCardinality(h.Get("x")) == 3);
  CHECK(h.Run({"PFCOUNT", "x", "y", "nope"}) == ":4\r\n");
  CHECK(h.Run({"PFMERGE", "z", "x", "y"}) == "+OK\r\n");
  CHECK(h.Run({"PFCOUNT", "z"}) == ":4\r\n");
  CHECK(h.Run({"SET", "s", "text"}) == "+OK\r\n");
  CHECK(h.Run({"PFCOUNT", "x", "s"}) == "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n");
  CHECK(h.Run({"PFMERGE", "w", "x", "s"}) == "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n");
  CHECK(h.Get("w").empty());
  CHECK(h.Run({"SET", "bad", Header(hll::kSparse) + Bytes({0x7f, 0xfe})}) == "+OK\r\n");
  CHECK(h.Run({"PFCOUNT", "bad"}) == "-INVALIDOBJ Corrupted HLL object detected\r\n");
  CHECK(h.Run({"PFCOUNT", "s", "bad"}) == "-WRONGTYPE Key is not a valid HyperLogLog string value.\r\n");
  CHECK(h.Run({"PFCOUNT", "bad", "s"}) == "-INVALIDOBJ Corrupted HLL object detected\r\n");
}

TEST_CASE("PFDEBUG DECODE's text: the opcodes as redis-server 7.0 prints them") {
  // PFDEBUG DECODE after `PFADD h1 a b c` on redis-server 7.0.15.
  std::string h = hll::Empty();
  for (const char* e : {"a", "b", "c"}) hll::Add(&h, e);
  CHECK(hll::DecodeSparse(h) == "Z:8436 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603");
  CHECK(hll::DecodeSparse(hll::Empty()) == "Z:16384");
  // ZERO of 6, VAL 4 x 2, and an XZERO cut after its first byte (read as a 0 byte).
  CHECK(hll::DecodeSparse(Header(hll::kSparse) + Bytes({0x05, 0x80 | (3 << 2) | 1, 0x40})) == "z:6 v:4,2 Z:1");
  CHECK(hll::DecodeSparse(Header(hll::kSparse)) == "");
}

TEST_CASE("PFSELFTEST's self-test passes on this HLL code") { CHECK(hll::SelfTest() == ""); }
