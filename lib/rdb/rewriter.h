// Rewriter: a Sink that re-encodes what a Reader decodes with a Writer, so
// an RDB of any supported version can be converted to one stock Redis 6.2+
// loads (darter-rdb rewrite, round-trip tests, DUMP payload conversion).
//
// The writer needs each collection's exact size before its elements, and
// several encodings (quicklists, intsets, listpacks) only reveal it at the
// end, so the rewriter buffers one key at a time: memory is bounded by the
// largest key, not the file. (The store, which knows its sizes, writes
// through Writer directly and needs no such buffer.)
//
// Keys are kept as they are, including ones whose TTL has passed; AUX fields
// are copied except the ones describing the writer (redis-ver, ctime, ...),
// which the caller may write itself. Functions are dropped with a note when
// the output version is 9. Not thread-safe.
#pragma once

#include <string>
#include <vector>

#include "rdb/sink.h"
#include "rdb/writer.h"

namespace darter::rdb {

class Rewriter : public Sink {
 public:
  // `writer` must outlive the rewriter. Unless `value_only`, the header is
  // written on construction's first callback and Finish() on OnEnd.
  explicit Rewriter(Writer* writer, bool value_only = false);

  uint64_t functions_dropped() const { return functions_dropped_; }

  Status OnAux(std::string_view key, std::string_view value) override;
  Status OnSelectDb(uint64_t db) override;
  Status OnFunction(std::string_view library_source) override;
  Status OnString(const KeyMeta& meta, std::string_view key, std::string_view value) override;
  Status BeginCollection(const KeyMeta& meta, std::string_view key, CollectionKind kind,
                         uint64_t size_hint) override;
  Status OnListElements(std::span<const std::string_view> elements) override;
  Status OnSetMembers(std::span<const std::string_view> members) override;
  Status OnHashFields(std::span<const HashField> fields) override;
  Status OnZSetMembers(std::span<const ZSetMember> members) override;
  Status EndCollection() override;
  Status BeginStream(const KeyMeta& meta, std::string_view key) override;
  Status OnStreamEntries(std::span<const StreamEntry> entries) override;
  Status OnStreamMeta(const StreamMeta& meta) override;
  Status OnStreamGroup(const StreamGroup& group) override;
  Status OnStreamPending(std::span<const StreamPendingEntry> pel) override;
  Status OnStreamConsumer(const StreamConsumer& consumer) override;
  Status OnStreamConsumerPending(std::span<const StreamId> ids) override;
  Status EndStream() override;
  Status OnEnd(const EndInfo& info) override;

 private:
  Status EnsureHeader();
  KeyModifiers Mods() const;

  Writer* w_;
  bool value_only_;
  bool header_done_ = false;
  uint64_t functions_dropped_ = 0;

  KeyMeta meta_;
  std::string key_;
  CollectionKind kind_ = CollectionKind::kList;
  std::vector<std::string> a_, b_;  // elements / fields+values / members
  std::vector<double> scores_;
  std::vector<int64_t> field_expire_;

  struct Entry {
    StreamId id;
    std::vector<std::string> fv;
  };
  struct Consumer {
    std::string name;
    int64_t seen = 0, active = 0;
    std::vector<StreamId> ids;
  };
  struct Group {
    std::string name;
    StreamId last;
    int64_t entries_read = -1;
    std::vector<StreamPendingEntry> pel;
    std::vector<Consumer> consumers;
  };
  std::vector<Entry> entries_;
  StreamMeta smeta_;
  std::vector<Group> groups_;
};

}  // namespace darter::rdb
