// SORT and SORT_RO (Redis's sort.c) over lists, sets and sorted sets, with BY, LIMIT,
// GET, ASC/DESC, ALPHA and STORE.
//
// BY and GET patterns name keys that are not arguments, so the transaction layer cannot
// lock them by name. SortOp picks one of two plans when it starts (FirstHop):
//  * local: every pattern key is known to live on the sorted key's shard (one shard in
//    all, or each pattern pins a {hashtag} that hashes to that shard). Everything runs
//    in one hop on that shard: atomic like any single-shard command.
//  * remote: otherwise. The op locks whole shards (every shard takes part, as FLUSHALL
//    does), so no other command runs anywhere until it concludes, and it reads the
//    pattern keys in extra hops on every shard: load -> BY values -> sort -> GET values
//    -> STORE. Atomic and correct, at the price of a global barrier.
// docs/sets.md explains the choice.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/collection_codec.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/family_util.h"
#include "store/multi_shard_op.h"
#include "store/set_object.h"
#include "store/shard.h"
#include "store/string_util.h"

// The other collection families implement these in parallel; weak declarations keep
// the server linking while one is missing (SORT then answers an error for that type).
#define DARTER_SORT_WEAK __attribute__((weak))
namespace darter::store {
DARTER_SORT_WEAK std::unique_ptr<Object> NewListForLoad();
DARTER_SORT_WEAK void ListAppendForLoad(Object&, std::span<const std::string_view>);
DARTER_SORT_WEAK void ListForEach(const Object&, const std::function<void(std::string_view)>&);
DARTER_SORT_WEAK void HashForEach(const Object&, const std::function<void(std::string_view, std::string_view)>&);
DARTER_SORT_WEAK void ZsetForEach(const Object&, const std::function<void(std::string_view, double)>&);
}  // namespace darter::store

namespace darter::store {
namespace {

using resp::ReplyBuilder;

constexpr std::string_view kScoreError = "ERR One or more scores can't be converted into double";
constexpr std::string_view kUnsupported = "ERR SORT of this type is not supported by this build";

// A pattern with '*' split into the key's prefix/suffix and an optional hash field:
// "w_*->f" is {prefix "w_", suffix "", field "f"}.
struct Pattern {
  bool element = false;  // "#": the element itself
  bool constant = false;  // no '*': GET yields nil, BY means "don't sort"
  std::string_view prefix, suffix, field;
  bool has_field = false;

  static Pattern Parse(std::string_view p) {
    Pattern out;
    if (p == "#") {
      out.element = true;
      return out;
    }
    size_t star = p.find('*');
    if (star == std::string_view::npos) {
      out.constant = true;
      return out;
    }
    out.prefix = p.substr(0, star);
    std::string_view rest = p.substr(star + 1);
    size_t arrow = rest.find("->");
    if (arrow != std::string_view::npos && arrow + 2 < rest.size()) {
      out.has_field = true;
      out.field = rest.substr(arrow + 2);
      out.suffix = rest.substr(0, arrow);
    } else {
      out.suffix = rest;
    }
    return out;
  }
  std::string KeyFor(std::string_view element) const {
    std::string k;
    k.reserve(prefix.size() + element.size() + suffix.size());
    k.append(prefix).append(element).append(suffix);
    return k;
  }
  // The shard every key of this pattern lives on, when a {hashtag} in the prefix pins
  // it; nullopt when the element decides.
  std::optional<unsigned> PinnedShard(unsigned shard_count) const {
    size_t open = prefix.find('{');
    if (open == std::string_view::npos) return std::nullopt;
    size_t close = prefix.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return std::nullopt;
    return ShardOf(prefix.substr(0, close + 1), shard_count);
  }
};

// One read of a pattern key (a string, or a field of a hash).
struct Lookup {
  std::string key;
  std::string_view field;
  bool has_field = false;
  std::optional<std::string> value;
};

void Resolve(Shard& shard, unsigned db, int64_t now_ms, bool stores, Lookup& l) {
  const Slot* s = FindSource(shard, db, l.key, now_ms, stores);
  if (!s) return;
  if (!l.has_field) {
    if (s->value.is_string()) l.value = std::string(s->value.string_view());
    return;
  }
  if (s->value.type() != ValueType::kHash || !HashForEach) return;
  HashForEach(*s->value.object(), [&](std::string_view f, std::string_view v) {
    if (!l.value && f == l.field) l.value = std::string(v);
  });
}

// Redis compares with strcoll() when replying; under the C locale that is strcmp(),
// which stops at the first NUL byte.
int CollateCompare(const std::string& a, const std::string& b) { return std::strcmp(a.c_str(), b.c_str()); }

int BinaryCompare(const std::string& a, const std::string& b) { return a.compare(b) < 0 ? -1 : (a == b ? 0 : 1); }

std::vector<size_t> SortKeys(ArgList args);

struct SortItem {
  std::string element;
  double score = 0;
  std::optional<std::string> cmp;  // ALPHA BY value
};

class SortOp : public MultiShardOp {
 public:
  SortOp(ArgList args, bool readonly) : args_(args), readonly_(readonly) {}

