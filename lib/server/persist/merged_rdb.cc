#include "server/persist/merged_rdb.h"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "rdb/writer.h"
#include "server/core/server.h"
#include "server/persist/shard_snapshots.h"
#include "server/script/function_registry.h"
#include "server/core/transaction.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/snapshot.h"

namespace darter::server {

namespace {

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
  std::shared_ptr<ShardSnapshots> snaps;  // set once the cut is taken
  std::atomic<unsigned> shards_left{0};
  std::atomic<uint64_t> keys{0};
  std::atomic<bool> aborted{false};
  std::atomic<size_t> queued_bytes{0};

  std::mutex mu;  // guards the fields below
  std::condition_variable cv;
  std::deque<std::string> queue;
  bool started = false;  // every shard passed its snapshot point
  // The function libraries' sources as of shard 0's snapshot point (function changes
  // run on shard 0's thread: function_registry.h).
  std::vector<std::string> functions;
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
  void Abort() {
    aborted = true;
    std::lock_guard lk(mu);
    if (snaps) snaps->Abort();
  }
  void ProducersDone() {
    std::lock_guard lk(mu);
    producers_done = true;
    cv.notify_one();
  }
};

// The writer thread: waits for the cut, then header, AUX, chunks, EOF + CRC.
void WriterMain(const std::shared_ptr<Job>& job) {
  MergedRdbStats stats;
  CallbackSink sink(job->spec.write, &stats.bytes);
  {
    std::unique_lock lk(job->mu);
    job->cv.wait(lk, [&] { return job->started; });
  }
  rdb::WriterOptions wo;
  wo.rdb_version = job->spec.rdb_version;
  wo.compress = job->spec.compress;
  wo.checksum = job->spec.checksum;
  // FUNCTION2 records exist from RDB 10 (Redis 7.0) on; the shards' older encodings stay
  // valid in a version-10 file. Without libraries the requested version is kept.
  if (!job->functions.empty() && wo.rdb_version < 10) wo.rdb_version = 10;
  rdb::Writer w(&sink, wo);
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
  for (const std::string& lib : job->functions)
    if (st.ok()) st = w.WriteFunction(lib);
  if (!st.ok()) job->Abort();
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
    if (!st.ok()) job->Abort();
  }
  if (st.ok()) st = w.Finish();
  stats.keys = job->keys.load();
  if (job->spec.done) job->spec.done(st, stats);
}

// Takes the cut from a coroutine on shard 0; the shards then step on their own.
awaitable<void> StartHop(std::shared_ptr<Job> job) {
  ShardSnapshotsSpec spec;
  spec.rdb_version = job->spec.rdb_version;
  spec.compress = job->spec.compress;
  spec.at_point = [job](store::Shard& shard) {
    if (shard.index() == 0) {
      std::vector<std::string> libs;
      for (const LibraryPtr& lib : FunctionRegistry::Global().Libraries()) libs.push_back(lib->code);
      std::lock_guard lk(job->mu);
      job->functions = std::move(libs);
    }
    if (job->spec.at_point) job->spec.at_point(shard);
  };
  spec.chunk = [job](unsigned, std::string chunk) { job->Push(std::move(chunk)); };
  spec.paused = [job](unsigned) { return job->queued_bytes.load(std::memory_order_relaxed) > kMaxQueuedBytes; };
  spec.shard_done = [job](unsigned, const rdb::Status& st, uint64_t keys) {
    if (!st.ok() && !job->aborted.load()) job->Fail(st);
    job->keys.fetch_add(keys, std::memory_order_relaxed);
    if (job->shards_left.fetch_sub(1) == 1) job->ProducersDone();
  };
  auto snaps = co_await StartShardSnapshots(*job->server, std::move(spec));
  {
    std::lock_guard lk(job->mu);
    job->snaps = snaps;
    if (job->aborted.load()) snaps->Abort();
  }
  job->Started();
}

}  // namespace

std::thread StartMergedRdb(Server& server, MergedRdbSpec spec) {
  auto job = std::make_shared<Job>();
  job->server = &server;
  job->spec = std::move(spec);
  job->shards_left = server.shards().size();
  std::thread writer([job] { WriterMain(job); });
  asio::co_spawn(server.shards().at(0).ctx(), StartHop(job), asio::detached);
  return writer;
}

}  // namespace darter::server
