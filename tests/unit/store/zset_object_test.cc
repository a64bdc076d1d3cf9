#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/collection_codec.h"
#include "store/store_config.h"
#include "store/zset_object.h"

using namespace darter::store;

namespace {

using Items = std::vector<std::pair<std::string, double>>;

Items All(const ZsetObject& z) {
  Items out;
  z.ForEach([&](std::string_view m, double s) {
    out.emplace_back(std::string(m), s);
    return true;
  });
  return out;
}

void Add(ZsetObject& z, double score, std::string_view m) {
  unsigned out;
  double ns;
  REQUIRE(z.Add(score, m, 0, &out, &ns));
}

// Restores the encoding thresholds a test lowered.
struct ThresholdGuard {
  int64_t entries = GetStoreConfig().zset_max_listpack_entries.load();
  int64_t value = GetStoreConfig().zset_max_listpack_value.load();
  ~ThresholdGuard() {
    GetStoreConfig().zset_max_listpack_entries = entries;
    GetStoreConfig().zset_max_listpack_value = value;
  }
};

}  // namespace

TEST_CASE("A zset keeps (score, member) order in both encodings") {
  for (bool skiplist : {false, true}) {
    ZsetObject z;
    if (skiplist) z.ConvertToSkiplist();
    Add(z, 2, "b");
    Add(z, 1, "z");
    Add(z, 2, "a");
    Add(z, -1.5, "neg");
    Add(z, 1e300, "huge");
    Add(z, -INFINITY, "ninf");
    CHECK(z.EncodingName() == (skiplist ? "skiplist" : "listpack"));
    Items want = {{"ninf", -INFINITY}, {"neg", -1.5}, {"z", 1}, {"a", 2}, {"b", 2}, {"huge", 1e300}};
    CHECK(All(z) == want);
    CHECK(z.Rank("a") == 3);
    CHECK(z.Rank("nope") == std::nullopt);
    CHECK(z.Score("neg") == -1.5);
    CHECK(z.CountScoreBelow(2, false) == 3);
    CHECK(z.CountScoreBelow(2, true) == 5);
    Items rev;
    z.Walk(1, 4, true, [&](std::string_view m, double s) {
      rev.emplace_back(std::string(m), s);
      return true;
    });
    CHECK(rev == Items{{"a", 2}, {"z", 1}, {"neg", -1.5}});
    CHECK(z.RemoveRankRange(1, 3) == 2);
    CHECK(All(z) == Items{{"ninf", -INFINITY}, {"a", 2}, {"b", 2}, {"huge", 1e300}});
    CHECK(z.Remove("a"));
    CHECK_FALSE(z.Remove("a"));
    CHECK(z.size() == 3);
  }
}

TEST_CASE("Listpack score coding round-trips integers, doubles and signs") {
  ZsetObject z;
  std::vector<double> scores = {0, 1, 223, 224, -1, 255, 256, -129, 65535, 1LL << 40, -(1LL << 53), 9.2e18, -9.2e18,
                                0.5, 1e-300, INFINITY, 3.14159265358979, -0.0};
  for (size_t i = 0; i < scores.size(); ++i) Add(z, scores[i], "m" + std::to_string(i));
  for (size_t i = 0; i < scores.size(); ++i) {
    auto s = z.Score("m" + std::to_string(i));
    REQUIRE(s);
    CHECK(*s == scores[i]);
  }
  // -0 is kept as 0, as Redis's listpack does.
  CHECK_FALSE(std::signbit(*z.Score("m17")));
}

TEST_CASE("ZADD flags: NX XX GT LT INCR and the NaN refusal") {
  ZsetObject z;
  unsigned out;
  double ns = 0;
  CHECK(z.Add(5, "a", 0, &out, &ns));
  CHECK(out == kZAddOutAdded);
  CHECK(z.Add(7, "a", kZAddNx, &out, &ns));
  CHECK(out == kZAddOutNop);
  CHECK(z.Add(7, "b", kZAddXx, &out, &ns));
  CHECK(out == kZAddOutNop);
  CHECK(z.Add(3, "a", kZAddGt, &out, &ns));
  CHECK(out == kZAddOutNop);
  CHECK(z.Add(9, "a", kZAddGt, &out, &ns));
  CHECK(out == kZAddOutUpdated);
  CHECK(z.Add(1, "a", kZAddIncr, &out, &ns));
  CHECK(ns == 10);
  CHECK(z.Add(INFINITY, "a", 0, &out, &ns));
  CHECK_FALSE(z.Add(-INFINITY, "a", kZAddIncr, &out, &ns));
  CHECK(z.Score("a") == INFINITY);
}

TEST_CASE("Score and lex ranges resolve to rank intervals") {
  ZsetObject z;
  for (char c = 'a'; c <= 'g'; ++c) Add(z, 0, std::string(1, c));
  ZLexRange r;
  REQUIRE(ParseZLexRange("[b", "(e", &r));
  CHECK(z.LexRankRange(r) == std::make_pair<size_t, size_t>(1, 4));
  REQUIRE(ParseZLexRange("-", "+", &r));
  CHECK(z.LexRankRange(r) == std::make_pair<size_t, size_t>(0, 7));
  REQUIRE(ParseZLexRange("+", "-", &r));
  auto [f, l] = z.LexRankRange(r);
  CHECK(f == l);
  CHECK_FALSE(ParseZLexRange("b", "c", &r));
  CHECK_FALSE(ParseZLexRange("-x", "+", &r));

  ZScoreRange sr;
  CHECK(ParseZScoreRange("(1", "+inf", &sr));
  CHECK(sr.min_ex);
  CHECK(ParseZScoreRange("", "(", &sr));  // strtod rules: both parse as 0
  CHECK_FALSE(ParseZScoreRange("x", "1", &sr));
  CHECK_FALSE(ParseZScoreRange("nan", "1", &sr));
}

