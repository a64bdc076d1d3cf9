// HyperLogLog commands (Redis's hyperloglog.c): PFADD, PFCOUNT, PFMERGE, and the
// debugging aids PFDEBUG and PFSELFTEST. An HLL is a
// plain string value in Redis's representation (hyperloglog.h), so GET, SET, DUMP,
// RESTORE and RDB carry it unchanged.
//
// PFADD runs on its key's shard. PFCOUNT and PFMERGE are MultiShardOps: hop 0 reads
// (and validates) every key on its own shard, merging registers per shard; PFMERGE's
// hop 1 writes the destination on its shard.
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/hyperloglog.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

constexpr std::string_view kNotHll = "WRONGTYPE Key is not a valid HyperLogLog string value.";
constexpr std::string_view kCorruptHll = "INVALIDOBJ Corrupted HLL object detected";

// Why a key cannot be used as an HLL, in Redis's order of checks.
enum class KeyStatus : uint8_t { kOk, kWrongType, kNotHll, kCorrupt };

std::string_view StatusError(KeyStatus st) {
  switch (st) {
    case KeyStatus::kWrongType:
      return errors::kWrongType;
    case KeyStatus::kNotHll:
      return kNotHll;
    case KeyStatus::kCorrupt:
      return kCorruptHll;
    case KeyStatus::kOk:
      break;
  }
  return {};
}

KeyStatus CheckHll(const Slot* s) {
  if (!s->value.is_string()) return KeyStatus::kWrongType;
  if (!hll::LooksLikeHll(s->value.string_view())) return KeyStatus::kNotHll;
  return KeyStatus::kOk;
}

uint8_t* DenseRegisters(Slot* s) {
  return reinterpret_cast<uint8_t*>(s->value.mutable_string().mutable_data() + hll::kHeaderSize);
}

void PfAddCommand(CommandContext& c) {
  Slot* s = c.shard.FindLive(c.db, c.args[1], c.now_ms);
  uint64_t updated = 0;
  if (!s) {
    s = c.shard.InsertNew(c.db, c.args[1]);
    s->value.SetString(hll::Empty());
    updated++;
  } else if (KeyStatus st = CheckHll(s); st != KeyStatus::kOk) {
    c.reply.Error(StatusError(st));
    return;
  }
  s->flags = kSlotRawString;  // Redis unshares the value: "raw" from now on
  s->access = LruClock();

  bool corrupt = false;
  if (hll::EncodingOf(s->value.string_view()) == hll::kDense) {
    uint8_t* regs = DenseRegisters(s);
    for (size_t j = 2; j < c.args.size(); ++j) updated += hll::DenseAdd(regs, c.args[j]);
  } else if (c.args.size() > 2) {
    // Sparse opcodes shift as they are rewritten: work on a copy, store it back (also
    // when an element finds the HLL corrupt: Redis keeps the changes made before).
    std::string work(s->value.string_view());
    for (size_t j = 2; j < c.args.size() && !corrupt; ++j) {
      int r = hll::Add(&work, c.args[j]);
      if (r < 0) corrupt = true;
      else updated += r;
    }
    s->value.SetString(work);
  }
  if (corrupt) {
    c.reply.Error(kCorruptHll);
    return;
  }
  if (updated) {
    hll::InvalidateCache(s->value.mutable_string().mutable_data());
    c.effects.MarkDirty(updated);
    c.shard.NotifyKeyspaceEvent(kNotifyString, "pfadd", c.db, c.args[1]);
  }
  c.reply.Integer(updated ? 1 : 0);
}

// PFCOUNT of one key: answers from the cached cardinality, or computes it and caches
// it in the value. The cache write changes no logical content, so it is not marked
// dirty (Redis 7.0 does count it in server.dirty and propagates PFCOUNT for it).
// PFCOUNT of several keys: the estimate of the union of their registers.
class PfCountOp : public MultiShardOp {
 public:
  explicit PfCountOp(ArgList args) : status_(args.size(), KeyStatus::kOk) {}
  int max_hops() const override { return 1; }

  HopPlan FirstHop(unsigned shard_count) override {
    per_shard_.resize(shard_count);
    return {HopTarget::kKeyShards};
  }

  void RunHop(int, HopContext& h) override {
    if (h.args.size() == 2) {
      CountOne(h);
      return;
    }
    std::unique_ptr<uint8_t[]>& max = per_shard_[h.shard.index()];
    for (size_t i : h.key_indices) {
      const Slot* s = h.shard.FindForRead(h.db, h.args[i], h.now_ms);
      if (!s) continue;
      if ((status_[i] = CheckHll(s)) != KeyStatus::kOk) continue;
      if (!max) {
        max = std::make_unique<uint8_t[]>(hll::kRegisters);
        std::memset(max.get(), 0, hll::kRegisters);
      }
      if (!hll::MergeInto(max.get(), s->value.string_view())) status_[i] = KeyStatus::kCorrupt;
    }
  }

