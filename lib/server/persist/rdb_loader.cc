#include "server/persist/rdb_loader.h"

#include "server/core/cross_thread.h"

namespace darter::server {

namespace {
rdb::ReaderOptions LoaderReaderOptions(bool verify_checksum) {
  rdb::ReaderOptions o;
  o.verify_checksum = verify_checksum;
  return o;
}
}  // namespace

ShardedRdbLoader::ShardedRdbLoader(ShardSet& shards, unsigned db_count, bool keep_expired, bool verify_checksum)
    : shards_(shards),
      keep_expired_(keep_expired),
      builder_(db_count,
               [this](store::LoadedEntry&& e) -> rdb::Status {
                 if (!keep_expired_ && e.expire_ms && e.expire_ms <= store::UnixTimeMs()) {
                   expired_skipped_++;
                   return {};
                 }
                 unsigned s = store::ShardOf(e.key, shards_.size());
                 batched_bytes_ += e.key.size() + e.value.MallocUsed() + sizeof(store::LoadedEntry);
                 batches_[s].push_back(std::move(e));
                 batched_++;
                 keys_loaded_++;
                 return {};
               }),
      reader_(&builder_, LoaderReaderOptions(verify_checksum)),
      batches_(shards.size()) {}

rdb::Status ShardedRdbLoader::Builder::OnFunction(std::string_view library_source) {
  Library lib;
  std::string err = CompileLibrary(library_source, &lib);
  if (!err.empty()) return rdb::Status::Error("function library does not load: " + err);
  libraries.push_back(std::move(lib));
  return {};
}

rdb::Status ShardedRdbLoader::Feed(std::string_view data, size_t* consumed) {
  rdb::Status st = reader_.Feed(data, consumed);
  if (st.ok() && reader_.done() && !functions_installed_) {
    functions_installed_ = true;
    // All or nothing: two libraries of one name, or one function in two libraries,
    // refuse the RDB.
    std::string err = FunctionRegistry::Global().Add(std::move(builder_.libraries), false, replace_functions_);
    if (!err.empty()) return rdb::Status::Error("function libraries do not load: " + err);
  }
  return st;
}

awaitable<void> ShardedRdbLoader::Flush() {
  if (batched_ == 0) co_return;
  std::vector<asio::io_context*> ctxs;
  std::vector<unsigned> targets;
  for (unsigned s = 0; s < shards_.size(); ++s) {
    if (batches_[s].empty()) continue;
    ctxs.push_back(&shards_.at(s).ctx());
    targets.push_back(s);
  }
  co_await AwaitAll(ctxs, [&](size_t i) {
    unsigned s = targets[i];
    store::Shard& shard = shards_.at(s).shard();
    for (store::LoadedEntry& e : batches_[s]) {
      // One hash and one probe per key (this is the load's hot loop). Changes go through
      // the Shard, so an overwritten key reaches a running snapshot first.
      const uint64_t h = store::HashKey(e.key);
      store::Slot* slot;
      if (const store::Slot* found = shard.db(e.db).Find(e.key, h)) {
        duplicates_.fetch_add(1, std::memory_order_relaxed);  // Redis refuses such files; we keep the last
        slot = shard.ForChange(e.db, found);
      } else {
        slot = shard.Insert(e.db, e.key, h);
      }
      slot->value = std::move(e.value);
      slot->access = e.access;
      slot->flags = 0;
      shard.SetExpire(e.db, slot, e.expire_ms);
    }
    batches_[s].clear();
  });
  batched_ = 0;
  batched_bytes_ = 0;
}

}  // namespace darter::server
