// ShardThread's side of the transaction scheme, driven directly (no event loop runs:
// every method here is synchronous on the owning thread): intent locks, the txid-ordered
// queue whose head alone runs hops, and single-shard work deferred behind locks in
// arrival order.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "server/core/shard_set.h"

using darter::server::LockKey;
using darter::server::ShardThread;
using darter::server::TxShardEntry;

namespace {

TxShardEntry Entry(uint64_t txid, std::vector<LockKey> locks, bool whole_shard = false) {
  TxShardEntry e;
  e.txid = txid;
  e.locks = std::move(locks);
  e.whole_shard = whole_shard;
  return e;
}

}  // namespace

TEST_CASE("work on free keys runs at once; work on a locked key waits for the conclusion") {
  ShardThread t(0, 16);
  std::vector<std::string> ran;
  t.RunWhenUnlocked(0, {"a"}, [&] { ran.push_back("free"); });
  CHECK(ran == std::vector<std::string>{"free"});

  TxShardEntry tx = Entry(1, {{0, "a"}});
  REQUIRE(t.Schedule(&tx));
  CHECK(t.IsLocked(0, "a"));
  CHECK_FALSE(t.IsLocked(1, "a"));  // locks are per database
  CHECK_FALSE(t.IsLocked(0, "b"));
  t.RunWhenUnlocked(0, {"a"}, [&] { ran.push_back("a1"); });
  t.RunWhenUnlocked(0, {"b"}, [&] { ran.push_back("b"); });
  t.RunWhenUnlocked(0, {"a"}, [&] { ran.push_back("a2"); });
  CHECK(ran == std::vector<std::string>{"free", "b"});
  t.Conclude(&tx);
  CHECK_FALSE(t.IsLocked(0, "a"));
  CHECK(ran == std::vector<std::string>{"free", "b", "a1", "a2"});
}

TEST_CASE("work on a key stays behind earlier deferred work on it, even once the lock is free") {
  ShardThread t(0, 16);
  std::vector<std::string> ran;
  TxShardEntry tx1 = Entry(1, {{0, "a"}}), tx2 = Entry(2, {{0, "b"}});
  REQUIRE(t.Schedule(&tx1));
  REQUIRE(t.Schedule(&tx2));
  t.RunWhenUnlocked(0, {"a", "b"}, [&] { ran.push_back("ab"); });
  t.RunWhenUnlocked(0, {"a"}, [&] { ran.push_back("a"); });
  t.Conclude(&tx1);  // "a" is free, but "ab" still waits for "b": "a" waits behind it
  CHECK(ran.empty());
  t.Conclude(&tx2);
  CHECK(ran == std::vector<std::string>{"ab", "a"});
  t.RunWhenUnlocked(0, {"a"}, [&] { ran.push_back("later"); });  // nothing deferred now
  CHECK(ran.back() == "later");
}

TEST_CASE("a whole-shard lock holds back every key of every database") {
  ShardThread t(0, 16);
  int ran = 0;
  TxShardEntry tx = Entry(7, {}, /*whole_shard=*/true);
  REQUIRE(t.Schedule(&tx));
  CHECK(t.IsLocked(3, "anything"));
  std::vector<std::string_view> keys = {"x", "y"};
  CHECK(t.AnyLocked(0, keys));
  t.RunWhenUnlocked(5, {"x"}, [&] { ++ran; });
  CHECK(ran == 0);
  t.Conclude(&tx);
  CHECK(ran == 1);
  CHECK_FALSE(t.AnyLocked(0, keys));
}

TEST_CASE("only the head of the queue runs its hop; the next runs when the head concludes") {
  ShardThread t(0, 16);
  std::vector<uint64_t> hops;
  TxShardEntry tx1 = Entry(1, {{0, "k"}}), tx2 = Entry(2, {{0, "k"}});
  REQUIRE(t.Schedule(&tx1));
  REQUIRE(t.Schedule(&tx2));
  t.RequestHop(&tx2, [&] { hops.push_back(2); });
  CHECK(hops.empty());  // tx1 is the head and has not asked yet
  t.RequestHop(&tx1, [&] { hops.push_back(1); });
  CHECK(hops == std::vector<uint64_t>{1});
  CHECK(tx1.started);
  t.Conclude(&tx1);
  CHECK(hops == std::vector<uint64_t>{1, 2});
  CHECK(t.IsLocked(0, "k"));  // tx2 still holds it
  t.Conclude(&tx2);
  CHECK_FALSE(t.IsLocked(0, "k"));
}

TEST_CASE("a last hop that concludes its transaction lets the next run, without nesting") {
  // 100k queued transactions whose hops each conclude themselves (an op's last hop): each
  // runs in order, and every hop runs at the same stack depth (nesting would grow the
  // stack with the queue, and overflow it on a long enough one).
  ShardThread t(0, 16);
  constexpr uint64_t kCount = 100000;
  std::vector<TxShardEntry> txs;
  txs.reserve(kCount);
  for (uint64_t id = 1; id <= kCount; ++id) txs.push_back(Entry(id, {{0, "k"}}));
  for (auto& tx : txs) REQUIRE(t.Schedule(&tx));
  std::vector<uint64_t> order;
  std::vector<uintptr_t> depth;  // the address of a local in each hop
  bool deferred_ran = false;
  t.RunWhenUnlocked(0, {"k"}, [&] { deferred_ran = true; });
  for (uint64_t i = kCount; i-- > 1;) {
    TxShardEntry* e = &txs[i];
    t.RequestHop(e, [&t, &order, &depth, e] {
      int local = 0;
      depth.push_back(reinterpret_cast<uintptr_t>(&local));
      order.push_back(e->txid);
      t.Conclude(e);
    });
  }
  CHECK(order.empty());  // the head has not asked
  TxShardEntry* head = &txs[0];
  t.RequestHop(head, [&t, &order, &depth, head] {
    int local = 0;
    depth.push_back(reinterpret_cast<uintptr_t>(&local));
    order.push_back(head->txid);
    t.Conclude(head);
  });
  REQUIRE(order.size() == kCount);
  size_t out_of_order = 0;
  for (uint64_t i = 0; i < kCount; ++i) out_of_order += order[i] != i + 1;
  CHECK(out_of_order == 0);
  auto [lowest, highest] = std::minmax_element(depth.begin(), depth.end());
  CHECK(*highest - *lowest < 4096);
  CHECK_FALSE(t.IsLocked(0, "k"));
  CHECK(deferred_ran);
}

TEST_CASE("a shard refuses a transaction older than one that already started there") {
  ShardThread t(0, 16);
  TxShardEntry tx5 = Entry(5, {{0, "k"}});
  REQUIRE(t.Schedule(&tx5));
  bool ran = false;
  t.RequestHop(&tx5, [&] { ran = true; });
  REQUIRE(ran);
  TxShardEntry tx3 = Entry(3, {{0, "other"}});
  CHECK_FALSE(t.Schedule(&tx3));  // running it now would break the txid order
  CHECK_FALSE(t.IsLocked(0, "other"));
  TxShardEntry tx6 = Entry(6, {{0, "other"}});
  CHECK(t.Schedule(&tx6));
  // A script that ran inline marks its id started: older ids are refused from then on.
  t.MarkStarted(10);
  TxShardEntry tx8 = Entry(8, {});
  CHECK_FALSE(t.Schedule(&tx8));
  t.Conclude(&tx5);
  t.Conclude(&tx6);
  CHECK(t.DescribeTxState().find("queue=0") != std::string::npos);
}
