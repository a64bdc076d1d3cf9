#include "server/merged_rdb.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "rdb/writer.h"
#include "server/server.h"
#include "server/transaction.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/snapshot.h"

namespace darter::server {

namespace {

constexpr size_t kStepBudget = 1000;         // slots per step between commands
constexpr size_t kMaxQueuedBytes = 8 << 20;  // chunks waiting for the writer thread

// Forwards the writer's output to the spec's `write`, counting bytes.
class CallbackSink : public rdb::ByteSink {
 public:
  CallbackSink(const std::function<rdb::Status(std::string_view)>& fn, uint64_t* bytes) : fn_(fn), bytes_(bytes) {}
  rdb::Status Write(std::string_view b) override {
    *bytes_ += b.size();
    return fn_(b);
  }

 private:
  const std::function<rdb::Status(std::string_view)>& fn_;
  uint64_t* bytes_;
};

// One merged RDB in flight: the shards' snapshots (each touched only on its shard
// thread) and the chunk queue the writer thread drains.
struct Job {
  Server* server = nullptr;
  MergedRdbSpec spec;
  std::vector<std::unique_ptr<store::ShardSnapshot>> snaps;
  std::atomic<unsigned> shards_left{0};
  std::atomic<uint64_t> keys{0};
  std::atomic<bool> aborted{false};
  std::atomic<size_t> queued_bytes{0};

  std::mutex mu;  // guards the fields below
  std::condition_variable cv;
  std::deque<std::string> queue;
  bool started = false;  // every shard passed its snapshot point
  bool producers_done = false;
  rdb::Status error;

  void Push(std::string chunk) {
    queued_bytes.fetch_add(chunk.size(), std::memory_order_relaxed);
    std::lock_guard lk(mu);
    queue.push_back(std::move(chunk));
    cv.notify_one();
  }
  void Fail(const rdb::Status& st) {
    std::lock_guard lk(mu);
    if (error.ok()) error = st;
  }
  void Started() {
    std::lock_guard lk(mu);
    started = true;
    cv.notify_one();
  }
  void ProducersDone() {
    std::lock_guard lk(mu);
    producers_done = true;
    cv.notify_one();
  }
};

// Starts every shard's snapshot in one whole-shard hop.
class StartSnapshotsOp : public store::MultiShardOp {
 public:
  explicit StartSnapshotsOp(Job* job) : job_(job) {}
  bool locks_whole_shards() const override { return true; }
  store::HopPlan FirstHop(unsigned) override { return {store::HopTarget::kAllShards}; }
  void RunHop(int, store::HopContext& h) override {
    Job* job = job_;
    store::SnapshotOptions opts;
    opts.rdb_version = job->spec.rdb_version;
    auto snap = std::make_unique<store::ShardSnapshot>(
        h.shard, [job](std::string chunk) { job->Push(std::move(chunk)); }, opts);
    rdb::Status st = snap->Start();
    if (!st.ok()) job->Fail(st);
    if (job->spec.at_point) job->spec.at_point(h.shard);
    job->snaps[h.shard.index()] = std::move(snap);
  }
  store::HopPlan NextHop(int) override { return {store::HopTarget::kDone}; }
  void Reply(resp::ReplyBuilder&) override {}

