// ZsetObject: a sorted set (Redis's zset), ordered by (score, member).
//
// Two encodings, chosen exactly as Redis 7.0 does so OBJECT ENCODING answers the same:
//  * "listpack" — one malloc'd byte blob of (member, score) entries sorted by score then
//    member, while size <= zset-max-listpack-entries and every member is at most
//    zset-max-listpack-value bytes. Entry layout (our own, not Redis's):
//      varint(member length) | member bytes | score
//    where score is one tag byte: 0..0xDF the integer itself, 0xE0+n (n = 1..8) an
//    n-byte little-endian signed integer, 0xFF an 8-byte IEEE double. A -0 score is
//    stored as 0 (Redis's listpack does the same). Most real scores (small integers) cost one or two bytes.
//  * "skiplist" — past either threshold: a skip list with spans (rank queries in
//    O(log n), Pugh 1990 plus the span bookkeeping Redis documents) whose nodes hold the
//    member inline as a CompactString, plus an open-addressing table of node pointers
//    keyed by member for O(1) ZSCORE. The conversion is one-way, as in Redis, except
//    for results built whole (ZUNIONSTORE, ZRANGESTORE, GEO STORE, RDB load), which
//    take whichever encoding fits, as Redis's zsetConvertToListpackIfNeeded does.
//
// Every range operation is expressed in ranks: score and lex bounds become rank
// intervals, then one walk emits or deletes them. Ranks are 0-based, ascending.
//
// Thread-safety: none. A ZsetObject belongs to one shard's table (or to a
// MultiShardOp carrying it between shard threads); touch it on that thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "store/value.h"

namespace darter::store {

// A non-owning callable reference (the callee must outlive the call).
template <typename Sig>
class FunctionRef;
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f) noexcept  // NOLINT(google-explicit-constructor)
      : obj_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... a) -> R { return (*static_cast<std::remove_reference_t<F>*>(o))(a...); }) {}
  R operator()(Args... a) const { return call_(obj_, a...); }

 private:
  void* obj_;
  R (*call_)(void*, Args...);
};

// A score interval as ZRANGEBYSCORE parses it: "(" makes a bound exclusive.
struct ZScoreRange {
  double min = 0, max = 0;
  bool min_ex = false, max_ex = false;
};

// One end of a member interval as ZRANGEBYLEX parses it: "-" and "+" are the
// smallest and greatest strings, "(x" excludes x, "[x" includes it.
struct ZLexBound {
  enum Kind : uint8_t { kValue, kNegInf, kPosInf };
  Kind kind = kValue;
  bool ex = false;
  std::string value;
};
struct ZLexRange {
  ZLexBound min, max;
  bool GteMin(std::string_view m) const;
  bool LteMax(std::string_view m) const;
};

// Redis's zslParseRange / zslParseLexRange (false: malformed bound).
bool ParseZScoreRange(std::string_view min, std::string_view max, ZScoreRange* out);
bool ParseZLexRange(std::string_view min, std::string_view max, ZLexRange* out);

// ZADD's option flags and outcome (Redis's ZADD_IN_* / ZADD_OUT_*).
enum ZAddFlags : unsigned { kZAddIncr = 1, kZAddNx = 2, kZAddXx = 4, kZAddGt = 8, kZAddLt = 16 };
enum ZAddOutcome : unsigned { kZAddOutNop = 1, kZAddOutAdded = 2, kZAddOutUpdated = 4 };

class ZsetObject final : public Object {
 public:
  struct Skiplist;  // the skiplist encoding (zset_object.cc)

  // An empty listpack zset.
  ZsetObject();
  ~ZsetObject() override;
  ZsetObject(const ZsetObject&) = delete;
  ZsetObject& operator=(const ZsetObject&) = delete;

  // An empty zset in the encoding Redis 7.0's ZADD picks for a new key whose first
  // member is `first_member_len` bytes long.
  static std::unique_ptr<ZsetObject> NewForAdd(size_t first_member_len);
  // Builds a zset from distinct members in any order, in the encoding that fits
  // (listpack when small enough): results of ZUNIONSTORE, ZRANGESTORE, GEO ... STORE.
  static std::unique_ptr<ZsetObject> Build(std::vector<std::pair<std::string, double>> items);

  ValueType type() const override { return ValueType::kZset; }
  size_t MallocUsed() const override;
  std::string_view EncodingName() const override { return is_listpack() ? "listpack" : "skiplist"; }
  std::unique_ptr<Object> Clone() const override;
  void OnLoaded() override;

  bool is_listpack() const { return lp_bytes_ != kSkiplistMark; }
  size_t size() const;

  // The member's score, or nullopt.
  std::optional<double> Score(std::string_view member) const;

  // Redis's zsetAdd: adds or updates `member` according to `flags` (kZAdd*), sets
  // *out (kZAddOut*) and, when not a no-op, *new_score. Returns false when INCR made
  // the score NaN (nothing changed then). REQUIRES: !isnan(score).
  bool Add(double score, std::string_view member, unsigned flags, unsigned* out, double* new_score);
  // Inserts a member known to be absent (RDB load, Build). No encoding change.
  void InsertNew(double score, std::string_view member);
  bool Remove(std::string_view member);

  // 0-based ascending rank, or nullopt.
  std::optional<size_t> Rank(std::string_view member) const;

  // Number of elements whose score is < s (or <= s when `inclusive`): the rank where a
  // score bound starts or ends.
  size_t CountScoreBelow(double s, bool inclusive) const;
  // Rank interval [first, last) of a score range.
  std::pair<size_t, size_t> ScoreRankRange(const ZScoreRange& r) const;
  // Rank interval [first, last) of a lex range, as Redis finds it (for sets whose
  // members all share one score; otherwise the same "unspecified" result Redis gives).
  std::pair<size_t, size_t> LexRankRange(const ZLexRange& r) const;

  // Calls fn(member, score) for ranks [first, last), ascending, or descending from
  // last-1 down to first when `reverse`. fn returns false to stop early.
  // REQUIRES: first <= last <= size().
  void Walk(size_t first, size_t last, bool reverse, FunctionRef<bool(std::string_view, double)> fn) const;
  void ForEach(FunctionRef<bool(std::string_view, double)> fn) const { Walk(0, size(), false, fn); }

  // Removes ranks [first, last); returns how many.
  size_t RemoveRankRange(size_t first, size_t last);

  // ZSCAN step: calls fn(member, score_text) for a batch of about `count` elements and
  // returns the next cursor (0 when done). A listpack returns everything at once (as
  // Redis does); a skiplist walks its member table with Redis's reverse-binary cursor,
  // so every element present for the whole scan is returned at least once.
  uint64_t Scan(uint64_t cursor, size_t count, FunctionRef<void(std::string_view, std::string_view)> fn) const;

  // For tests: converts to the skiplist encoding now.
  void ConvertToSkiplist();

 private:
  static constexpr uint32_t kSkiplistMark = 0xFFFFFFFFu;

  void ConvertToListpackIfFits();

  // Listpack: lp_ (blob of lp_bytes_ bytes, lp_count_ entries). Skiplist: sl_.
  union {
    char* lp_;
    Skiplist* sl_;
  };
  uint32_t lp_bytes_ = 0;
  uint32_t lp_count_ = 0;
};

// Formats a score the way Redis 7.0 replies with it outside the reply builder
// (%.17g, "inf", "-inf").
std::string FormatScore(double d);

}  // namespace darter::store
