#include <doctest/doctest.h>

#include <random>
#include <set>
#include <string>
#include <unordered_set>

#include "store/db_table.h"

using darter::store::DbTable;
using darter::store::Slot;

namespace {
std::string Key(int i) { return "key:" + std::to_string(i); }

std::set<std::string> ScanAll(DbTable& t, size_t count) {
  std::set<std::string> out;
  uint64_t cursor = 0;
  do {
    cursor = t.Traverse(cursor, count, [&](Slot& s) { out.insert(s.key.str()); });
  } while (cursor != 0);
  return out;
}
}  // namespace

TEST_CASE("DbTable inserts, finds and erases across many segment splits") {
  DbTable t;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    Slot* s = t.Insert(Key(i));
    s->value.SetString(std::to_string(i));
  }
  CHECK(t.size() == n);
  CHECK(t.segment_count() > 100);
  for (int i = 0; i < n; i += 7) {
    Slot* s = t.Find(Key(i));
    REQUIRE(s != nullptr);
    CHECK(s->value.string_view() == std::to_string(i));
  }
  CHECK(t.Find("missing") == nullptr);
  for (int i = 0; i < n; i += 2) CHECK(t.Erase(Key(i)));
  CHECK(t.size() == n / 2);
  for (int i = 0; i < n; ++i) CHECK((t.Find(Key(i)) != nullptr) == (i % 2 == 1));
}

TEST_CASE("DbTable keeps segments dense on average across split cycles") {
  // The load just after a split is half that just before; what counts for memory is
  // the average over many sizes.
  DbTable t;
  double sum = 0;
  int samples = 0;
  for (int i = 0; i < 150000; ++i) {
    t.Insert(Key(i));
    if (i >= 50000 && i % 1000 == 0) {
      size_t capacity = t.segment_count() * DbTable::kBuckets * DbTable::kSlotsPerBucket;
      sum += static_cast<double>(t.size()) / capacity;
      samples++;
    }
  }
  double mean = sum / samples;
  MESSAGE("mean load factor " << mean);
  CHECK(mean > 0.6);
}

TEST_CASE("Traverse visits every key exactly once on a stable table") {
  DbTable t;
  for (int i = 0; i < 50000; ++i) t.Insert(Key(i));
  auto seen = ScanAll(t, 10);
  CHECK(seen.size() == 50000);
}

TEST_CASE("SCAN guarantee: keys present for the whole scan are returned while the table grows") {
  DbTable t;
  for (int i = 0; i < 5000; ++i) t.Insert(Key(i));
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int next = 5000;
  do {
    cursor = t.Traverse(cursor, 20, [&](Slot& s) { seen.insert(s.key.str()); });
    // Grow between calls: forces splits and directory doublings mid-scan. Growth is
    // capped, or the scan would chase keys inserted ahead of its cursor forever.
    for (int j = 0; j < 300 && next < 60000; ++j) t.Insert(Key(next++));
  } while (cursor != 0);
  for (int i = 0; i < 5000; ++i) CHECK(seen.count(Key(i)) == 1);
  CHECK(t.size() == 60000);
}

TEST_CASE("SCAN guarantee holds while other keys are deleted") {
  DbTable t;
  for (int i = 0; i < 20000; ++i) t.Insert(Key(i));
  std::set<std::string> seen;
  uint64_t cursor = 0;
  int victim = 10000;
  do {
    cursor = t.Traverse(cursor, 15, [&](Slot& s) { seen.insert(s.key.str()); });
    for (int j = 0; j < 20 && victim < 20000; ++j) t.Erase(Key(victim++));
  } while (cursor != 0);
  for (int i = 0; i < 10000; ++i) CHECK(seen.count(Key(i)) == 1);
}

TEST_CASE("A cursor the table never produced ends the scan instead of misbehaving") {
  DbTable t;
  for (int i = 0; i < 100; ++i) t.Insert(Key(i));
  CHECK(t.Traverse(~uint64_t{0}, 10, [](Slot&) {}) == 0);
  DbTable empty;
  CHECK(empty.Traverse(12345, 10, [](Slot&) {}) == 0);
}

TEST_CASE("RandomSlot returns live slots and nullptr when empty") {
  DbTable t;
  CHECK(t.RandomSlot(42) == nullptr);
  for (int i = 0; i < 1000; ++i) t.Insert(Key(i));
  std::mt19937_64 rng(1);
  std::unordered_set<std::string> picked;
  for (int i = 0; i < 2000; ++i) {
    Slot* s = t.RandomSlot(rng());
    REQUIRE(s != nullptr);
    picked.insert(s->key.str());
  }
  CHECK(picked.size() > 500);
}

TEST_CASE("Expire bookkeeping follows SetExpire and Erase") {
  DbTable t;
  Slot* a = t.Insert("a");
  t.SetExpire(a, 1000);
  Slot* b = t.Insert("b");
  t.SetExpire(b, 2000);
  CHECK(t.expire_count() == 2);
  t.SetExpire(t.Find("a"), 0);
  CHECK(t.expire_count() == 1);
  t.Erase("b");
  CHECK(t.expire_count() == 0);
}

TEST_CASE("Swap exchanges whole tables") {
  DbTable a, b;
  a.Insert("x");
  b.Insert("y");
  b.Insert("z");
  a.Swap(b);
  CHECK(a.size() == 2);
  CHECK(b.size() == 1);
  CHECK(a.Find("y"));
  CHECK(b.Find("x"));
}
