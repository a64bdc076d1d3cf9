// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN] (Redis 7.0's lcsCommand):
// the longest common subsequence of two string values, its length, or the matching
// ranges. Redis 7.0 has no STRALGO any more (it answers "unknown command"), so neither
// does Darter.
//
// The two keys may live on different shards: a one-hop MultiShardOp copies each value
// on its own shard, and Reply computes on the coordinator thread once the hop is over,
// so no key stays locked during the O(len1 x len2) work.
//
// Bounds: Redis refuses when its table of (len1+1) x (len2+1) 32-bit cells would exceed
// proto-max-bulk-len bytes; Darter applies the same rule (same replies), so the work is
// at most ~134M cells at the default 512 MB. The table Darter really keeps is 1 bit per
// cell (32 times smaller than Redis's), enough to replay Redis's walk back exactly.
#include <cstdint>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/lcs_family.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::store {
namespace {

using resp::ReplyBuilder;

constexpr std::string_view kLcsWrongType = "ERR The specified keys must contain string values";
constexpr std::string_view kLcsBothLenIdx = "ERR If you want both the length and indexes, please just use IDX.";
constexpr std::string_view kLcsTooLong = "ERR String too long for LCS";
constexpr std::string_view kLcsOverBulkLen =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";
constexpr std::string_view kLcsAllocFailed = "ERR Insufficient memory, failed allocating transient memory for LCS";

struct LcsOptions {
  bool len = false;
  bool idx = false;
  bool with_match_len = false;
  int64_t min_match_len = 0;  // a negative value counts as 0, as in Redis
};

// Parses the options after the two keys; returns the error reply, or empty when valid.
std::string ParseLcsOptions(ArgList args, LcsOptions* o) {
  for (size_t j = 3; j < args.size(); ++j) {
    std::string_view opt = args[j];
    if (EqualsIgnoreCase(opt, "IDX")) {
      o->idx = true;
    } else if (EqualsIgnoreCase(opt, "LEN")) {
      o->len = true;
    } else if (EqualsIgnoreCase(opt, "WITHMATCHLEN")) {
      o->with_match_len = true;
    } else if (EqualsIgnoreCase(opt, "MINMATCHLEN") && j + 1 < args.size()) {
      std::optional<int64_t> n = ParseInt64(args[j + 1]);
      if (!n) return std::string(errors::kNotInteger);
      o->min_match_len = *n < 0 ? 0 : *n;
      ++j;
    } else {
      return std::string(errors::kSyntax);
    }
  }
  if (o->len && o->idx) return std::string(kLcsBothLenIdx);
  return {};
}

// Redis's admission rule for its (alen+1) x (blen+1) table of uint32_t cells: refused
// past proto-max-bulk-len, and as an allocation failure when the byte count overflows.
std::string CheckLcsSize(size_t alen, size_t blen) {
  if (alen >= UINT32_MAX - 1 || blen >= UINT32_MAX - 1) return std::string(kLcsTooLong);
  const uint64_t cells = (static_cast<uint64_t>(alen) + 1) * (static_cast<uint64_t>(blen) + 1);
  if (cells > UINT64_MAX / sizeof(uint32_t)) return std::string(kLcsAllocFailed);
  if (cells * sizeof(uint32_t) > ProtoMaxBulkLen()) return std::string(kLcsOverBulkLen);
  return {};
}

struct LcsMatch {
  uint32_t a_start, a_end, b_start, b_end;
};

struct LcsResult {
  uint32_t len = 0;
  std::string subsequence;       // filled unless only the length is wanted
  std::vector<LcsMatch> matches;  // filled for IDX, in Redis's order (from the ends back)
};

// The DP over L(i, j) = LCS length of a[0..i) and b[0..j), row by row. For each
// mismatching cell it records one bit: L(i-1, j) > L(i, j-1), the only thing Redis's walk
// back reads there (a matching cell is recognised from the bytes themselves). The walk
// then reproduces Redis's choices, ranges and minimum-length filter exactly.
// Returns false when the bit table cannot be allocated.
bool ComputeLcs(std::string_view a, std::string_view b, const LcsOptions& o, LcsResult* r) {
  const size_t alen = a.size(), blen = b.size();
  const bool walk = o.idx || !o.len;
  std::vector<uint32_t> prev, cur;
  std::vector<uint64_t> up;  // bit (i-1)*blen + (j-1): for cell (i, j), i, j >= 1
  try {
    prev.assign(blen + 1, 0);
    cur.assign(blen + 1, 0);
    if (walk) up.assign((alen * blen + 63) / 64, 0);
  } catch (const std::bad_alloc&) {
    return false;
  }
  for (size_t i = 1; i <= alen; ++i) {
    cur[0] = 0;
    const size_t row = (i - 1) * blen;
    for (size_t j = 1; j <= blen; ++j) {
      if (a[i - 1] == b[j - 1]) {
        cur[j] = prev[j - 1] + 1;
      } else if (prev[j] > cur[j - 1]) {
        cur[j] = prev[j];
        if (walk) up[(row + j - 1) / 64] |= uint64_t{1} << ((row + j - 1) % 64);
      } else {
        cur[j] = cur[j - 1];
      }
    }
    prev.swap(cur);
  }
  r->len = prev[blen];
  if (!walk) return true;

  r->subsequence.assign(r->len, '\0');
  uint32_t remaining = r->len;
  // A range in progress while in_range; it grows backwards while matches stay diagonal.
  bool in_range = false;
  LcsMatch m{};
  size_t i = alen, j = blen;
  while (i > 0 && j > 0) {
    bool emit = false;
    if (a[i - 1] == b[j - 1]) {
      r->subsequence[--remaining] = a[i - 1];
      if (!in_range) {
        m = {static_cast<uint32_t>(i - 1), static_cast<uint32_t>(i - 1), static_cast<uint32_t>(j - 1),
             static_cast<uint32_t>(j - 1)};
        in_range = true;
      } else if (m.a_start == i && m.b_start == j) {
        --m.a_start;
        --m.b_start;
      } else {
        emit = true;
      }
      // Reaching the first byte of either string ends the range (and the walk).
      if (m.a_start == 0 || m.b_start == 0) emit = true;
      --i;
      --j;
    } else {
      const size_t bit = (i - 1) * blen + (j - 1);
      if (up[bit / 64] >> (bit % 64) & 1) --i;
      else --j;
      if (in_range) emit = true;
    }
    if (emit) {
      const uint32_t match_len = m.a_end - m.a_start + 1;
      if (o.idx && (o.min_match_len == 0 || match_len >= o.min_match_len)) r->matches.push_back(m);
      in_range = false;
    }
  }
  return true;
}

class LcsOp : public MultiShardOp {
 public:
  // The options are parsed now (their error is replied only after the type check, as
  // Redis reads both keys first), so Reply needs no argument that may be gone by then.
  explicit LcsOp(ArgList args) : options_error_(ParseLcsOptions(args, &options_)) {}
  int max_hops() const override { return 1; }

