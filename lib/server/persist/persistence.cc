#include "server/core/config.h"
#include "server/persist/persistence.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <future>
#include <sstream>

#include "rdb/writer.h"
#include "server/core/log.h"
#include "server/persist/merged_rdb.h"
#include "server/persist/rdb_loader.h"
#include "server/core/server.h"
#include "store/shard.h"
#include "store/write_observer.h"

namespace darter::server {

// Per-shard count of changes (Effects::dirty) for `save <seconds> <changes>` and
// rdb_changes_since_last_save. Written by its shard thread only; read anywhere.
class DirtyCounter : public store::WriteObserver {
 public:
  void OnWrite(store::Shard&, const store::AppliedWrite& w) override {
    if (w.expired) return;  // as Redis: expiry is not a change the schedule counts
    n_.store(n_.load(std::memory_order_relaxed) + w.effects.dirty(), std::memory_order_relaxed);
  }
  uint64_t value() const { return n_.load(std::memory_order_relaxed); }

 private:
  alignas(64) std::atomic<uint64_t> n_{0};
};

namespace {

constexpr int64_t kBgsaveRetryDelayMs = 5000;  // Redis's CONFIG_BGSAVE_RETRY_DELAY

void FsyncDir(const std::string& path) {
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

// One save to a file: the temp file, and each shard's change count at the snapshot
// point (what a successful save subtracts from rdb_changes_since_last_save).
struct SaveJob {
  std::string path, tmp;
  std::FILE* file = nullptr;
  Persistence::DoneFn done;
  std::vector<uint64_t> base;
};

namespace {

// Closes the temp file; on success fsyncs, renames over the target and fsyncs the
// directory, otherwise removes the temp file. The good file is never touched on failure.
rdb::Status FinishFile(SaveJob& job, rdb::Status st) {
  if (st.ok() && (std::fflush(job.file) != 0 || ::fsync(fileno(job.file)) != 0))
    st = rdb::Status::Error("cannot write " + job.tmp + ": " + std::strerror(errno));
  if (std::fclose(job.file) != 0 && st.ok()) st = rdb::Status::Error("cannot close " + job.tmp + ": " + std::strerror(errno));
  job.file = nullptr;
  if (st.ok() && std::rename(job.tmp.c_str(), job.path.c_str()) != 0)
    st = rdb::Status::Error("cannot rename " + job.tmp + " to " + job.path + ": " + std::strerror(errno));
  if (st.ok()) FsyncDir(job.path);
  else std::remove(job.tmp.c_str());
  return st;
}

}  // namespace

Persistence::Persistence(Server& server) : server_(server) {}

Persistence::~Persistence() {
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return !in_progress_.load(); });
  if (writer_.joinable()) writer_.join();
}

void Persistence::Start(asio::io_context& timer_ctx) {
  ShardSet& shards = server_.shards();
  for (unsigned i = 0; i < shards.size(); ++i) counters_.push_back(std::make_unique<DirtyCounter>());
  for (unsigned i = 0; i < shards.size(); ++i) {
    std::promise<void> added;
    asio::post(shards.at(i).ctx(), [&, i] {
      shards.at(i).shard().AddWriteObserver(counters_[i].get());
      added.set_value();
    });
    added.get_future().wait();
  }
  timer_ = std::make_unique<asio::steady_timer>(timer_ctx);
  ScheduleTick();
}

uint64_t Persistence::TotalChanges() const {
  uint64_t n = 0;
  for (auto& c : counters_) n += c->value();
  return n;
}

uint64_t Persistence::shard_changes(unsigned i) const { return i < counters_.size() ? counters_[i]->value() : 0; }

uint64_t Persistence::changes_since_last_save() const {
  uint64_t total = TotalChanges();
  std::lock_guard lk(mu_);
  return total >= saved_base_ ? total - saved_base_ : 0;
}

bool Persistence::WritesStopped() const {
  return last_save_failed_.load(std::memory_order_acquire) && server_.config().stop_writes_on_bgsave_error() &&
         save_schedule_set();
}

bool Persistence::save_schedule_set() const {
  std::vector<std::pair<int64_t, int64_t>> points;
  return ParseSavePoints(server_.config().Snapshot().save, &points) && !points.empty();
}

void Persistence::ScheduleTick() {
  timer_->expires_after(std::chrono::milliseconds(100));
  timer_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_.load()) return;
    std::vector<std::pair<int64_t, int64_t>> points;
    if (!in_progress_.load() && ParseSavePoints(server_.config().Snapshot().save, &points) && !points.empty()) {
      int64_t now_ms = store::UnixTimeMs();
      uint64_t changes = changes_since_last_save();
      bool retry_ok;
      {
        std::lock_guard lk(mu_);
        retry_ok = last_bgsave_ok_ || now_ms - last_bgsave_try_ms_ > kBgsaveRetryDelayMs;
      }
      int64_t since = now_ms / 1000 - server_.last_save_time();
      for (auto [secs, min_changes] : points) {
        if (changes >= static_cast<uint64_t>(min_changes) && since > secs && retry_ok) {
          LOG_NOTICE("%lld changes in %lld seconds. Saving...", static_cast<long long>(min_changes),
                     static_cast<long long>(secs));
          StartBackgroundSave(RdbPath(server_));
          break;
        }
      }
    }
    ScheduleTick();
  });
}

