// StreamObject: the value of a Redis stream key (XADD, XRANGE, consumer groups...).
//
// Entries live in nodes kept in a vector sorted by the node's master id (a flat,
// one-level ordered map keyed by 128-bit ids: appends go to the last node, lookups
// binary-search the masters). A node is one malloc'd byte blob in our own compact
// format, modelled on Redis's stream listpacks:
//
//   header   bytes:u32 live:u32 deleted:u32 lp_bytes:u32
//   master   varint num_fields, num_fields x (varint len, bytes)
//   entries  flags:u8 (1 = deleted, 2 = same fields as master)
//            varint ms_delta, zigzag-varint seq_delta     (against the node's master id)
//            [varint num_fields]                          (without the SAMEFIELDS flag)
//            SAMEFIELDS: num_fields x value, else num_fields x (field, value);
//            each string is (varint len, bytes)
//
// The master id and master fields are those of the node's first entry; entries with
// the same field names store only their values (Redis's master-entry compression).
// Deleted entries stay in place, flagged, until their node empties (then it goes),
// exactly as Redis does: node boundaries therefore match Redis's, which makes
// approximate trimming (MAXLEN ~) and XINFO's radix-tree-keys give Redis's answers.
// To place boundaries as Redis does, each node also tracks `lp_bytes`, the size the
// same node would have as a Redis listpack (stream-node-max-bytes compares that).
//
// Consumer groups: a map name -> Group; a group has a PEL (id -> PendingEntry, which
// names its consumer) and consumers (name -> Consumer with its own set of ids).
//
// Thread-safety: none; owned by one shard's table (shard thread only), or in flight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdb/sink.h"
#include "store/value.h"

namespace darter::store {

using StreamId = rdb::StreamId;

inline constexpr StreamId kMinStreamId{0, 0};
inline constexpr StreamId kMaxStreamId{UINT64_MAX, UINT64_MAX};

// "ms-seq".
std::string FormatStreamId(StreamId id);
// id + 1 / id - 1; false on overflow (Redis's streamIncrID/streamDecrID).
bool IncrStreamId(StreamId* id);
bool DecrStreamId(StreamId* id);

// Entries read by an iteration: alternating field, value views, valid until the next
// call into the stream.
using StreamFields = std::span<const std::string_view>;

class StreamObject : public Object {
 public:
  static constexpr int64_t kInvalidEntriesRead = -1;

  struct Consumer;
  struct PendingEntry {
    int64_t delivery_time = 0;
    uint64_t delivery_count = 1;
    Consumer* consumer = nullptr;  // never null once stored
  };
  struct Consumer {
    std::string name;
    int64_t seen_time = 0;
    int64_t active_time = -1;
    std::set<StreamId> pel;  // ids this consumer owns (each is in the group PEL)
  };
  struct Group {
    StreamId last_id;
    int64_t entries_read = kInvalidEntriesRead;
    std::map<StreamId, PendingEntry> pel;
    std::map<std::string, std::unique_ptr<Consumer>, std::less<>> consumers;

    Consumer* FindConsumer(std::string_view name);
    // Creates the consumer; nullptr if it exists already.
    Consumer* CreateConsumer(std::string_view name, int64_t now_ms);
    // Removes the consumer and its pending entries; returns how many it had.
    size_t DeleteConsumer(std::string_view name);
  };
  using GroupMap = std::map<std::string, Group, std::less<>>;

  StreamObject() = default;
  ~StreamObject() override;
  StreamObject(const StreamObject&) = delete;
  StreamObject& operator=(const StreamObject&) = delete;

  ValueType type() const override { return ValueType::kStream; }
  size_t MallocUsed() const override;
  std::string_view EncodingName() const override { return "stream"; }
  std::unique_ptr<Object> Clone() const override;