 private:
  Job* job_;
};

void FinishShard(const std::shared_ptr<Job>& job, unsigned i) {
  store::ShardSnapshot& snap = *job->snaps[i];
  if (!snap.status().ok()) job->Fail(snap.status());
  job->keys.fetch_add(snap.keys_written(), std::memory_order_relaxed);
  job->snaps[i].reset();
  if (job->shards_left.fetch_sub(1) == 1) job->ProducersDone();
}

// One bounded step of shard i's snapshot, then back to the loop (commands run between
// steps). Waits while the writer is behind; cancels when the job was aborted.
void StepShard(std::shared_ptr<Job> job, unsigned i) {
  ShardThread& st = job->server->shards().at(i);
  store::ShardSnapshot* snap = job->snaps[i].get();
  if (snap->running() && job->aborted.load()) snap->Cancel();
  if (!snap->running()) {
    FinishShard(job, i);
    return;
  }
  if (job->queued_bytes.load(std::memory_order_relaxed) > kMaxQueuedBytes) {
    auto t = std::make_shared<asio::steady_timer>(st.ctx(), std::chrono::milliseconds(1));
    t->async_wait([job, i, t](const boost::system::error_code&) { StepShard(job, i); });
    return;
  }
  if (snap->Step(kStepBudget)) {
    FinishShard(job, i);
    return;
  }
  asio::post(st.ctx(), [job, i] { StepShard(job, i); });
}

// The writer thread: waits for the cut, then header, AUX, chunks, EOF + CRC.
void WriterMain(const std::shared_ptr<Job>& job) {
  MergedRdbStats stats;
  CallbackSink sink(job->spec.write, &stats.bytes);
  rdb::WriterOptions wo;
  wo.rdb_version = job->spec.rdb_version;
  rdb::Writer w(&sink, wo);
  {
    std::unique_lock lk(job->mu);
    job->cv.wait(lk, [&] { return job->started; });
  }
  rdb::Status st = w.WriteHeader();
  if (st.ok()) st = w.WriteAux("redis-ver", "7.0.15");
  if (st.ok()) st = w.WriteAux("redis-bits", "64");
  if (st.ok()) st = w.WriteAux("ctime", std::to_string(store::UnixTimeMs() / 1000));
  if (st.ok()) st = w.WriteAux("used-mem", std::to_string(job->server->used_memory()));
  if (st.ok() && job->spec.aux) {
    for (auto& [k, v] : job->spec.aux()) {
      if (st.ok()) st = w.WriteAux(k, v);
    }
  }
  if (st.ok()) st = w.WriteAux("aof-base", "0");
  if (!st.ok()) job->aborted = true;
  while (true) {
    std::string chunk;
    {
      std::unique_lock lk(job->mu);
      job->cv.wait(lk, [&] { return !job->queue.empty() || job->producers_done; });
      if (job->queue.empty()) {
        if (st.ok() && !job->error.ok()) st = job->error;
        break;
      }
      chunk = std::move(job->queue.front());
      job->queue.pop_front();
    }
    job->queued_bytes.fetch_sub(chunk.size(), std::memory_order_relaxed);
    if (!st.ok()) continue;  // after a failure: drain, so no shard waits for space
    st = w.WriteRecords(chunk);
    if (!st.ok()) job->aborted = true;
  }
  if (st.ok()) st = w.Finish();
  stats.keys = job->keys.load();
  if (job->spec.done) job->spec.done(st, stats);
}

// Runs the start hop from a coroutine on shard 0, then sets every shard stepping.
awaitable<void> StartHop(std::shared_ptr<Job> job) {
  StartSnapshotsOp op(job.get());
  std::string unused;
  resp::ReplyBuilder rb(&unused);
  std::vector<std::string_view> args = {"BGSAVE"};
  std::vector<size_t> no_keys;
  co_await RunOp(job->server->shards(), op, args, no_keys, 0, rb);
  job->Started();
  for (unsigned i = 0; i < job->snaps.size(); ++i)
    asio::post(job->server->shards().at(i).ctx(), [job, i] { StepShard(job, i); });
}

}  // namespace

std::thread StartMergedRdb(Server& server, MergedRdbSpec spec) {
  auto job = std::make_shared<Job>();
  job->server = &server;
  job->spec = std::move(spec);
  unsigned n = server.shards().size();
  job->snaps.resize(n);
  job->shards_left = n;
  std::thread writer([job] { WriterMain(job); });
  asio::co_spawn(server.shards().at(0).ctx(), StartHop(job), asio::detached);
  return writer;
}

}  // namespace darter::server