bool Persistence::StartBackgroundSave(const std::string& path, DoneFn done) {
  if (in_progress_.exchange(true)) return false;
  auto job = std::make_shared<SaveJob>();
  job->path = path;
  job->done = std::move(done);
  job->base.assign(server_.shards().size(), 0);
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  {
    std::lock_guard lk(mu_);
    if (writer_.joinable()) writer_.join();  // the previous save's thread is past its work
    current_start_ms_ = store::UnixTimeMs();
    last_bgsave_try_ms_ = current_start_ms_;
    rdb_saves_++;  // as Redis, every attempt counts
    job->tmp = dir + "/temp-" + std::to_string(getpid()) + "-" + std::to_string(++save_counter_) + ".rdb";
  }
  job->file = std::fopen(job->tmp.c_str(), "wb");
  if (!job->file) {
    rdb::Status st = rdb::Status::Error("Failed opening the temp RDB file " + job->tmp + " (in server root dir " + dir +
                                        ") for saving: " + std::strerror(errno));
    std::lock_guard lk(mu_);
    writer_ = std::thread([this, job, st] { Finished(*job, st, 0); });
    return true;
  }
  std::setvbuf(job->file, nullptr, _IOFBF, 1 << 20);
  LOG_NOTICE("Background saving started");
  MergedRdbSpec spec;
  {
    ServerOptions o = server_.config().Snapshot();
    spec.compress = o.rdbcompression;
    spec.checksum = o.rdbchecksum;
  }
  spec.at_point = [this, job](store::Shard& shard) { job->base[shard.index()] = shard_changes(shard.index()); };
  spec.write = [job](std::string_view bytes) -> rdb::Status {
    if (std::fwrite(bytes.data(), 1, bytes.size(), job->file) != bytes.size())
      return rdb::Status::Error("cannot write " + job->tmp + ": " + std::strerror(errno));
    return {};
  };
  spec.done = [this, job](const rdb::Status& st, const MergedRdbStats& stats) {
    Finished(*job, FinishFile(*job, st), stats.keys);
  };
  std::lock_guard lk(mu_);
  writer_ = StartMergedRdb(server_, std::move(spec));
  return true;
}

void Persistence::Finished(SaveJob& job, const rdb::Status& st, uint64_t keys) {
  int64_t now = store::UnixTimeMs();
  {
    std::lock_guard lk(mu_);
    last_bgsave_ok_ = st.ok();
    last_save_failed_.store(!st.ok(), std::memory_order_release);
    last_bgsave_time_sec_ = (now - current_start_ms_) / 1000;
    if (st.ok()) {
      uint64_t base = 0;
      for (uint64_t b : job.base) base += b;
      saved_base_ = base;
    }
  }
  if (st.ok()) {
    server_.set_last_save_time(now / 1000);
    LOG_NOTICE("DB saved on disk: %llu keys in %lld ms (%s)", static_cast<unsigned long long>(keys),
               static_cast<long long>(now - current_start_ms_), job.path.c_str());
  } else {
    LOG_WARNING("Background saving error: %s", st.message().c_str());
  }
  DoneFn done = std::move(job.done);
  {
    std::lock_guard lk(mu_);
    in_progress_.store(false);
    cv_.notify_all();
  }
  if (done) done(st);
}

