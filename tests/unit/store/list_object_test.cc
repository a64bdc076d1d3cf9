// ListObject and EntryPack: behaviour against a std::deque model, quicklist transitions
// under small node limits, and the RDB codec round trip.
#include <doctest/doctest.h>

#include <deque>
#include <random>
#include <string>
#include <vector>

#include "store/collection_codec.h"
#include "store/list_object.h"
#include "store/store_config.h"

using namespace darter::store;

namespace {

std::vector<std::string> Items(const ListObject& l) {
  std::vector<std::string> out;
  l.ForRange(0, l.size(), [&](size_t, std::string_view s) {
    out.emplace_back(s);
    return true;
  });
  return out;
}

// Restores list-max-listpack-size when a test changes it.
struct FillGuard {
  int64_t old;
  explicit FillGuard(int64_t v) : old(GetStoreConfig().list_max_listpack_size.load()) {
    GetStoreConfig().list_max_listpack_size.store(v);
  }
  ~FillGuard() { GetStoreConfig().list_max_listpack_size.store(old); }
};

}  // namespace

TEST_CASE("EntryPack stores entries of any length, including empty and > 127 bytes") {
  EntryPack p;
  CHECK(p.count() == 0);
  CHECK(p.heap_bytes() == 0);
  std::string big(300, 'x');
  p.PushBack("a");
  p.PushBack("");
  p.PushBack(big);
  p.PushFront("first");
  CHECK(p.count() == 4);
  size_t off = p.begin(), next;
  CHECK(p.At(off, &next) == "first");
  CHECK(p.At(next, &off) == "a");
  CHECK(p.At(off, &next) == "");
  CHECK(p.At(next, &off) == big);
  CHECK(off == p.end());
  p.Replace(p.OffsetOf(1), std::string(200, 'y'));
  CHECK(p.At(p.OffsetOf(1), &next) == std::string(200, 'y'));
  p.Replace(p.OffsetOf(1), "z");
  CHECK(p.At(p.OffsetOf(1), &next) == "z");
  EntryPack tail = p.SplitAt(2);
  CHECK(p.count() == 2);
  CHECK(tail.count() == 2);
  p.Append(tail);
  CHECK(p.count() == 4);
  CHECK(p.At(p.OffsetOf(3), &next) == big);
  p.Erase(p.begin(), 4);
  CHECK(p.count() == 0);
  CHECK(p.heap_bytes() == 0);
}

TEST_CASE("A small list is one pack; a big one becomes a quicklist and comes back") {
  ListObject l;
  for (int i = 0; i < 10; ++i) l.Push(ListObject::End::kTail, "member:" + std::to_string(i));
  CHECK_FALSE(l.is_quicklist());
  CHECK(l.EncodingName() == "quicklist");  // Redis 7.0 reports quicklist for every list
  for (int i = 0; i < 5000; ++i) l.Push(ListObject::End::kTail, "member:" + std::to_string(i));
  CHECK(l.is_quicklist());
  CHECK(l.node_count() > 2);
  l.EraseRange(0, l.size() - 3);
  CHECK_FALSE(l.is_quicklist());
  CHECK(l.size() == 3);
  CHECK(Items(l) == std::vector<std::string>{"member:4997", "member:4998", "member:4999"});
}

