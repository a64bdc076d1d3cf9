#include "server/persistence.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <future>

#include "rdb/writer.h"
#include "server/log.h"
#include "server/rdb_loader.h"
#include "server/server.h"
#include "server/transaction.h"
#include "store/multi_shard_op.h"
#include "store/rdb_save.h"

namespace darter::server {

namespace {

using store::HopContext;
using store::HopPlan;
using store::HopTarget;

// Writes db 0 on shard 0, db 0 on shard 1, ..., db 1 on shard 0, ...: one hop each, so
// every database's keys are contiguous in the file as the format requires.
class SaveOp : public store::MultiShardOp {
 public:
  SaveOp(std::FILE* f, unsigned db_count) : sink_(f), writer_(&sink_), db_count_(db_count) {}
  bool locks_whole_shards() const override { return true; }

  HopPlan FirstHop(unsigned shard_count) override {
    shard_count_ = shard_count;
    status_ = writer_.WriteHeader();
    if (status_.ok()) status_ = writer_.WriteAux("redis-ver", "7.0.15");
    if (status_.ok()) status_ = writer_.WriteAux("redis-bits", "64");
    if (status_.ok()) status_ = writer_.WriteAux("ctime", std::to_string(store::UnixTimeMs() / 1000));
    if (status_.ok()) status_ = writer_.WriteAux("aof-preamble", "0");
    if (!status_.ok()) return {HopTarget::kDone};
    return {HopTarget::kShard, 0, 0};
  }

  void RunHop(int, HopContext& h) override {
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
    if (!status_.ok()) return {HopTarget::kDone};
    if (++shard_ == shard_count_) {
      shard_ = 0;
      db_selected_ = false;
      if (++db_ == db_count_) {
        status_ = writer_.Finish();
        return {HopTarget::kDone};
      }
    }
    return {HopTarget::kShard, 0, shard_};
  }

  void Reply(resp::ReplyBuilder&) override {}
  const rdb::Status& status() const { return status_; }
  uint64_t keys() const { return keys_; }

 private:
  rdb::FileByteSink sink_;
  rdb::Writer writer_;
  unsigned db_count_;
  unsigned shard_count_ = 1;
  unsigned db_ = 0;
  unsigned shard_ = 0;
  bool db_selected_ = false;
  rdb::Status status_;
  uint64_t keys_ = 0;
};

}  // namespace

std::string RdbPath(Server& server) {
  ServerOptions now = server.config().Snapshot();
  return now.dir + "/" + now.dbfilename;
}

awaitable<rdb::Status> SaveRdbFile(Server& server, const std::string& path) {
  std::string tmp = path + ".tmp-" + std::to_string(getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) co_return rdb::Status::Error("cannot open " + tmp + " for writing: " + std::strerror(errno));
  std::setvbuf(f, nullptr, _IOFBF, 1 << 20);
  SaveOp op(f, server.db_count());
  std::string unused;
  resp::ReplyBuilder rb(&unused);
  std::vector<std::string_view> args = {"SAVE"};
  std::vector<size_t> no_keys;
  int64_t start = store::UnixTimeMs();
  co_await RunOp(server.shards(), op, args, no_keys, 0, rb);
  rdb::Status st = op.status();
  if (std::fflush(f) != 0 || fsync(fileno(f)) != 0) {
    if (st.ok()) st = rdb::Status::Error("cannot write " + tmp + ": " + std::strerror(errno));
  }
  std::fclose(f);
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
    st = rdb::Status::Error("cannot rename " + tmp + " to " + path + ": " + std::strerror(errno));
  if (!st.ok()) {
    std::remove(tmp.c_str());
    LOG_WARNING("SAVE failed: %s", st.message().c_str());
  } else {
    LOG_NOTICE("DB saved on disk: %llu keys in %lld ms (%s)", static_cast<unsigned long long>(op.keys()),
               static_cast<long long>(store::UnixTimeMs() - start), path.c_str());
  }
  co_return st;
}

rdb::Status LoadRdbFileAtStartup(Server& server, const std::string& path, uint64_t* keys_loaded) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return rdb::Status::Error("cannot open " + path + ": " + std::strerror(errno));
  std::promise<rdb::Status> done;
  auto fut = done.get_future();
  asio::co_spawn(
      server.shards().at(0).ctx(),
      [&]() -> awaitable<void> {
        ShardedRdbLoader loader(server.shards(), server.db_count(), /*keep_expired=*/false);
        std::vector<char> buf(1 << 20);
        rdb::Status st;
        while (st.ok() && !loader.done()) {
          ssize_t n = ::read(fd, buf.data(), buf.size());
          if (n < 0) {
            st = rdb::Status::Error("read error on " + path + ": " + std::strerror(errno));
            break;
          }
          if (n == 0) {
            st = loader.Finish();
            break;
          }
          st = loader.Feed(std::string_view(buf.data(), static_cast<size_t>(n)), nullptr);
          if (loader.ShouldFlush()) co_await loader.Flush();
        }
        co_await loader.Flush();
        *keys_loaded = loader.keys_loaded();
        done.set_value(st);
      },
      asio::detached);
  rdb::Status st = fut.get();
  ::close(fd);
  return st;
}

}  // namespace darter::server