  // Each shard copies the keys it owns (both, when they share a shard or are the same
  // key). Both keys are looked up, as Redis does, before any type check.
  void RunHop(int, HopContext& h) override {
    for (size_t i : h.key_indices) {
      const Slot* s = h.shard.FindForRead(h.db, h.args[i], h.now_ms);
      if (!s) continue;
      if (!s->value.is_string()) {
        wrong_type_[i - 1] = 1;
        continue;
      }
      values_[i - 1].assign(s->value.string_view());
    }
  }

  void Reply(ReplyBuilder& rb) override {
    if (wrong_type_[0] || wrong_type_[1]) {
      rb.Error(kLcsWrongType);
      return;
    }
    const LcsOptions& o = options_;
    std::string err = options_error_;
    if (err.empty()) err = CheckLcsSize(values_[0].size(), values_[1].size());
    if (!err.empty()) {
      rb.Error(err);
      return;
    }
    LcsResult r;
    if (!ComputeLcs(values_[0], values_[1], o, &r)) {
      rb.Error(kLcsAllocFailed);
      return;
    }
    if (o.idx) {
      rb.MapHeader(2);
      rb.Bulk("matches");
      rb.ArrayHeader(r.matches.size());
      for (const LcsMatch& m : r.matches) {
        rb.ArrayHeader(o.with_match_len ? 3 : 2);
        rb.ArrayHeader(2);
        rb.Integer(m.a_start);
        rb.Integer(m.a_end);
        rb.ArrayHeader(2);
        rb.Integer(m.b_start);
        rb.Integer(m.b_end);
        if (o.with_match_len) rb.Integer(static_cast<int64_t>(m.a_end) - m.a_start + 1);
      }
      rb.Bulk("len");
      rb.Integer(r.len);
    } else if (o.len) {
      rb.Integer(r.len);
    } else {
      rb.Bulk(r.subsequence);
    }
  }

 private:
  LcsOptions options_;
  std::string options_error_;    // empty when the options are valid
  std::string values_[2];        // a missing key reads as ""
  char wrong_type_[2] = {0, 0};  // set by the shards owning each key: distinct bytes
};

std::unique_ptr<MultiShardOp> MakeLcs(ArgList args) { return std::make_unique<LcsOp>(args); }

}  // namespace

void RegisterLcsFamily(CommandTable& t) {
  CommandFamily family(t, kAclString);
  family << CommandRow("lcs", -3, kCmdReadOnly, 1, 2, 1).MultiShard(MakeLcs);
}

}  // namespace darter::store
