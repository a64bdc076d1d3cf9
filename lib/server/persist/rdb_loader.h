// ShardedRdbLoader: loads an RDB, fed incrementally from a socket or a file, straight
// into the shards. Values are built on the feeding thread (lib/store's
// RdbValueBuilder), batched per owning shard and posted to the shard threads; Flush()
// waits until every posted batch is in, which bounds memory to the batches in flight.
//
// Function libraries (Redis 7.0's FUNCTION2 records) are compiled on the feeding thread
// as they arrive (one that does not compile stops the load, as in Redis) and replace the
// server's libraries once the RDB's end is read, as a Redis load or full sync does.
//
// Thread-safety: Feed/Flush from one coroutine (one thread); the shards are touched
// only on their own threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "rdb/reader.h"
#include "server/core/asio.h"
#include "server/core/shard_set.h"
#include "server/script/function_registry.h"
#include "store/rdb_load.h"

namespace darter::server {

class ShardedRdbLoader {
 public:
  // `keep_expired`: a replica keeps keys whose deadline passed (the primary's DEL will
  // come); a master loading a file drops them, as Redis does.
  // `verify_checksum`: rdbchecksum (a file saved without one, CRC 0, is never checked).
  ShardedRdbLoader(ShardSet& shards, unsigned db_count, bool keep_expired, bool verify_checksum = true);

  // Decodes `data`; *consumed tells how many bytes belonged to the RDB (the rest is
  // what follows it on the wire). Errors name the byte offset.
  rdb::Status Feed(std::string_view data, size_t* consumed);
  rdb::Status Finish() { return reader_.Finish(); }
  // The RDB's libraries are added to the server's instead of replacing them: a
  // multi-flow full sync carries them on flow 0 only, and the other flows' RDBs must not
  // drop them.
  void keep_other_functions() { replace_functions_ = false; }
  bool done() const { return reader_.done(); }
  uint64_t offset() const { return reader_.offset(); }

  // True when enough is batched that the caller should co_await Flush().
  bool ShouldFlush() const { return batched_ >= kFlushEntries || batched_bytes_ >= kFlushBytes; }
  awaitable<void> Flush();

  const store::RdbReplInfo& repl_info() const { return builder_.repl_info(); }
  uint64_t keys_loaded() const { return keys_loaded_; }
  uint64_t expired_skipped() const { return expired_skipped_; }
  uint64_t duplicates() const { return duplicates_.load(); }

 private:
  static constexpr size_t kFlushEntries = 8192;
  static constexpr size_t kFlushBytes = 8 << 20;

  ShardSet& shards_;
  bool keep_expired_;
  // The value builder plus the RDB's function libraries.
  class Builder : public store::RdbValueBuilder {
   public:
    using store::RdbValueBuilder::RdbValueBuilder;
    rdb::Status OnFunction(std::string_view library_source) override;
    std::vector<Library> libraries;
  };

  Builder builder_;
  bool functions_installed_ = false;
  bool replace_functions_ = true;
  rdb::Reader reader_;
  std::vector<std::vector<store::LoadedEntry>> batches_;
  size_t batched_ = 0;
  size_t batched_bytes_ = 0;
  uint64_t keys_loaded_ = 0;
  uint64_t expired_skipped_ = 0;
  std::atomic<uint64_t> duplicates_{0};
};

}  // namespace darter::server
