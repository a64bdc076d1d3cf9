#include "server/persist/shard_snapshots.h"

#include <vector>

#include "server/core/server.h"
#include "server/core/transaction.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/snapshot.h"

namespace darter::server {

namespace {
constexpr size_t kStepBudget = 1000;  // slots per step between commands
}  // namespace

// The shards' snapshots, each touched only on its shard thread.
struct ShardSnapshots::State {
  Server* server = nullptr;
  ShardSnapshotsSpec spec;
  std::vector<std::unique_ptr<store::ShardSnapshot>> snaps;
  std::vector<rdb::Status> start_errors;
  std::atomic<unsigned> shards_left{0};
  ShardSnapshots* owner = nullptr;  // kept alive by the steps' shared_ptr
};

namespace {

using State = ShardSnapshots::State;

class StartSnapshotsOp : public store::MultiShardOp {
 public:
  explicit StartSnapshotsOp(State* st) : st_(st) {}
  bool locks_whole_shards() const override { return true; }
  store::HopPlan FirstHop(unsigned) override { return {store::HopTarget::kAllShards}; }
  void RunHop(int, store::HopContext& h) override {
    State* st = st_;
    const unsigned i = h.shard.index();
    store::SnapshotOptions opts;
    opts.rdb_version = st->spec.rdb_version;
    opts.compress = st->spec.compress;
    auto snap = std::make_unique<store::ShardSnapshot>(
        h.shard, [st, i](std::string chunk) { st->spec.chunk(i, std::move(chunk)); }, opts);
    st->start_errors[i] = snap->Start();
    if (st->spec.at_point) st->spec.at_point(h.shard);
    st->snaps[i] = std::move(snap);
  }
  store::HopPlan NextHop(int) override { return {store::HopTarget::kDone}; }
  void Reply(resp::ReplyBuilder&) override {}

 private:
  State* st_;
};

void FinishShard(const std::shared_ptr<ShardSnapshots>& set, State* st, unsigned i) {
  store::ShardSnapshot& snap = *st->snaps[i];
  rdb::Status status = !st->start_errors[i].ok() ? st->start_errors[i] : snap.status();
  if (status.ok() && set->aborted()) status = rdb::Status::Error("snapshot aborted");
  uint64_t keys = snap.keys_written();
  st->snaps[i].reset();
  st->spec.shard_done(i, status, keys);
  // The callbacks often hold whoever holds this set (a cycle): the last shard lets go.
  if (st->shards_left.fetch_sub(1) == 1) st->spec = ShardSnapshotsSpec{};
}

// One bounded step of shard i's walk, then back to the loop (commands run between steps).
void StepShard(std::shared_ptr<ShardSnapshots> set, std::shared_ptr<State> st, unsigned i) {
  ShardThread& thread = st->server->shards().at(i);
  store::ShardSnapshot* snap = st->snaps[i].get();
  if (snap->running() && set->aborted()) snap->Cancel();
  if (!snap->running()) {
    FinishShard(set, st.get(), i);
    return;
  }
  if (st->spec.paused && st->spec.paused(i)) {
    auto t = std::make_shared<asio::steady_timer>(thread.ctx(), std::chrono::milliseconds(1));
    t->async_wait([set, st, i, t](const boost::system::error_code&) { StepShard(set, st, i); });
    return;
  }
  if (snap->Step(kStepBudget)) {
    FinishShard(set, st.get(), i);
    return;
  }
  asio::post(thread.ctx(), [set, st, i] { StepShard(set, st, i); });
}

}  // namespace

awaitable<std::shared_ptr<ShardSnapshots>> StartShardSnapshots(Server& server, ShardSnapshotsSpec spec) {
  auto set = std::make_shared<ShardSnapshots>();
  auto st = std::make_shared<State>();
  st->server = &server;
  st->spec = std::move(spec);
  const unsigned n = server.shards().size();
  st->snaps.resize(n);
  st->start_errors.resize(n);
  st->shards_left = n;
  set->state_ = st;
  StartSnapshotsOp op(st.get());
  std::string unused;
  resp::ReplyBuilder rb(&unused);
  std::vector<std::string_view> args = {"BGSAVE"};
  std::vector<size_t> no_keys;
  co_await RunOp(server.shards(), op, args, no_keys, 0, rb);
  for (unsigned i = 0; i < n; ++i) asio::post(server.shards().at(i).ctx(), [set, st, i] { StepShard(set, st, i); });
  co_return set;
}

}  // namespace darter::server
