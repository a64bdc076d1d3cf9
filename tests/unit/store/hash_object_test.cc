// HashObject and FieldTable: a model check, encoding conversion at the configured
// thresholds, the HSCAN guarantee across growth, and the RDB codec round trip.
#include <doctest/doctest.h>

#include <map>
#include <random>
#include <set>
#include <string>

#include "store/collection_codec.h"
#include "store/hash_object.h"
#include "store/store_config.h"

using namespace darter::store;

TEST_CASE("FieldTable agrees with std::map under random sets and deletes") {
  std::mt19937 rng(7);
  FieldTable t;
  std::map<std::string, std::string> model;
  for (int step = 0; step < 50000; ++step) {
    std::string f = "f" + std::to_string(rng() % 3000);
    if (f.size() % 2) f += std::string(20, 'x');  // some heap-allocated fields
    if (rng() % 3) {
      std::string v = std::to_string(step);
      CHECK(t.Set(f, v) == (model.count(f) == 0));
      model[f] = v;
    } else {
      CHECK(t.Erase(f) == (model.erase(f) == 1));
    }
    REQUIRE(t.size() == model.size());
  }
  for (auto& [f, v] : model) {
    auto* e = t.Find(f);
    REQUIRE(e != nullptr);
    CHECK(e->value == v);
  }
  std::map<std::string, std::string> dense;
  for (size_t i = 0; i < t.size(); ++i) dense[t.at(i).field.str()] = t.at(i).value.str();
  CHECK(dense == model);
  FieldTable copy(t);
  CHECK(copy.size() == t.size());
}

TEST_CASE("FieldTable scan returns every field present for the whole scan, across growth and shrink") {
  FieldTable t;
  for (int i = 0; i < 100; ++i) t.Set("stay" + std::to_string(i), "v");
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int calls = 0;
  do {
    cursor = t.Scan(cursor, [&](const FieldTable::Entry& e) { seen.insert(e.field.str()); });
    ++calls;
    if (calls == 5)
      for (int i = 0; i < 2000; ++i) t.Set("grow" + std::to_string(i), "v");
    if (calls == 400)
      for (int i = 0; i < 2000; ++i) t.Erase("grow" + std::to_string(i));
  } while (cursor != 0 && calls < 100000);
  CHECK(cursor == 0);
  for (int i = 0; i < 100; ++i) CHECK(seen.count("stay" + std::to_string(i)) == 1);
}

TEST_CASE("A hash is a listpack until the entry or value thresholds, then a hash table") {
  HashObject h;
  for (int i = 0; i < 128; ++i) h.Set("f" + std::to_string(i), "v");
  CHECK(h.EncodingName() == "listpack");
  h.Set("f128", "v");
  CHECK(h.EncodingName() == "hashtable");
  CHECK(h.size() == 129);

  HashObject g;
  g.Set("a", std::string(64, 'x'));
  CHECK(g.EncodingName() == "listpack");
  g.Set("b", std::string(65, 'x'));
  CHECK(g.EncodingName() == "hashtable");
  CHECK(g.Get("a") == std::string(64, 'x'));
  CHECK(g.Delete("a"));
  CHECK(g.Delete("b"));
  CHECK(g.size() == 0);
  CHECK(g.EncodingName() == "hashtable");  // never converts back, as in Redis
}

TEST_CASE("Listpack hashes keep insertion order; overwrite keeps the position") {
  HashObject h;
  CHECK(h.Set("x", "1"));
  CHECK(h.Set("y", "2"));
  CHECK_FALSE(h.Set("x", "3"));
  auto e = h.Entries();
  REQUIRE(e.size() == 2);
  CHECK(e[0].first == "x");
  CHECK(e[0].second == "3");
  CHECK(e[1].first == "y");
  CHECK(h.Delete("x"));
  CHECK_FALSE(h.Delete("x"));
  CHECK(h.size() == 1);
  size_t n = 0;
  CHECK(h.Scan(0, 1, [&](std::string_view, std::string_view) { ++n; }) == 0);
  CHECK(n == 1);
}

TEST_CASE("Hash codec: load settles the encoding and iterates every pair") {
  auto big = NewHashForLoad(1000);
  for (int i = 0; i < 1000; ++i) CHECK(HashSetForLoad(*big, "f" + std::to_string(i), std::to_string(i)));
  CHECK_FALSE(HashSetForLoad(*big, "f1", "dup"));
  big->OnLoaded();
  CHECK(big->EncodingName() == "hashtable");
  CHECK(HashSize(*big) == 1000);
  std::map<std::string, std::string> got;
  HashForEach(*big, [&](std::string_view f, std::string_view v) { got[std::string(f)] = std::string(v); });
  CHECK(got.size() == 1000);
  CHECK(got["f999"] == "999");

  // A small hash saved from a hash table loads back as a listpack.
  auto small = NewHashForLoad(200);
  CHECK(small->EncodingName() == "hashtable");
  HashSetForLoad(*small, "a", "1");
  small->OnLoaded();
  CHECK(small->EncodingName() == "listpack");
  CHECK(HashSize(*small) == 1);
  auto clone = small->Clone();
  CHECK(HashSize(*clone) == 1);
}

TEST_CASE("SetPairs: repeated fields in one command keep the last value and count once") {
  HashObject h;
  h.Set("old", "1");
  std::vector<std::string_view> pairs = {"a", "1", "old", "2", "a", "3", "b", "4"};
  CHECK(h.SetPairs(pairs) == 2);
  auto e = h.Entries();
  REQUIRE(e.size() == 3);
  CHECK(e[0] == std::pair<std::string_view, std::string_view>{"old", "2"});
  CHECK(e[1] == std::pair<std::string_view, std::string_view>{"a", "3"});
  CHECK(e[2] == std::pair<std::string_view, std::string_view>{"b", "4"});
  std::vector<std::string> many;
  for (int i = 0; i < 150; ++i) {
    many.push_back("f" + std::to_string(i % 75));
    many.push_back(std::to_string(i));
  }
  std::vector<std::string_view> views(many.begin(), many.end());
  CHECK(h.SetPairs(views) == 75);
  CHECK(h.size() == 78);
  CHECK(h.Get("f0") == "75");
}