  void Reply(ReplyBuilder& rb) override {
    for (size_t i = 1; i < status_.size(); ++i) {
      if (status_[i] != KeyStatus::kOk) {
        rb.Error(StatusError(status_[i]));
        return;
      }
    }
    if (status_.size() == 2) {
      rb.Integer(static_cast<int64_t>(single_));
      return;
    }
    std::array<uint8_t, hll::kRegisters> all{};
    for (const auto& max : per_shard_) {
      if (!max) continue;
      for (int j = 0; j < hll::kRegisters; ++j) all[j] = std::max(all[j], max[j]);
    }
    rb.Integer(static_cast<int64_t>(hll::CountRaw(all.data())));
  }

 private:
  void CountOne(HopContext& h) {
    const Slot* found = h.shard.FindForRead(h.db, h.args[1], h.now_ms);
    if (!found) return;
    if ((status_[1] = CheckHll(found)) != KeyStatus::kOk) return;
    // PFCOUNT caches the cardinality inside the value, as Redis does: a change.
    Slot* s = h.shard.ForChange(h.db, found);
    s->flags = kSlotRawString;
    std::string_view v = s->value.string_view();
    if (hll::CacheValid(v)) {
      single_ = hll::CachedCardinality(v);
      return;
    }
    bool invalid = false;
    uint64_t card = hll::Count(v, &invalid);
    if (invalid) {
      status_[1] = KeyStatus::kCorrupt;
      return;
    }
    hll::StoreCachedCardinality(s->value.mutable_string().mutable_data(), card);
    single_ = card;
  }

  std::vector<KeyStatus> status_;
  std::vector<std::unique_ptr<uint8_t[]>> per_shard_;  // merged registers, by shard index
  uint64_t single_ = 0;
};

// PFMERGE dest src...: the destination is a source too (Redis merges argv[1..]).
class PfMergeOp : public MultiShardOp {
 public:
  explicit PfMergeOp(ArgList args) : status_(args.size(), KeyStatus::kOk) {}
  int max_hops() const override { return 2; }

  HopPlan FirstHop(unsigned shard_count) override {
    per_shard_.resize(shard_count);
    dense_.assign(shard_count, 0);
    return {HopTarget::kKeyShards};
  }

  void RunHop(int hop, HopContext& h) override {
    if (hop == 0) Gather(h);
    else WriteDestination(h);
  }

  HopPlan NextHop(int hop) override {
    if (hop > 0) return {HopTarget::kDone};
    for (KeyStatus st : status_)
      if (st != KeyStatus::kOk) return {HopTarget::kDone};
    return {HopTarget::kShardOfKey, 1};
  }

  void Reply(ReplyBuilder& rb) override {
    for (size_t i = 1; i < status_.size(); ++i) {
      if (status_[i] != KeyStatus::kOk) {
        rb.Error(StatusError(status_[i]));
        return;
      }
    }
    if (dest_corrupt_) rb.Error(kCorruptHll);
    else rb.Ok();
  }

 private:
  void Gather(HopContext& h) {
    unsigned me = h.shard.index();
    for (size_t i : h.key_indices) {
      const Slot* s = FindSource(h.shard, h.db, h.args[i], h.now_ms, /*stores=*/true);
      if (!s) continue;
      if ((status_[i] = CheckHll(s)) != KeyStatus::kOk) continue;
      std::string_view v = s->value.string_view();
      if (hll::EncodingOf(v) == hll::kDense) dense_[me] = 1;
      if (!per_shard_[me]) {
        per_shard_[me] = std::make_unique<uint8_t[]>(hll::kRegisters);
        std::memset(per_shard_[me].get(), 0, hll::kRegisters);
      }
      if (!hll::MergeInto(per_shard_[me].get(), v)) status_[i] = KeyStatus::kCorrupt;
    }
  }

