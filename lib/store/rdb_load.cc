#include "store/rdb_load.h"

#include "store/collection_codec.h"
#include "store/shard.h"
#include "store/stream_codec.h"
#include "store/string_util.h"

// The collection families implement collection_codec.h. Declaring the functions weak
// lets the server link while a family is still being written; a missing one turns
// into a clear "type not supported" load error instead of a link failure.
#define DARTER_WEAK __attribute__((weak))
namespace darter::store {
DARTER_WEAK std::unique_ptr<Object> NewListForLoad();
DARTER_WEAK void ListAppendForLoad(Object&, std::span<const std::string_view>);
DARTER_WEAK std::unique_ptr<Object> NewSetForLoad(uint64_t);
DARTER_WEAK bool SetAddForLoad(Object&, std::string_view);
DARTER_WEAK std::unique_ptr<Object> NewHashForLoad(uint64_t);
DARTER_WEAK bool HashSetForLoad(Object&, std::string_view, std::string_view);
DARTER_WEAK std::unique_ptr<Object> NewZsetForLoad(uint64_t);
DARTER_WEAK bool ZsetAddForLoad(Object&, std::string_view, double);
}  // namespace darter::store

namespace darter::store {

namespace {
// Untrusted size hints are capped before anything is reserved from them.
constexpr uint64_t kMaxHint = 1 << 16;

uint32_t AccessStampFrom(const rdb::KeyMeta& meta) {
  uint32_t stamp = NewAccessStamp();
  if (meta.lru_idle_s >= 0) {
    uint32_t now = LruClock();
    stamp = now - static_cast<uint32_t>(std::min<int64_t>(meta.lru_idle_s, now));
  }
  if (meta.lfu_freq >= 0) stamp = (stamp & ~0xFFu) | static_cast<uint32_t>(meta.lfu_freq & 0xFF);
  return stamp;
}
}  // namespace

RdbValueBuilder::RdbValueBuilder(unsigned db_count, EntryFn on_entry)
    : db_count_(db_count), on_entry_(std::move(on_entry)) {}

RdbValueBuilder::~RdbValueBuilder() = default;

rdb::Status RdbValueBuilder::OnAux(std::string_view key, std::string_view value) {
  if (key == "repl-id") repl_.repl_id = value;
  else if (key == "repl-offset") repl_.repl_offset = ParseInt64(value).value_or(-1);
  else if (key == "repl-stream-db") repl_.repl_stream_db = ParseInt64(value).value_or(-1);
  return {};
}

rdb::Status RdbValueBuilder::OnSelectDb(uint64_t db) {
  if (db >= db_count_)
    return rdb::Status::Error("database " + std::to_string(db) + " is out of range (the server has " +
                              std::to_string(db_count_) + "; raise --dbnum)");
  return {};
}

rdb::Status RdbValueBuilder::StartEntry(const rdb::KeyMeta& meta, std::string_view key) {
  if (meta.db >= db_count_)
    return rdb::Status::Error("database " + std::to_string(meta.db) + " is out of range");
  pending_.emplace();
  pending_->db = static_cast<unsigned>(meta.db);
  pending_->key.assign(key);
  pending_->expire_ms = meta.expire_ms == rdb::kNoExpire ? 0 : std::max<int64_t>(meta.expire_ms, 1);
  pending_->access = AccessStampFrom(meta);
  return {};
}

rdb::Status RdbValueBuilder::Emit() {
  keys_++;
  LoadedEntry e = std::move(*pending_);
  pending_.reset();
  return on_entry_(std::move(e));
}

rdb::Status RdbValueBuilder::OnString(const rdb::KeyMeta& meta, std::string_view key, std::string_view value) {
  if (auto st = StartEntry(meta, key); !st.ok()) return st;
  pending_->value.SetString(value);
  return Emit();
}

rdb::Status RdbValueBuilder::BeginCollection(const rdb::KeyMeta& meta, std::string_view key,
                                             rdb::CollectionKind kind, uint64_t size_hint) {
  if (auto st = StartEntry(meta, key); !st.ok()) return st;
  uint64_t hint = std::min(size_hint, kMaxHint);
  auto unsupported = [&](const char* type) {
    return rdb::Status::Error(std::string("key '") + std::string(key) + "': " + type +
                              " values are not supported by this build");
  };
  switch (kind) {
    case rdb::CollectionKind::kList:
      if (!NewListForLoad) return unsupported("list");
      building_ = NewListForLoad();
      break;
    case rdb::CollectionKind::kSet:
      if (!NewSetForLoad) return unsupported("set");
      building_ = NewSetForLoad(hint);
      break;
    case rdb::CollectionKind::kHash:
      if (!NewHashForLoad) return unsupported("hash");
      building_ = NewHashForLoad(hint);
      break;
    case rdb::CollectionKind::kZSet:
      if (!NewZsetForLoad) return unsupported("zset");
      building_ = NewZsetForLoad(hint);
      break;
  }
  return {};
}

rdb::Status RdbValueBuilder::OnListElements(std::span<const std::string_view> elements) {
  ListAppendForLoad(*building_, elements);
  return {};
}

rdb::Status RdbValueBuilder::OnSetMembers(std::span<const std::string_view> members) {
  for (auto m : members)
    if (!SetAddForLoad(*building_, m))
      return rdb::Status::Error("key '" + pending_->key + "': duplicate set member");
  return {};
}

rdb::Status RdbValueBuilder::OnHashFields(std::span<const rdb::HashField> fields) {
  for (auto& f : fields)
    if (!HashSetForLoad(*building_, f.field, f.value))
      return rdb::Status::Error("key '" + pending_->key + "': duplicate hash field");
  return {};
}

rdb::Status RdbValueBuilder::OnZSetMembers(std::span<const rdb::ZSetMember> members) {
  for (auto& m : members)
    if (!ZsetAddForLoad(*building_, m.member, m.score))
      return rdb::Status::Error("key '" + pending_->key + "': duplicate sorted set member");
  return {};
}

rdb::Status RdbValueBuilder::EndCollection() {
  building_->OnLoaded();
  pending_->value.SetObject(std::move(building_));
  return Emit();
}

rdb::Status RdbValueBuilder::BeginStream(const rdb::KeyMeta& meta, std::string_view key) {
  if (auto st = StartEntry(meta, key); !st.ok()) return st;
  if (!stream_) stream_ = std::make_unique<StreamLoader>();
  return stream_->BeginStream();
}
rdb::Status RdbValueBuilder::OnStreamEntries(std::span<const rdb::StreamEntry> entries) {
  return stream_->OnStreamEntries(entries);
}
rdb::Status RdbValueBuilder::OnStreamMeta(const rdb::StreamMeta& meta) { return stream_->OnStreamMeta(meta); }
rdb::Status RdbValueBuilder::OnStreamGroup(const rdb::StreamGroup& group) { return stream_->OnStreamGroup(group); }
rdb::Status RdbValueBuilder::OnStreamPending(std::span<const rdb::StreamPendingEntry> pel) {
  return stream_->OnStreamPending(pel);
}
rdb::Status RdbValueBuilder::OnStreamConsumer(const rdb::StreamConsumer& consumer) {
  return stream_->OnStreamConsumer(consumer);
}
rdb::Status RdbValueBuilder::OnStreamConsumerPending(std::span<const rdb::StreamId> ids) {
  return stream_->OnStreamConsumerPending(ids);
}
rdb::Status RdbValueBuilder::EndStream() {
  if (auto st = stream_->EndStream(); !st.ok()) return st;
  pending_->value.SetObject(stream_->Take());
  return Emit();
}

rdb::Status RdbValueBuilder::OnEmptyKeySkipped(const rdb::KeyMeta&, std::string_view) {
  empty_skipped_++;
  return {};
}

}  // namespace darter::store
