#include "server/full_sync_rdb.h"

#include <mutex>

#include "server/journal.h"
#include "server/merged_rdb.h"
#include "server/server.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {
// What the merged RDB's writer thread hands back; shared so that it outlives the
// awaiting coroutine if the server shuts down first.
struct FullSyncResult {
  std::mutex mu;
  bool done = false;
  rdb::Status status;
  uint64_t keys = 0;
  std::string rdb;  // appended by the writer thread until `done`
};
}  // namespace

awaitable<rdb::Status> BuildFullSyncRdb(Server& server, Journal& journal, uint64_t sync_id, std::string& out,
                                        uint64_t& keys, const std::function<void()>& every_second) {
  auto result = std::make_shared<FullSyncResult>();
  const unsigned shard_count = server.shards().size();
  Journal* j = &journal;
  MergedRdbSpec spec;
  // The snapshot point of each shard and its journal's sync point, in one shard task.
  spec.at_point = [j, sync_id, shard_count](store::Shard& shard) {
    j->shard(shard.index()).AppendSyncPoint(sync_id, shard_count);
  };
  // The stream after the RDB starts with a SELECT, so the replica's db is irrelevant.
  spec.aux = [] { return std::vector<std::pair<std::string, std::string>>{{"repl-stream-db", "0"}}; };
  spec.write = [result](std::string_view bytes) {
    result->rdb.append(bytes);
    return rdb::Status();
  };
  spec.done = [result](const rdb::Status& st, const MergedRdbStats& stats) {
    std::lock_guard lk(result->mu);
    result->status = st;
    result->keys = stats.keys;
    result->done = true;
  };
  StartMergedRdb(server, std::move(spec)).detach();
  asio::steady_timer timer(co_await asio::this_coro::executor);
  int64_t next_tick = store::UnixTimeMs() + 1000;
  while (true) {
    {
      std::lock_guard lk(result->mu);
      if (result->done) break;
    }
    if (store::UnixTimeMs() >= next_tick) {
      every_second();
      next_tick += 1000;
    }
    timer.expires_after(std::chrono::milliseconds(5));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
  }
  out.swap(result->rdb);
  keys = result->keys;
  co_return result->status;
}

}  // namespace darter::server
