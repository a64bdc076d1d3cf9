// Sink: what the RDB reader hands decoded content to. The store implements
// it to load an RDB straight into its data structures; tools implement it to
// check, count or print.
//
// Call order for one file (every call may return an error Status, which
// aborts loading: the reader stops and returns that status, prefixed with
// the byte offset):
//
//   OnAux*  OnModuleAux*  OnFunction*                    (any order, any time)
//   OnSelectDb  OnResizeDb?                              (per database)
//   per key, one of:
//     OnString(meta, key, value)
//     BeginCollection(meta, key, kind, size_hint)
//         (OnListElements | OnSetMembers | OnHashFields | OnZSetMembers)+
//     EndCollection()
//     BeginStream(meta, key)  OnStreamEntries*  OnStreamMeta
//         { OnStreamGroup  OnStreamPending*
//           { OnStreamConsumer  OnStreamConsumerPending* }* }*
//     EndStream()
//     OnEmptyKeySkipped(meta, key)        (collection with zero elements)
//     OnModuleValueSkipped(meta, key, m)  (ModulePolicy::kSkip only)
//   OnEnd(info)
//
// Lifetimes: every string_view and span passed to a sink method is valid
// only during that call; copy what you keep. The `key` passed to Begin* is
// not repeated in the element calls.
//
// Chunks: a collection arrives as one or more chunks of at most
// ReaderOptions::chunk_elements elements. Chunk boundaries carry no meaning
// (they depend on how the input was split), so a sink must not assume any.
// Memory needed by the reader is bounded by the chunk and the largest single
// RDB string (a blob), never by the number of elements of a key.
//
// Untrusted counts: `size_hint` and the counts in StreamGroup/StreamConsumer
// come from the file and are only checked once the elements have been read.
// Don't reserve memory from them without a cap.
//
// Thread-safety: the reader calls its sink from the thread that calls
// Reader::Feed; a sink needs no locking unless it shares state elsewhere.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "rdb/status.h"

namespace darter::rdb {

inline constexpr int64_t kNoExpire = -1;

// Per-key metadata.
struct KeyMeta {
  uint64_t db = 0;
  int64_t expire_ms = kNoExpire;  // absolute unix time in ms, or kNoExpire
  int64_t lru_idle_s = -1;        // IDLE opcode (LRU policies), -1 when absent
  int lfu_freq = -1;              // FREQ opcode (LFU policies), -1 when absent
  uint8_t rdb_type = 0;           // type code as stored (encoding), see format.h
  uint64_t offset = 0;            // file offset of the type byte
};

enum class CollectionKind : uint8_t { kList, kSet, kHash, kZSet };

struct HashField {
  std::string_view field;
  std::string_view value;
  int64_t expire_ms = kNoExpire;  // per-field TTL (Redis 7.4 / Valkey 9 types), absolute ms
};

struct ZSetMember {
  std::string_view member;
  double score = 0;  // never NaN (the reader rejects NaN scores)
};

struct StreamId {
  uint64_t ms = 0;
  uint64_t seq = 0;
  friend bool operator==(const StreamId&, const StreamId&) = default;
  friend auto operator<=>(const StreamId&, const StreamId&) = default;
};

// One live stream entry (deleted entries inside a node are not reported).
struct StreamEntry {
  StreamId id;
  // Alternating field, value, field, value, ...
  std::span<const std::string_view> fields;
};

// Stream-level metadata; arrives after the entries.
struct StreamMeta {
  uint64_t length = 0;  // live entries (checked against the entries delivered)
  StreamId last_id;
  // Exact for types 19/21 (Redis 7.0+). For type 15 (6.2) they are derived
  // as Redis 7 does when it loads such a stream: first_id = first live entry
  // (0-0 if none), max_deleted_id = 0-0, entries_added = length.
  StreamId first_id;
  StreamId max_deleted_id;
  uint64_t entries_added = 0;
  bool exact_v7_fields = false;  // true when the file carried them (19/21)
};

struct StreamGroup {
  std::string_view name;
  StreamId last_delivered_id;
  int64_t entries_read = -1;  // -1: unknown (type 15 streams)
  uint64_t pending_count = 0;  // global PEL size, from the file
};

struct StreamPendingEntry {
  StreamId id;
  int64_t delivery_time_ms = 0;
  uint64_t delivery_count = 0;
};

struct StreamConsumer {
  std::string_view name;
  int64_t seen_time_ms = 0;
  int64_t active_time_ms = 0;  // type 21 only; equals seen_time_ms for 15/19
  uint64_t pending_count = 0;  // ids owned, from the file
};

// A module value or MODULE_AUX record that was skipped.
struct ModuleSkip {
  uint64_t module_id = 0;
  std::string_view module_name;  // nine characters decoded from module_id
  int encoding_version = 0;
  int when = 0;             // MODULE_AUX only: 1 before keys, 2 after keys
  uint64_t bytes = 0;       // size of the skipped payload in the file
  uint64_t offset = 0;      // file offset of the record
};

struct EndInfo {
  int rdb_version = 0;
  uint64_t stored_checksum = 0;    // 0: disabled by the writer (or version < 5)
  uint64_t computed_checksum = 0;
  bool checksum_verified = false;  // stored != 0 and it matched
  uint64_t bytes = 0;              // bytes of the RDB, magic through checksum
};

class Sink {
 public:
  virtual ~Sink() = default;

