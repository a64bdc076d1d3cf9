#include "server/full_sync_rdb.h"

#include "rdb/writer.h"
#include "server/journal.h"
#include "server/server.h"
#include "server/transaction.h"
#include "store/multi_shard_op.h"
#include "store/rdb_save.h"

namespace darter::server {

namespace {

using store::HopContext;
using store::HopPlan;
using store::HopTarget;

// One hop per (db, shard), db-major, so each database's keys are contiguous. Every shard
// is locked from before the first hop to after the last, so all hops see one state; the
// sync point goes into each shard's journal in that shard's first hop.
class FullSyncOp : public store::MultiShardOp {
 public:
  FullSyncOp(std::string* out, Journal& journal, uint64_t sync_id, unsigned db_count)
      : sink_(out), writer_(&sink_), journal_(journal), sync_id_(sync_id), db_count_(db_count) {}
  bool locks_whole_shards() const override { return true; }

  HopPlan FirstHop(unsigned shard_count) override {
    shard_count_ = shard_count;
    status_ = writer_.WriteHeader();
    if (status_.ok()) status_ = writer_.WriteAux("redis-ver", "7.0.15");
    if (status_.ok()) status_ = writer_.WriteAux("redis-bits", "64");
    if (status_.ok()) status_ = writer_.WriteAux("ctime", std::to_string(store::UnixTimeMs() / 1000));
    if (status_.ok()) status_ = writer_.WriteAux("aof-preamble", "0");
    // The stream after the RDB starts with a SELECT, so the replica's db is irrelevant.
    if (status_.ok()) status_ = writer_.WriteAux("repl-stream-db", "0");
    return {HopTarget::kShard, 0, 0};
  }

  void RunHop(int, HopContext& h) override {
    if (db_ == 0) journal_.shard(h.shard.index()).AppendSyncPoint(sync_id_, shard_count_);
    if (!status_.ok()) return;
    store::DbTable& table = h.shard.db(db_);
    if (table.size() == 0) return;
    if (!db_selected_) {
      db_selected_ = true;
      status_ = writer_.WriteSelectDb(db_);
      if (!status_.ok()) return;
    }
    table.Traverse(0, SIZE_MAX, [&](store::Slot& slot) {
      if (!status_.ok()) return;
      status_ = store::WriteSlot(writer_, slot, h.now_ms);
      if (status_.ok()) keys_++;
    });
  }

  HopPlan NextHop(int) override {
    // Even after an error, every shard gets its sync point (the merger waits for all).
    if (++shard_ == shard_count_) {
      shard_ = 0;
      db_selected_ = false;
      if (++db_ == db_count_) {
        if (status_.ok()) status_ = writer_.Finish();
        return {HopTarget::kDone};
      }
      if (!status_.ok()) return {HopTarget::kDone};
    }
    return {HopTarget::kShard, 0, shard_};
  }

  void Reply(resp::ReplyBuilder&) override {}
  const rdb::Status& status() const { return status_; }
  uint64_t keys() const { return keys_; }

 private:
  rdb::StringByteSink sink_;
  rdb::Writer writer_;
  Journal& journal_;
  uint64_t sync_id_;
  unsigned db_count_;
  unsigned shard_count_ = 1;
  unsigned db_ = 0;
  unsigned shard_ = 0;
  bool db_selected_ = false;
  rdb::Status status_;
  uint64_t keys_ = 0;
};

}  // namespace

awaitable<rdb::Status> BuildFullSyncRdb(Server& server, Journal& journal, uint64_t sync_id, std::string& out,
                                        uint64_t& keys) {
  FullSyncOp op(&out, journal, sync_id, server.db_count());
  std::string unused;
  resp::ReplyBuilder rb(&unused);
  std::vector<std::string_view> args = {"SYNC"};
  std::vector<size_t> no_keys;
  co_await RunOp(server.shards(), op, args, no_keys, 0, rb);
  keys = op.keys();
  co_return op.status();
}

}  // namespace darter::server