std::string Persistence::InfoLines() const {
  std::lock_guard lk(mu_);
  bool running = in_progress_.load();
  int64_t now = store::UnixTimeMs();
  uint64_t total = 0;
  for (auto& c : counters_) total += c->value();
  std::ostringstream o;
  o << "loading:" << (server_.loading() ? 1 : 0) << "\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\n"
    << "current_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\n"
    << "current_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\n"
    << "rdb_changes_since_last_save:" << (total >= saved_base_ ? total - saved_base_ : 0) << "\r\n"
    << "rdb_bgsave_in_progress:" << (running ? 1 : 0) << "\r\n"
    << "rdb_last_save_time:" << server_.last_save_time() << "\r\n"
    << "rdb_last_bgsave_status:" << (last_bgsave_ok_ ? "ok" : "err") << "\r\n"
    << "rdb_last_bgsave_time_sec:" << last_bgsave_time_sec_ << "\r\n"
    << "rdb_current_bgsave_time_sec:" << (running ? (now - current_start_ms_) / 1000 : -1) << "\r\n"
    << "rdb_saves:" << rdb_saves_ << "\r\nrdb_last_cow_size:0\r\n"
    << "rdb_last_load_keys_expired:0\r\nrdb_last_load_keys_loaded:" << last_load_keys_.load() << "\r\n"
    << "aof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\n"
    << "aof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\n"
    << "aof_rewrites:0\r\naof_rewrites_consecutive_failures:0\r\naof_last_write_status:ok\r\n"
    << "aof_last_cow_size:0\r\nmodule_fork_in_progress:0\r\nmodule_fork_last_cow_size:0\r\n";
  return o.str();
}

void Persistence::Stop() {
  stopped_.store(true);
  if (timer_) {
    timer_->cancel();
    timer_.reset();
  }
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return !in_progress_.load(); });
}

void Persistence::OnShutdown() {
  Stop();
  if (shutdown_decided_.load() || !save_schedule_set()) return;
  LOG_NOTICE("Saving the final RDB snapshot before exiting.");
  std::promise<rdb::Status> saved;
  if (!StartBackgroundSave(RdbPath(server_), [&](const rdb::Status& st) { saved.set_value(st); })) return;
  rdb::Status st = saved.get_future().get();
  if (!st.ok()) LOG_WARNING("Error trying to save the DB: %s", st.message().c_str());
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return !in_progress_.load(); });
}

std::string RdbPath(Server& server) {
  ServerOptions now = server.config().Snapshot();
  return now.dir + "/" + now.dbfilename;
}

awaitable<rdb::Status> SaveRdbFile(Server& server, const std::string& path) {
  return asio::async_initiate<decltype(use_awaitable), void(rdb::Status)>(
      [&server, path](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto ex = asio::get_associated_executor(*h);
        bool started = server.persistence().StartBackgroundSave(path, [h, ex](const rdb::Status& st) {
          asio::post(ex, [h, st]() mutable { (*h)(st); });
        });
        if (!started)
          asio::post(ex, [h]() mutable { (*h)(rdb::Status::Error("Background save already in progress")); });
      },
      use_awaitable);
}

awaitable<rdb::Status> SaveRdbFileWhenIdle(Server& server, const std::string& path) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  for (int tries = 0; tries < 100000; ++tries) {  // bounded: a save ends; ~17 min cap
    while (server.persistence().bgsave_in_progress()) {
      timer.expires_after(std::chrono::milliseconds(10));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    }
    rdb::Status st = co_await SaveRdbFile(server, path);
    if (st.ok() || st.message() != "Background save already in progress") co_return st;
  }
  co_return rdb::Status::Error("Background save already in progress");
}

awaitable<rdb::Status> LoadRdbFile(Server& server, const std::string& path, uint64_t* keys_loaded) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) co_return rdb::Status::Error("cannot open " + path + ": " + std::strerror(errno));
  ShardedRdbLoader loader(server.shards(), server.db_count(), /*keep_expired=*/false,
                          server.config().Snapshot().rdbchecksum);
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
  ::close(fd);
  *keys_loaded = loader.keys_loaded();
  co_return st;
}

rdb::Status LoadRdbFileAtStartup(Server& server, const std::string& path, uint64_t* keys_loaded) {
  std::promise<rdb::Status> done;
  auto fut = done.get_future();
  asio::co_spawn(
      server.shards().at(0).ctx(),
      [&]() -> awaitable<void> {
        rdb::Status st = co_await LoadRdbFile(server, path, keys_loaded);
        done.set_value(st);
      },
      asio::detached);
  return fut.get();
}

}  // namespace darter::server
