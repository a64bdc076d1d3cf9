#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "store/collection_codec.h"
#include "store/set_object.h"
#include "store/store_config.h"
#include "store/string_util.h"

using namespace darter::store;

namespace {

std::vector<std::string> All(const SetObject& s) {
  std::vector<std::string> out;
  s.ForEach([&](std::string_view m) { out.emplace_back(m); });
  return out;
}

std::set<std::string> AllSet(const SetObject& s) {
  auto v = All(s);
  return {v.begin(), v.end()};
}

}  // namespace

TEST_CASE("Set intset keeps integers sorted and widens from int16 to int64") {
  SetObject s;
  CHECK(s.EncodingName() == "intset");
  for (const char* m : {"3", "-1", "2", "40000", "-5000000000", "9223372036854775807", "-9223372036854775808"})
    CHECK(s.Add(m));
  CHECK_FALSE(s.Add("2"));
  CHECK(s.EncodingName() == "intset");
  CHECK(All(s) == std::vector<std::string>{"-9223372036854775808", "-5000000000", "-1", "2", "3", "40000",
                                           "9223372036854775807"});
  CHECK(s.Contains("40000"));
  CHECK_FALSE(s.Contains("4"));
  CHECK_FALSE(s.Contains("abc"));
  CHECK_FALSE(s.Contains("02"));
  CHECK(s.Remove("-1"));
  CHECK_FALSE(s.Remove("-1"));
  CHECK(s.size() == 6);
  // int64 width: 6 members of 8 bytes, exactly.
  CHECK(s.MallocUsed() == sizeof(SetObject) + 6 * 8);
}

TEST_CASE("Set converts to hashtable on a non-integer member, and never back") {
  SetObject s;
  s.Add("1");
  s.Add("2");
  CHECK(s.Add("01"));  // not an integer by Redis's rules
  CHECK(s.EncodingName() == "hashtable");
  CHECK(AllSet(s) == std::set<std::string>{"1", "2", "01"});
  s.Remove("01");
  CHECK(s.EncodingName() == "hashtable");
  CHECK(SetObject::CreateFor("abc")->EncodingName() == "hashtable");
  CHECK(SetObject::CreateFor("12")->EncodingName() == "intset");
}

TEST_CASE("Set converts past set-max-intset-entries") {
  auto& cfg = GetStoreConfig().set_max_intset_entries;
  int64_t old = cfg.load();
  cfg.store(4);
  SetObject s;
  for (int i = 0; i < 4; ++i) s.Add(std::to_string(i));
  CHECK(s.EncodingName() == "intset");
  s.Add("4");
  CHECK(s.EncodingName() == "hashtable");
  CHECK(s.size() == 5);
  cfg.store(old);
}

TEST_CASE("Set hashtable agrees with std::set under random adds and removes") {
  std::mt19937_64 rng(42);
  SetObject s;
  s.Add("x");  // force hashtable
  std::set<std::string> model{"x"};
  for (int i = 0; i < 20000; ++i) {
    std::string m = "m" + std::to_string(rng() % 3000);
    if (i % 7 == 0) m = std::string(20, 'L') + m;  // heap-allocated members too
    if (rng() % 3) CHECK(s.Add(m) == model.insert(m).second);
    else CHECK(s.Remove(m) == (model.erase(m) == 1));
  }
  CHECK(s.size() == model.size());
  CHECK(AllSet(s) == model);
  for (auto& m : model) CHECK(s.Contains(m));
  // Empty binary-safe members work.
  CHECK(s.Add(""));
  CHECK(s.Contains(""));
  CHECK(s.Add(std::string("a\0b", 3)));
  CHECK_FALSE(s.Contains("a"));
}

TEST_CASE("Set PopRandom and RandomMember return members until empty") {
  std::mt19937_64 rng(7);
  for (bool ints : {true, false}) {
    SetObject s;
    std::set<std::string> model;
    for (int i = 0; i < 300; ++i) {
      std::string m = ints ? std::to_string(i * 3) : "k" + std::to_string(i);
      s.Add(m);
      model.insert(m);
    }
    for (int i = 0; i < 50; ++i) CHECK(model.count(s.RandomMember(rng)));
    while (s.size() > 0) {
      std::string m = s.PopRandom(rng);
      CHECK(model.erase(m) == 1);
    }
    CHECK(model.empty());
  }
}