  HopPlan FirstHop(unsigned shard_count) override {
    if (!Parse()) return {HopTarget::kDone};
    // Which patterns will be looked up, and are their keys all on the sorted key's shard?
    unsigned home = ShardOf(args_[1], shard_count);
    auto is_local = [&](const Pattern& p) {
      if (p.element || p.constant || shard_count == 1) return true;
      auto pinned = p.PinnedShard(shard_count);
      return pinned && *pinned == home;
    };
    remote_ = false;
    if (by_ && !dontsort_ && !is_local(*by_)) remote_ = true;
    for (auto& g : gets_)
      if (!is_local(g)) remote_ = true;
    return {HopTarget::kShardOfKey, 1};
  }

  bool locks_whole_shards() const override { return remote_; }

  void RunHop(int, HopContext& h) override {
    switch (phase_) {
      case Phase::kLoad:
        Load(h);
        if (!error_.empty() || remote_) return;
        // Local plan: every pattern key is here.
        for (auto& l : by_lookups_) Resolve(h.shard, h.db, h.now_ms, store_key_.has_value(), l);
        if (!Order()) return;
        for (auto& l : get_lookups_) Resolve(h.shard, h.db, h.now_ms, store_key_.has_value(), l);
        BuildOutput();
        return;
      case Phase::kFetchBy:
        for (auto& l : by_lookups_)
          if (ShardOf(l.key, h.shard_count) == h.shard.index()) Resolve(h.shard, h.db, h.now_ms, store_key_.has_value(), l);
        return;
      case Phase::kFetchGet:
        for (auto& l : get_lookups_)
          if (ShardOf(l.key, h.shard_count) == h.shard.index()) Resolve(h.shard, h.db, h.now_ms, store_key_.has_value(), l);
        return;
      case Phase::kStore:
        Store(h);
        return;
      case Phase::kDone:
        return;
    }
  }

  HopPlan NextHop(int) override {
    if (!error_.empty()) return Finish();
    switch (phase_) {
      case Phase::kLoad:
        if (!remote_) return AfterOutput();
        if (!by_lookups_.empty()) return Go(Phase::kFetchBy);
        [[fallthrough]];
      case Phase::kFetchBy:
        if (!Order()) return Finish();
        if (!get_lookups_.empty()) return Go(Phase::kFetchGet);
        [[fallthrough]];
      case Phase::kFetchGet:
        BuildOutput();
        return AfterOutput();
      default:
        return Finish();
    }
  }

  void Reply(ReplyBuilder& rb) override {
    if (!error_.empty()) {
      rb.Error(error_);
      return;
    }
    if (store_key_) {
      rb.Integer(static_cast<int64_t>(output_.size()));
      return;
    }
    rb.ArrayHeader(output_.size());
    for (auto& v : output_) {
      if (v) rb.Bulk(*v);
      else rb.Null();
    }
  }

 private:
  enum class Phase { kLoad, kFetchBy, kFetchGet, kStore, kDone };

  HopPlan Go(Phase p) {
    phase_ = p;
    return {HopTarget::kAllShards};
  }
  HopPlan Finish() {
    phase_ = Phase::kDone;
    return {HopTarget::kDone};
  }
  HopPlan AfterOutput() {
    if (!error_.empty() || !store_key_) return Finish();
    phase_ = Phase::kStore;
    return {HopTarget::kShardOfKey, *store_key_};
  }

  bool Parse() {
    for (size_t j = 2; j < args_.size(); ++j) {
      std::string_view a = args_[j];
      size_t left = args_.size() - j - 1;
      if (EqualsIgnoreCase(a, "asc")) {
        desc_ = false;
      } else if (EqualsIgnoreCase(a, "desc")) {
        desc_ = true;
      } else if (EqualsIgnoreCase(a, "alpha")) {
        alpha_ = true;
      } else if (EqualsIgnoreCase(a, "limit") && left >= 2) {
        auto off = ParseInt64(args_[j + 1]);
        auto cnt = off ? ParseInt64(args_[j + 2]) : std::nullopt;
        if (!off || !cnt) {
          error_ = errors::kNotInteger;
          return false;
        }
        limit_start_ = *off;
        limit_count_ = *cnt;
        j += 2;
      } else if (!readonly_ && EqualsIgnoreCase(a, "store") && left >= 1) {
        store_key_ = j + 1;
        ++j;
      } else if (EqualsIgnoreCase(a, "by") && left >= 1) {
        by_ = Pattern::Parse(args_[j + 1]);
        // A BY pattern without '*' means "don't sort", and stays so (as in Redis).
        if (args_[j + 1].find('*') == std::string_view::npos) dontsort_ = true;
        ++j;
      } else if (EqualsIgnoreCase(a, "get") && left >= 1) {
        gets_.push_back(Pattern::Parse(args_[j + 1]));
        ++j;
      } else {
        error_ = errors::kSyntax;
        return false;
      }
    }
    // The destination must be the key the transaction layer locked (SortKeys).
    if (store_key_) {
      std::vector<size_t> locked = SortKeys(args_);
      if (locked.size() < 2 || locked[1] != *store_key_) {
        error_ = errors::kSyntax;
        return false;
      }
    }
    return true;
  }