  // --- entries ---
  uint64_t length() const { return length_; }
  // Number of nodes (XINFO's radix-tree-keys).
  size_t node_count() const { return nodes_.size(); }
  StreamId last_id() const { return last_id_; }
  StreamId first_id() const { return first_id_; }  // recorded-first-entry-id
  StreamId max_deleted_id() const { return max_deleted_id_; }
  uint64_t entries_added() const { return entries_added_; }
  void set_last_id(StreamId id) { last_id_ = id; }
  void set_first_id(StreamId id) { first_id_ = id; }
  void set_max_deleted_id(StreamId id) { max_deleted_id_ = id; }
  void set_entries_added(uint64_t n) { entries_added_ = n; }

  // Appends an entry. REQUIRES: id > last_id(), fields_values non-empty and even.
  // `node_max_bytes` / `node_max_entries`: stream-node-max-bytes / -entries (0: none).
  void Append(StreamId id, std::span<const std::string_view> fields_values, int64_t node_max_bytes,
              int64_t node_max_entries);
  // Appends as loading does: no bookkeeping of last_id/first_id/entries_added.
  void AppendForLoad(StreamId id, std::span<const std::string_view> fields_values);

  // Visits live entries with start <= id <= end, ascending (or descending when
  // `reverse`), until fn returns false.
  void Range(StreamId start, StreamId end, bool reverse,
             const std::function<bool(StreamId, StreamFields)>& fn) const;
  // Whether a live entry with this id exists; when it does and `out` is given, the
  // entry's field/value pairs are appended to *out.
  bool Lookup(StreamId id, std::vector<std::string>* out = nullptr) const;
  // First or last live entry; false when empty.
  bool FirstEntryId(StreamId* id) const;
  bool LastEntryId(StreamId* id) const;

  // Deletes one live entry (tombstone; its node goes when it empties). Maintains
  // length only: XDEL updates first_id/max_deleted_id.
  bool Delete(StreamId id);

  enum class TrimStrategy { kNone, kMaxLen, kMinId };
  struct TrimArgs {
    TrimStrategy strategy = TrimStrategy::kNone;
    bool approx = false;
    int64_t maxlen = 0;
    StreamId minid;
    int64_t limit = 0;  // 0: no limit
  };
  // Redis's streamTrim: whole nodes first; with !approx also entries of the first
  // node that cannot go whole. Updates first_id. Returns entries removed.
  int64_t Trim(const TrimArgs& args);

  // Redis's lag/entries-read helpers (7.0).
  bool RangeHasTombstones(StreamId start, StreamId end) const;
  int64_t EstimateDistanceFromFirstEverEntry(StreamId id) const;

  // --- consumer groups ---
  GroupMap& groups();  // created on demand
  const GroupMap* groups_if_any() const { return groups_.get(); }
  Group* FindGroup(std::string_view name);
  // nullptr when a group of that name exists.
  Group* CreateGroup(std::string_view name, StreamId last_id, int64_t entries_read);
  bool DestroyGroup(std::string_view name);
  size_t group_count() const { return groups_ ? groups_->size() : 0; }

 private:
  struct Node {
    StreamId master;
    char* blob = nullptr;  // malloc'd, see the layout above
  };
  class NodeReader;

  static uint32_t BlobBytes(const char* blob);
  static void FreeNode(Node& n);
  void RemoveNode(size_t index);
  // Index of the node that may contain id (the last one whose master <= id), or -1.
  ptrdiff_t NodeFor(StreamId id) const;
  // Visits a node's entries (including tombstones when `with_deleted`).
  template <typename Fn>
  static void ForEachInNode(const Node& n, bool with_deleted, Fn&& fn);
  void RecomputeFirstId();

  std::vector<Node> nodes_;
  uint64_t length_ = 0;
  StreamId last_id_;
  StreamId first_id_;
  StreamId max_deleted_id_;
  uint64_t entries_added_ = 0;
  std::unique_ptr<GroupMap> groups_;
};

}  // namespace darter::store
