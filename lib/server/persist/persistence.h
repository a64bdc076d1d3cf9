// RDB persistence: SAVE, BGSAVE, the `save <seconds> <changes>` schedule, shutdown saves
// and start-up load, in Redis's RDB format (version 9, so Redis 6.2+ loads the file).
//
// Every save is a background save: one merged RDB of all shards at one consistent point
// (merged_rdb.h, built on store::ShardSnapshot; docs/persistence.md), written to a temp
// name in --dir, fsync'd, renamed over --dbfilename, and the directory fsync'd: a failed
// save never replaces a good file. SAVE is the same save, awaited.
//
// Thread-safety: Persistence's public methods may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "rdb/status.h"
#include "server/core/asio.h"

namespace darter::server {

class Server;
struct SaveJob;
class DirtyCounter;

class Persistence {
 public:
  explicit Persistence(Server& server);
  ~Persistence();

  // Attaches the change counters to the shards and starts the save schedule on
  // `timer_ctx`. REQUIRES: shard threads running (after the start-up load).
  void Start(asio::io_context& timer_ctx);
  // At shutdown: waits for a running background save, then saves when a schedule is set
  // and nothing decided the save question yet (SHUTDOWN and SIGTERM/SIGINT in Server::Run
  // decide it; an embedding's RequestShutdown, e.g. darter-migrate's, does not).
  // Blocks; call it off the shard threads while they still run.
  void OnShutdown();
  // Keys loaded from the RDB at start-up (INFO rdb_last_load_keys_loaded).
  void set_last_load_keys(uint64_t n) { last_load_keys_.store(n); }
  // Stops the schedule and waits for a running save. Idempotent. Call it on the timer
  // context's thread while the shard threads still run.
  void Stop();
  // SHUTDOWN [SAVE|NOSAVE] handled the save question itself.
  void set_shutdown_decided() { shutdown_decided_.store(true); }

  using DoneFn = std::function<void(const rdb::Status&)>;
  // Starts a background save to `path`; `done` runs on the writer thread when the file
  // is in place (or the save failed). False when a save is already running.
  bool StartBackgroundSave(const std::string& path, DoneFn done = {});
  bool bgsave_in_progress() const { return in_progress_.load(); }
  // Redis's stop-writes-on-bgsave-error state: the last save failed, a schedule is set and
  // the setting is on; write commands (and PING) are refused with MISCONF (dispatcher.h) until a
  // save succeeds. The first test is one atomic load, so the hot path pays nothing.
  bool WritesStopped() const;
  bool save_schedule_set() const;
  uint64_t changes_since_last_save() const;
  // Shard i's change count so far (its thread's view is exact). 0 before Start().
  uint64_t shard_changes(unsigned i) const;
  // The "# Persistence" section's lines, as Redis 7.0 prints them.
  std::string InfoLines() const;

 private:
  void ScheduleTick();
  void Finished(SaveJob& job, const rdb::Status& st, uint64_t keys);
  uint64_t TotalChanges() const;

  Server& server_;
  std::vector<std::unique_ptr<DirtyCounter>> counters_;
  std::unique_ptr<asio::steady_timer> timer_;
  std::atomic<bool> in_progress_{false};
  std::atomic<bool> shutdown_decided_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<uint64_t> last_load_keys_{0};
  std::atomic<bool> last_save_failed_{false};  // mirrors !last_bgsave_ok_ for lock-free reads
  mutable std::mutex mu_;  // guards the fields below and writer_
  std::condition_variable cv_;
  std::thread writer_;
  uint64_t saved_base_ = 0;  // total changes at the snapshot point of the last good save
  int64_t current_start_ms_ = 0;
  int64_t last_bgsave_try_ms_ = 0;
  bool last_bgsave_ok_ = true;
  int64_t last_bgsave_time_sec_ = -1;
  uint64_t rdb_saves_ = 0;
  uint64_t save_counter_ = 0;
};

// Writes the dataset to `path` (a background save, awaited). Fails with
// "Background save already in progress" when one runs.
awaitable<rdb::Status> SaveRdbFile(Server& server, const std::string& path);

// The same, after waiting for a running background save to finish (SHUTDOWN SAVE).
awaitable<rdb::Status> SaveRdbFileWhenIdle(Server& server, const std::string& path);

// Loads `path` into the shards from a coroutine (DEBUG RELOAD), dropping keys whose
// deadline passed; a key already present is replaced.
awaitable<rdb::Status> LoadRdbFile(Server& server, const std::string& path, uint64_t* keys_loaded);

// Loads `path` into the (empty) shards, dropping keys whose deadline passed. Blocks
// the caller until done. REQUIRES: shard threads running, no clients yet.
rdb::Status LoadRdbFileAtStartup(Server& server, const std::string& path, uint64_t* keys_loaded);

std::string RdbPath(Server& server);


}  // namespace darter::server