  void Load(HopContext& h) {
    const Slot* s = FindSource(h.shard, h.db, args_[1], h.now_ms, store_key_.has_value());
    ValueType type = s ? s->value.type() : ValueType::kList;
    if (s && type != ValueType::kList && type != ValueType::kSet && type != ValueType::kZset) {
      error_ = errors::kWrongType;
      return;
    }
    // Sorting a set "unsorted" into a key would store an arbitrary order: Redis sorts
    // it alphabetically instead, so that replicas agree.
    if (dontsort_ && type == ValueType::kSet && store_key_) {
      dontsort_ = false;
      alpha_ = true;
      by_.reset();
    }
    std::vector<std::string> elems;
    if (s) {
      const Object& obj = *s->value.object();
      if (type == ValueType::kSet) {
        SetForEach(obj, [&](std::string_view m) { elems.emplace_back(m); });
      } else if (type == ValueType::kList) {
        if (!ListForEach) {
          error_ = kUnsupported;
          return;
        }
        ListForEach(obj, [&](std::string_view m) { elems.emplace_back(m); });
      } else {
        if (!ZsetForEach) {
          error_ = kUnsupported;
          return;
        }
        ZsetForEach(obj, [&](std::string_view m, double) { elems.emplace_back(m); });
      }
    }
    int64_t len = static_cast<int64_t>(elems.size());
    // LIMIT, clamped as Redis does.
    start_ = std::min(std::max<int64_t>(limit_start_, 0), len);
    int64_t count = std::min(std::max<int64_t>(limit_count_, -1), len);
    end_ = count < 0 ? len - 1 : start_ + count - 1;
    if (start_ >= len) {
      start_ = len - 1;
      end_ = len - 2;
    }
    if (end_ >= len) end_ = len - 1;
    // Lists and sorted sets left unsorted keep their order, reversed by DESC.
    if (dontsort_ && type != ValueType::kSet && desc_) std::reverse(elems.begin(), elems.end());
    items_.resize(elems.size());
    for (size_t i = 0; i < elems.size(); ++i) items_[i].element = std::move(elems[i]);
    if (!dontsort_ && by_ && !by_->element) {
      by_lookups_.resize(items_.size());
      for (size_t i = 0; i < items_.size(); ++i) {
        if (by_->constant) continue;
        by_lookups_[i].key = by_->KeyFor(items_[i].element);
        by_lookups_[i].field = by_->field;
        by_lookups_[i].has_field = by_->has_field;
      }
      if (by_->constant) by_lookups_.clear();
    }
  }

  // Computes scores and sorts; then prepares the GET lookups of the output range.
  // Returns false on a score conversion error.
  bool Order() {
    if (!dontsort_) {
      bool by_pattern = by_.has_value() && !by_->element;
      for (size_t i = 0; i < items_.size(); ++i) {
        const std::string* byval;
        if (by_pattern) {
          if (i >= by_lookups_.size() || !by_lookups_[i].value) continue;
          byval = &*by_lookups_[i].value;
        } else {
          byval = &items_[i].element;
        }
        if (alpha_) {
          if (by_pattern) items_[i].cmp = *byval;
        } else {
          errno = 0;
          char* end = nullptr;
          double d = std::strtod(byval->c_str(), &end);
          if (*end != '\0' || errno == ERANGE || std::isnan(d)) {
            error_ = kScoreError;
            // Redis still sorts and then replies the error; nothing else to do here.
          }
          items_[i].score = d;
        }
      }
      if (!error_.empty()) return false;
      bool store = store_key_.has_value();
      auto cmp = [&](const SortItem& a, const SortItem& b) {
        int c;
        if (!alpha_) {
          if (a.score > b.score) c = 1;
          else if (a.score < b.score) c = -1;
          else c = BinaryCompare(a.element, b.element);
        } else if (by_pattern) {
          if (!a.cmp || !b.cmp) c = a.cmp == b.cmp ? 0 : (!a.cmp ? -1 : 1);
          else c = store ? BinaryCompare(*a.cmp, *b.cmp) : CollateCompare(*a.cmp, *b.cmp);
        } else {
          c = store ? BinaryCompare(a.element, b.element) : CollateCompare(a.element, b.element);
        }
        return desc_ ? c > 0 : c < 0;
      };
      std::stable_sort(items_.begin(), items_.end(), cmp);
    }
    if (!gets_.empty() && end_ >= start_) {
      for (int64_t j = start_; j <= end_; ++j) {
        for (auto& g : gets_) {
          Lookup l;
          if (!g.element && !g.constant) {
            l.key = g.KeyFor(items_[j].element);
            l.field = g.field;
            l.has_field = g.has_field;
          }
          get_lookups_.push_back(std::move(l));
        }
      }
    }
    return true;
  }

