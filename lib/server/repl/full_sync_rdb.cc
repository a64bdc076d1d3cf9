#include "server/repl/full_sync_rdb.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "server/repl/journal.h"
#include "server/core/log.h"
#include "server/persist/merged_rdb.h"
#include "server/core/server.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

FullSyncPayload::~FullSyncPayload() {
  if (fd_ >= 0) ::close(fd_);
}

size_t FullSyncPayload::Read(uint64_t offset, char* buf, size_t n) const {
  if (offset >= size_) return 0;
  n = static_cast<size_t>(std::min<uint64_t>(n, size_ - offset));
  if (fd_ < 0) {
    std::memcpy(buf, memory_.data() + offset, n);
    return n;
  }
  while (true) {
    ssize_t r = ::pread(fd_, buf, n, static_cast<off_t>(offset));
    if (r < 0 && errno == EINTR) continue;
    return r > 0 ? static_cast<size_t>(r) : 0;
  }
}

// The merged RDB's writer thread fills one of these; shared so that it outlives the
// awaiting coroutine if the server shuts down first.
struct FullSyncWriter {
  std::mutex mu;
  bool done = false;
  rdb::Status status;
  FullSyncPayload payload;  // written by the writer thread until `done`

  // Opens the unlinked temp file in `dir`; false leaves the payload in memory.
  bool OpenFile(const std::string& dir, uint64_t sync_id) {
    std::string path = dir + "/temp-fullsync-" + std::to_string(::getpid()) + "-" +
                       std::to_string(sync_id & 0xffffffff) + ".rdb";
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    ::unlink(path.c_str());
    payload.fd_ = fd;
    return true;
  }
  void SetKeys(uint64_t keys) { payload.keys_ = keys; }
  void MoveTo(FullSyncPayload& out) {
    std::swap(out.fd_, payload.fd_);
    out.memory_.swap(payload.memory_);
    out.size_ = payload.size_;
    out.keys_ = payload.keys_;
  }
  rdb::Status Append(std::string_view bytes) {
    FullSyncPayload& p = payload;
    if (p.fd_ < 0) {
      p.memory_.append(bytes);
      p.size_ += bytes.size();
      return rdb::Status();
    }
    while (!bytes.empty()) {
      ssize_t w = ::write(p.fd_, bytes.data(), bytes.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return rdb::Status::Error(std::string("writing the full-sync RDB: ") + std::strerror(errno));
      bytes.remove_prefix(static_cast<size_t>(w));
      p.size_ += static_cast<uint64_t>(w);
    }
    return rdb::Status();
  }
};

awaitable<rdb::Status> BuildFullSyncRdb(Server& server, Journal& journal, uint64_t sync_id, FullSyncPayload& out,
                                        const std::function<void()>& every_second, unsigned stream_db) {
  auto result = std::make_shared<FullSyncWriter>();
  if (!result->OpenFile(server.config().Snapshot().dir, sync_id))
    LOG_WARNING("replication: cannot create a temp file in --dir for the full sync (%s); building it in memory",
                std::strerror(errno));
  const unsigned shard_count = server.shards().size();
  Journal* j = &journal;
  MergedRdbSpec spec;
  {
    ServerOptions o = server.config().Snapshot();
    spec.compress = o.rdbcompression;
    spec.checksum = o.rdbchecksum;
  }
  // The snapshot point of each shard and its journal's sync point, in one shard task.
  spec.at_point = [j, sync_id, shard_count](store::Shard& shard) {
    j->shard(shard.index()).AppendSyncPoint(sync_id, shard_count);
  };
  // A journal stream after the RDB starts with a SELECT; a proxied one goes on in the db
  // its primary last selected, which the replica must know.
  spec.aux = [stream_db] {
    return std::vector<std::pair<std::string, std::string>>{{"repl-stream-db", std::to_string(stream_db)}};
  };
  spec.write = [result](std::string_view bytes) { return result->Append(bytes); };
  spec.done = [result](const rdb::Status& st, const MergedRdbStats& stats) {
    std::lock_guard lk(result->mu);
    result->status = st;
    result->SetKeys(stats.keys);
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
  std::lock_guard lk(result->mu);
  result->MoveTo(out);
  co_return result->status;
}

}  // namespace darter::server