  virtual Status OnAux(std::string_view key, std::string_view value) { (void)key; (void)value; return {}; }
  virtual Status OnSelectDb(uint64_t db) { (void)db; return {}; }
  virtual Status OnResizeDb(uint64_t db_size, uint64_t expires_size) { (void)db_size; (void)expires_size; return {}; }
  // Full library source ("#!lua name=lib ..."), from FUNCTION2 or converted
  // from the 7.0-RC FUNCTION opcode.
  virtual Status OnFunction(std::string_view library_source) { (void)library_source; return {}; }
  // MODULE_AUX records are always skipped (we load no modules); this reports one.
  // With ModulePolicy::kFail the reader fails instead of calling it.
  virtual Status OnModuleAux(const ModuleSkip& m) { (void)m; return {}; }
  // Redis 7.4 / Valkey SLOT_INFO hint.
  virtual Status OnSlotInfo(uint64_t slot, uint64_t slot_size, uint64_t expires_slot_size) {
    (void)slot; (void)slot_size; (void)expires_slot_size; return {};
  }

  virtual Status OnString(const KeyMeta& meta, std::string_view key, std::string_view value) = 0;

  // `size_hint`: element count announced by the file (pairs for hashes), or
  // 0 when the encoding does not announce it up front. Untrusted.
  virtual Status BeginCollection(const KeyMeta& meta, std::string_view key, CollectionKind kind,
                                 uint64_t size_hint) = 0;
  // List elements in list order (head to tail).
  virtual Status OnListElements(std::span<const std::string_view> elements) { (void)elements; return {}; }
  virtual Status OnSetMembers(std::span<const std::string_view> members) { (void)members; return {}; }
  virtual Status OnHashFields(std::span<const HashField> fields) { (void)fields; return {}; }
  virtual Status OnZSetMembers(std::span<const ZSetMember> members) { (void)members; return {}; }
  virtual Status EndCollection() = 0;

  virtual Status BeginStream(const KeyMeta& meta, std::string_view key) { (void)meta; (void)key; return {}; }
  // Entries in id order.
  virtual Status OnStreamEntries(std::span<const StreamEntry> entries) { (void)entries; return {}; }
  virtual Status OnStreamMeta(const StreamMeta& meta) { (void)meta; return {}; }
  // Starts a group; its PEL and consumers follow.
  virtual Status OnStreamGroup(const StreamGroup& group) { (void)group; return {}; }
  virtual Status OnStreamPending(std::span<const StreamPendingEntry> pel) { (void)pel; return {}; }
  // Starts a consumer of the current group; the ids it owns follow (each is
  // in the group's PEL).
  virtual Status OnStreamConsumer(const StreamConsumer& consumer) { (void)consumer; return {}; }
  virtual Status OnStreamConsumerPending(std::span<const StreamId> ids) { (void)ids; return {}; }
  virtual Status EndStream() { return {}; }

  // A collection with zero elements (an old Redis bug wrote some); Redis
  // skips these with a warning, and so should a loader.
  virtual Status OnEmptyKeySkipped(const KeyMeta& meta, std::string_view key) { (void)meta; (void)key; return {}; }
  virtual Status OnModuleValueSkipped(const KeyMeta& meta, std::string_view key, const ModuleSkip& m) {
    (void)meta; (void)key; (void)m; return {};
  }

  virtual Status OnEnd(const EndInfo& info) { (void)info; return {}; }
};

}  // namespace darter::rdb