  void WriteDestination(HopContext& h) {
    std::array<uint8_t, hll::kRegisters> all{};
    bool use_dense = false;
    for (size_t k = 0; k < per_shard_.size(); ++k) {
      use_dense |= dense_[k] != 0;
      if (!per_shard_[k]) continue;
      for (int j = 0; j < hll::kRegisters; ++j) all[j] = std::max(all[j], per_shard_[k][j]);
    }
    Slot* s = h.shard.FindLive(h.db, h.args[1], h.now_ms);
    std::string work = s ? std::string(s->value.string_view()) : hll::Empty();
    if (!s) {
      s = h.shard.InsertNew(h.db, h.args[1]);
      s->value.SetString(work);
    }
    s->flags = kSlotRawString;
    s->access = LruClock();
    if (!hll::WriteRegisters(&work, all.data(), use_dense)) {
      dest_corrupt_ = true;
      return;
    }
    s->value.SetString(work);
    h.effects.MarkDirty();
    h.shard.NotifyKeyspaceEvent(kNotifyString, "pfadd", h.db, h.args[1]);  // PFMERGE's event, as Redis's
  }

  std::vector<KeyStatus> status_;
  std::vector<std::unique_ptr<uint8_t[]>> per_shard_;
  std::vector<char> dense_;  // by shard index: some source there is dense
  bool dest_corrupt_ = false;
};

// PFDEBUG <GETREG|DECODE|ENCODING|TODENSE> key: Redis's HLL debugging aid. GETREG and
// TODENSE turn a sparse HLL dense, a write (marked dirty, so replicas follow), as Redis.
void PfDebugCommand(CommandContext& c) {
  std::string_view sub = c.args[1];
  Slot* s = c.shard.FindLive(c.db, c.args[2], c.now_ms);
  if (!s) {
    c.reply.Error("ERR The specified key does not exist");
    return;
  }
  if (KeyStatus st = CheckHll(s); st != KeyStatus::kOk) {
    c.reply.Error(StatusError(st));
    return;
  }
  s->flags = kSlotRawString;  // Redis unshares the value before any subcommand
  // Sparse to dense on a copy: the value is unchanged when the HLL is corrupt.
  auto to_dense = [&]() -> bool {
    std::string work(s->value.string_view());
    if (!hll::SparseToDense(&work)) return false;
    s->value.SetString(work);
    s->flags = kSlotRawString;
    c.effects.MarkDirty();
    return true;
  };
  bool sparse = hll::EncodingOf(s->value.string_view()) == hll::kSparse;
  if (EqualsIgnoreCase(sub, "getreg")) {
    if (sparse && !to_dense()) {
      c.reply.Error(kCorruptHll);
      return;
    }
    const auto* regs = reinterpret_cast<const uint8_t*>(s->value.string_view().data() + hll::kHeaderSize);
    c.reply.ArrayHeader(hll::kRegisters);
    for (int i = 0; i < hll::kRegisters; ++i) c.reply.Integer(hll::DenseGet(regs, i));
  } else if (EqualsIgnoreCase(sub, "decode")) {
    if (!sparse) {
      c.reply.Error("ERR HLL encoding is not sparse");
      return;
    }
    c.reply.Bulk(hll::DecodeSparse(s->value.string_view()));  // a bulk string, as Redis
  } else if (EqualsIgnoreCase(sub, "encoding")) {
    c.reply.SimpleString(sparse ? "sparse" : "dense");
  } else if (EqualsIgnoreCase(sub, "todense")) {
    if (sparse && !to_dense()) {
      c.reply.Error(kCorruptHll);
      return;
    }
    c.reply.Integer(sparse ? 1 : 0);
  } else {
    c.reply.Error("ERR Unknown PFDEBUG subcommand '" + std::string(sub) + "'");
  }
}

// PFSELFTEST: the HLL code's self-test (hll::SelfTest), OK or its TESTFAILED error.
void PfSelfTestCommand(CommandContext& c) {
  std::string failure = hll::SelfTest();
  if (failure.empty()) c.reply.Ok();
  else c.reply.Error(failure);
}

template <typename Op>
std::unique_ptr<MultiShardOp> Make(ArgList args) {
  return std::make_unique<Op>(args);
}

}  // namespace

void RegisterHllFamily(CommandTable& t) {
  constexpr uint32_t W = kCmdWrite | kCmdDenyOom;
  CommandFamily family(t, kAclHyperLogLog);
  family << CommandRow("pfadd", -2, W | kCmdFast, 1, 1, 1).Shard(PfAddCommand)
         << CommandRow("pfcount", -2, kCmdReadOnly, 1, -1, 1).MultiShard(Make<PfCountOp>)
         << CommandRow("pfmerge", -2, W, 1, -1, 1).MultiShard(Make<PfMergeOp>)
         << CommandRow("pfdebug", 3, W | kCmdAdmin, 2, 2, 1).Shard(PfDebugCommand)
         << CommandRow("pfselftest", 1, kCmdAdmin).Shard(PfSelfTestCommand);
}

}  // namespace darter::store