TEST_CASE("Random operations agree with a deque model under several node limits") {
  for (int64_t fill : {-2, -1, 1, 3, 16}) {
    FillGuard guard(fill);
    std::mt19937 rng(static_cast<unsigned>(fill + 100));
    ListObject l;
    std::deque<std::string> model;
    for (int step = 0; step < 6000; ++step) {
      int op = static_cast<int>(rng() % 10);
      std::string v = std::string(rng() % 3 == 0 ? 200 : 1 + rng() % 12, static_cast<char>('a' + rng() % 4));
      if (op <= 2) {
        l.Push(ListObject::End::kHead, v);
        model.push_front(v);
      } else if (op <= 4) {
        l.Push(ListObject::End::kTail, v);
        model.push_back(v);
      } else if (op == 5 && !model.empty()) {
        bool head = rng() % 2;
        std::string got = l.Pop(head ? ListObject::End::kHead : ListObject::End::kTail);
        CHECK(got == (head ? model.front() : model.back()));
        if (head) model.pop_front();
        else model.pop_back();
      } else if (op == 6) {
        size_t i = model.empty() ? 0 : rng() % (model.size() + 1);
        l.Insert(i, v);
        model.insert(model.begin() + static_cast<long>(i), v);
      } else if (op == 7 && !model.empty()) {
        size_t i = rng() % model.size();
        l.Set(i, v);
        model[i] = v;
      } else if (op == 8 && !model.empty()) {
        size_t i = rng() % model.size();
        size_t n = rng() % (model.size() - i + 1);
        if (rng() % 4 != 0) n = std::min<size_t>(n, 5);
        l.EraseRange(i, n);
        model.erase(model.begin() + static_cast<long>(i), model.begin() + static_cast<long>(i + n));
      } else if (op == 9 && !model.empty()) {
        std::vector<size_t> idx;
        for (size_t i = 0; i < model.size(); ++i)
          if (rng() % 7 == 0) idx.push_back(i);
        l.EraseIndices(idx);
        for (size_t k = idx.size(); k-- > 0;) model.erase(model.begin() + static_cast<long>(idx[k]));
      }
      REQUIRE(l.size() == model.size());
      if (step % 97 == 0) {
        REQUIRE(Items(l) == std::vector<std::string>(model.begin(), model.end()));
        for (size_t i = 0; i < model.size(); i += 1 + model.size() / 10) CHECK(l.At(i) == model[i]);
        std::vector<std::string> rev;
        l.ForRangeReverse(model.size() - 1, [&](size_t, std::string_view s) {
          rev.emplace_back(s);
          return true;
        });
        CHECK(std::vector<std::string>(rev.rbegin(), rev.rend()) == std::vector<std::string>(model.begin(), model.end()));
      }
    }
  }
}

TEST_CASE("Quicklist nodes respect list-max-listpack-size") {
  FillGuard guard(4);
  ListObject l;
  for (int i = 0; i < 40; ++i) l.Push(ListObject::End::kTail, std::to_string(i));
  CHECK(l.node_count() == 10);
  ListObject copy(l);
  CHECK(Items(copy) == Items(l));
  CHECK(l.MallocUsed() > sizeof(ListObject));
}

TEST_CASE("List codec: load, iterate and length round-trip") {
  auto obj = NewListForLoad();
  std::vector<std::string> want;
  for (int i = 0; i < 3000; ++i) want.push_back("e" + std::to_string(i));
  std::vector<std::string_view> views(want.begin(), want.end());
  ListAppendForLoad(*obj, std::span<const std::string_view>(views).first(1000));
  ListAppendForLoad(*obj, std::span<const std::string_view>(views).subspan(1000));
  obj->OnLoaded();
  CHECK(ListLength(*obj) == want.size());
  std::vector<std::string> got;
  ListForEach(*obj, [&](std::string_view s) { got.emplace_back(s); });
  CHECK(got == want);
  auto clone = obj->Clone();
  CHECK(ListLength(*clone) == want.size());
}

TEST_CASE("PushAll keeps LPUSH/RPUSH order, in one pack or across nodes") {
  for (int64_t fill : {-2, 2}) {
    FillGuard guard(fill);
    ListObject l;
    std::vector<std::string_view> items = {"a", "b", "c"};
    l.PushAll(ListObject::End::kTail, items);
    l.PushAll(ListObject::End::kHead, items);
    l.PushAll(ListObject::End::kTail, std::vector<std::string_view>{"x", "y"});
    CHECK(Items(l) == std::vector<std::string>{"c", "b", "a", "a", "b", "c", "x", "y"});
    CHECK(l.size() == 8);
  }
}
