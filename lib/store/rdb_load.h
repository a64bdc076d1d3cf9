// RdbValueBuilder: an rdb::Sink that turns decoded RDB records into store Values.
//
// It builds each key's Value (string or collection Object, through collection_codec.h)
// and hands a LoadedEntry to a callback, which decides where it goes: one Shard in
// tests and tools, the owning shard's thread in the server (lib/server/persist/rdb_loader.h).
// A collection is built in place as its chunks arrive, so memory stays bounded by the
// values being built, never by a copy of the file.
//
// Thread-safety: requires external synchronization (one reader feeds it).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "rdb/sink.h"
#include "store/value.h"

namespace darter::store {

struct LoadedEntry {
  unsigned db = 0;
  std::string key;
  Value value;
  int64_t expire_ms = 0;  // absolute unix ms; 0 = none
  uint32_t access = 0;    // access stamp (LRU/LFU) derived from IDLE/FREQ
};

// What the RDB said about replication (sync RDBs carry the primary's id and offset).
struct RdbReplInfo {
  std::string repl_id;
  int64_t repl_offset = -1;
  int64_t repl_stream_db = -1;
};

class RdbValueBuilder : public rdb::Sink {
 public:
  using EntryFn = std::function<rdb::Status(LoadedEntry&&)>;
  // `db_count`: a db index at or beyond it is refused, as Redis refuses it.
  RdbValueBuilder(unsigned db_count, EntryFn on_entry);
  ~RdbValueBuilder() override;

  const RdbReplInfo& repl_info() const { return repl_; }
  uint64_t keys_loaded() const { return keys_; }
  uint64_t empty_keys_skipped() const { return empty_skipped_; }

  rdb::Status OnAux(std::string_view key, std::string_view value) override;
  rdb::Status OnSelectDb(uint64_t db) override;
  rdb::Status OnString(const rdb::KeyMeta& meta, std::string_view key, std::string_view value) override;
  rdb::Status BeginCollection(const rdb::KeyMeta& meta, std::string_view key, rdb::CollectionKind kind,
                              uint64_t size_hint) override;
  rdb::Status OnListElements(std::span<const std::string_view> elements) override;
  rdb::Status OnSetMembers(std::span<const std::string_view> members) override;
  rdb::Status OnHashFields(std::span<const rdb::HashField> fields) override;
  rdb::Status OnZSetMembers(std::span<const rdb::ZSetMember> members) override;
  rdb::Status EndCollection() override;
  rdb::Status BeginStream(const rdb::KeyMeta& meta, std::string_view key) override;
  rdb::Status OnStreamEntries(std::span<const rdb::StreamEntry> entries) override;
  rdb::Status OnStreamMeta(const rdb::StreamMeta& meta) override;
  rdb::Status OnStreamGroup(const rdb::StreamGroup& group) override;
  rdb::Status OnStreamPending(std::span<const rdb::StreamPendingEntry> pel) override;
  rdb::Status OnStreamConsumer(const rdb::StreamConsumer& consumer) override;
  rdb::Status OnStreamConsumerPending(std::span<const rdb::StreamId> ids) override;
  rdb::Status EndStream() override;
  rdb::Status OnEmptyKeySkipped(const rdb::KeyMeta& meta, std::string_view key) override;

 private:
  rdb::Status StartEntry(const rdb::KeyMeta& meta, std::string_view key);
  rdb::Status Emit();

  unsigned db_count_;
  EntryFn on_entry_;
  RdbReplInfo repl_;
  std::optional<LoadedEntry> pending_;
  std::unique_ptr<Object> building_;
  std::unique_ptr<class StreamLoader> stream_;
  uint64_t keys_ = 0;
  uint64_t empty_skipped_ = 0;
};

}  // namespace darter::store