TEST_CASE("A listpack converts to a skiplist past either threshold") {
  ThresholdGuard guard;
  GetStoreConfig().zset_max_listpack_entries = 4;
  GetStoreConfig().zset_max_listpack_value = 8;
  ZsetObject z;
  for (int i = 0; i < 4; ++i) Add(z, i, "m" + std::to_string(i));
  CHECK(z.is_listpack());
  Add(z, 9, "m9");
  CHECK_FALSE(z.is_listpack());
  ZsetObject y;
  Add(y, 1, "short");
  Add(y, 2, "longer-than-8");
  CHECK_FALSE(y.is_listpack());
  // Built results take whichever encoding fits.
  CHECK(ZsetObject::Build({{"a", 1}, {"b", 2}})->is_listpack());
  CHECK_FALSE(ZsetObject::Build({{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}})->is_listpack());
}

TEST_CASE("The skiplist matches a reference ordered set under random operations") {
  std::mt19937_64 rng(12345);
  ZsetObject z;
  z.ConvertToSkiplist();
  std::set<std::pair<double, std::string>> ref;
  std::unordered_map<std::string, double> scores;
  for (int step = 0; step < 20000; ++step) {
    std::string m = "member:" + std::to_string(rng() % 3000);
    int op = static_cast<int>(rng() % 10);
    if (op < 6) {
      double s = static_cast<double>(rng() % 200) / 4;
      unsigned out;
      double ns;
      z.Add(s, m, 0, &out, &ns);
      if (scores.count(m)) ref.erase({scores[m], m});
      scores[m] = s;
      ref.insert({s, m});
    } else if (op < 8) {
      CHECK(z.Remove(m) == (scores.count(m) > 0));
      if (scores.count(m)) {
        ref.erase({scores[m], m});
        scores.erase(m);
      }
    } else if (op == 8 && !ref.empty()) {
      size_t a = rng() % ref.size(), n = rng() % 5;
      size_t removed = z.RemoveRankRange(a, a + n);
      auto it = std::next(ref.begin(), static_cast<long>(a));
      for (size_t k = 0; k < removed; ++k) {
        scores.erase(it->second);
        it = ref.erase(it);
      }
    } else if (!ref.empty()) {
      size_t r = rng() % ref.size();
      auto it = std::next(ref.begin(), static_cast<long>(r));
      CHECK(z.Rank(it->second) == r);
      CHECK(z.CountScoreBelow(it->first, false) ==
            static_cast<size_t>(std::distance(ref.begin(), ref.lower_bound({it->first, ""}))));
      z.Walk(r, r + 1, false, [&](std::string_view mm, double s) {
        CHECK(mm == it->second);
        CHECK(s == it->first);
        return true;
      });
    }
    REQUIRE(z.size() == ref.size());
  }
  Items all = All(z);
  Items want;
  for (auto& [s, m] : ref) want.emplace_back(m, s);
  CHECK(all == want);
  for (auto& [m, s] : scores) CHECK(z.Score(m) == s);
}

TEST_CASE("ZSCAN over a skiplist returns every member present for the whole scan") {
  ZsetObject z;
  z.ConvertToSkiplist();
  for (int i = 0; i < 1000; ++i) Add(z, i, "m" + std::to_string(i));
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int calls = 0;
  do {
    cursor = z.Scan(cursor, 10, [&](std::string_view m, std::string_view) { seen.insert(std::string(m)); });
    // Grow and shrink the table while scanning; the first 1000 members stay.
    if (calls == 20)
      for (int i = 1000; i < 5000; ++i) Add(z, i, "m" + std::to_string(i));
    if (calls == 40)
      for (int i = 1000; i < 5000; ++i) z.Remove("m" + std::to_string(i));
    ++calls;
  } while (cursor != 0 && calls < 100000);
  for (int i = 0; i < 1000; ++i) CHECK(seen.count("m" + std::to_string(i)));
}

TEST_CASE("RDB codec: load, iterate and OnLoaded pick Redis's encoding") {
  ThresholdGuard guard;
  GetStoreConfig().zset_max_listpack_entries = 16;
  for (size_t n : {size_t{5}, size_t{100}}) {
    auto obj = NewZsetForLoad(n);
    for (size_t i = 0; i < n; ++i) CHECK(ZsetAddForLoad(*obj, "m" + std::to_string(i), static_cast<double>(n - i)));
    CHECK_FALSE(ZsetAddForLoad(*obj, "m0", 1));
    obj->OnLoaded();
    CHECK(obj->EncodingName() == (n <= 16 ? "listpack" : "skiplist"));
    CHECK(ZsetSize(*obj) == n);
    std::vector<std::pair<std::string, double>> seen;
    ZsetForEach(*obj, [&](std::string_view m, double s) { seen.emplace_back(std::string(m), s); });
    REQUIRE(seen.size() == n);
    for (size_t i = 0; i < n; ++i) {
      CHECK(seen[i].second == static_cast<double>(i + 1));
      CHECK(seen[i].first == "m" + std::to_string(n - 1 - i));
    }
    auto copy = obj->Clone();
    CHECK(ZsetSize(*copy) == n);
    CHECK(copy->EncodingName() == obj->EncodingName());
  }
  // A small set saved as a skiplist loads back as a listpack.
  auto obj = NewZsetForLoad(1000);
  ZsetAddForLoad(*obj, "a", 1);
  obj->OnLoaded();
  CHECK(obj->EncodingName() == "listpack");
}