  void BuildOutput() {
    if (end_ < start_) return;
    if (gets_.empty()) {
      for (int64_t j = start_; j <= end_; ++j) output_.emplace_back(std::move(items_[j].element));
      return;
    }
    size_t k = 0;
    for (int64_t j = start_; j <= end_; ++j) {
      for (auto& g : gets_) {
        Lookup& l = get_lookups_[k++];
        if (g.element) output_.emplace_back(items_[j].element);
        else if (g.constant) output_.emplace_back(std::nullopt);
        else output_.emplace_back(std::move(l.value));
      }
    }
  }

  void Store(HopContext& h) {
    std::string_view dst = args_[*store_key_];
    if (output_.empty()) {
      if (h.shard.Delete(h.db, dst, h.now_ms)) {
        h.effects.MarkDirty();
        h.shard.NotifyKeyspaceEvent(kNotifyGeneric, "del", h.db, dst);
      }
      return;
    }
    if (!NewListForLoad || !ListAppendForLoad) {
      error_ = kUnsupported;
      return;
    }
    std::unique_ptr<Object> list = NewListForLoad();
    std::vector<std::string_view> views;
    views.reserve(output_.size());
    for (auto& v : output_) views.push_back(v ? std::string_view(*v) : std::string_view());
    ListAppendForLoad(*list, views);
    list->OnLoaded();
    h.shard.Upsert(h.db, dst, Value(std::move(list)), h.now_ms);
    h.effects.MarkDirty(output_.size());
    h.shard.NotifyKeyspaceEvent(kNotifyList, "sortstore", h.db, dst);
  }

  ArgList args_;
  bool readonly_;
  bool desc_ = false, alpha_ = false, dontsort_ = false, remote_ = false;
  int64_t limit_start_ = 0, limit_count_ = -1, start_ = 0, end_ = -1;
  std::optional<size_t> store_key_;
  std::optional<Pattern> by_;
  std::vector<Pattern> gets_;
  std::vector<SortItem> items_;
  std::vector<Lookup> by_lookups_;   // one per item (BY pattern), in load order
  std::vector<Lookup> get_lookups_;  // per output row, per GET
  std::vector<std::optional<std::string>> output_;
  std::string error_;
  Phase phase_ = Phase::kLoad;
};

std::unique_ptr<MultiShardOp> MakeSort(ArgList a) { return std::make_unique<SortOp>(a, false); }
std::unique_ptr<MultiShardOp> MakeSortRo(ArgList a) { return std::make_unique<SortOp>(a, true); }

// The sorted key, and STORE's destination (the last STORE wins), as Redis's
// sortGetKeys finds them: LIMIT skips two arguments, GET and BY one.
std::vector<size_t> SortKeys(ArgList args) {
  std::vector<size_t> keys{1};
  std::optional<size_t> store;
  for (size_t i = 2; i < args.size(); ++i) {
    if (EqualsIgnoreCase(args[i], "limit")) i += 2;
    else if (EqualsIgnoreCase(args[i], "get") || EqualsIgnoreCase(args[i], "by")) i += 1;
    else if (EqualsIgnoreCase(args[i], "store") && i + 1 < args.size()) store = ++i;
  }
  if (store) keys.push_back(*store);
  return keys;
}

std::vector<size_t> SortRoKeys(ArgList) { return {1}; }

}  // namespace

void RegisterSortFamily(CommandTable& t) {
  // SORT reads sets, sorted sets and lists: no one family category.
  constexpr uint32_t kSorted = kAclSet | kAclSortedSet | kAclList | kAclDangerous;
  CommandFamily family(t, 0);
  family << CommandRow("sort", -2, kCmdWrite | kCmdDenyOom, 1, 1, 1).MultiShard(MakeSort).Keys(SortKeys).Acl(kSorted)
         << CommandRow("sort_ro", -2, kCmdReadOnly, 1, 1, 1).MultiShard(MakeSortRo).Keys(SortRoKeys).Acl(kSorted);
}

}  // namespace darter::store