TEST_CASE("Set Scan returns every member present for the whole scan, across resizes") {
  SetObject s;
  for (int i = 0; i < 1000; ++i) s.Add("a" + std::to_string(i));
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int steps = 0;
  do {
    cursor = s.Scan(cursor, 10, [&](std::string_view m) { seen.emplace(m); });
    // Grow and shrink the table between calls; members a0..a499 stay.
    if (steps == 5)
      for (int i = 0; i < 5000; ++i) s.Add("b" + std::to_string(i));
    if (steps == 40)
      for (int i = 0; i < 5000; ++i) s.Remove("b" + std::to_string(i));
    if (steps == 60)
      for (int i = 500; i < 1000; ++i) s.Remove("a" + std::to_string(i));
    ++steps;
  } while (cursor != 0 && steps < 100000);
  CHECK(cursor == 0);
  for (int i = 0; i < 500; ++i) CHECK(seen.count("a" + std::to_string(i)));
}

TEST_CASE("Set Clone is deep") {
  SetObject s;
  s.Add("a-rather-long-member-on-the-heap");
  s.Add("b");
  auto c = s.Clone();
  s.Remove("b");
  auto& copy = static_cast<SetObject&>(*c);
  CHECK(copy.size() == 2);
  CHECK(copy.Contains("b"));
  CHECK(copy.Contains("a-rather-long-member-on-the-heap"));
  SetObject i;
  i.Add("5");
  auto ic = i.Clone();
  CHECK(ic->EncodingName() == "intset");
  CHECK(SetSize(*ic) == 1);
}

TEST_CASE("Set RDB codec: load then iterate round-trips, OnLoaded picks the encoding") {
  auto& cfg = GetStoreConfig().set_max_intset_entries;
  int64_t old = cfg.load();
  cfg.store(8);
  // All integers, but more than the limit: hashtable after OnLoaded.
  auto big = NewSetForLoad(20);
  for (int i = 0; i < 20; ++i) CHECK(SetAddForLoad(*big, std::to_string(i)));
  CHECK_FALSE(SetAddForLoad(*big, "3"));
  CHECK(big->EncodingName() == "intset");
  big->OnLoaded();
  CHECK(big->EncodingName() == "hashtable");
  CHECK(SetSize(*big) == 20);
  std::set<std::string> got;
  SetForEach(*big, [&](std::string_view m) { got.emplace(m); });
  CHECK(got.size() == 20);
  CHECK(got.count("19"));

  auto small = NewSetForLoad(3);
  for (const char* m : {"5", "-2", "7"}) SetAddForLoad(*small, m);
  small->OnLoaded();
  CHECK(small->EncodingName() == "intset");
  std::vector<std::string> order;
  SetForEach(*small, [&](std::string_view m) { order.emplace_back(m); });
  CHECK(order == std::vector<std::string>{"-2", "5", "7"});

  auto strs = NewSetForLoad(2);
  SetAddForLoad(*strs, "x");
  SetAddForLoad(*strs, "1");
  strs->OnLoaded();
  CHECK(strs->EncodingName() == "hashtable");
  CHECK(SetSize(*strs) == 2);
  cfg.store(old);
}

TEST_CASE("Set intset agrees with std::set across inline/heap storage and widths") {
  std::mt19937_64 rng(99);
  SetObject s;
  std::set<int64_t> model;
  const int64_t ranges[] = {100, 70000, 6000000000LL};
  for (int i = 0; i < 20000; ++i) {
    int64_t r = ranges[(i / 2000) % 3];
    int64_t v = static_cast<int64_t>(rng() % (2 * r)) - r;
    std::string m = std::to_string(v);
    // Stay around the inline limit (40 bytes) most of the time.
    if (model.size() < 25 && rng() % 2) CHECK(s.Add(m) == model.insert(v).second);
    else CHECK(s.Remove(m) == (model.erase(v) == 1));
    REQUIRE(s.size() == model.size());
    if (i % 97 == 0) {
      std::vector<std::string> want;
      for (int64_t x : model) want.push_back(std::to_string(x));
      CHECK(All(s) == want);
      auto c = s.Clone();
      CHECK(All(static_cast<SetObject&>(*c)) == want);
    }
  }
  CHECK(s.EncodingName() == "intset");
}
