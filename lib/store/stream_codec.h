// RDB load and save of streams: the bridge between lib/rdb's stream callbacks and
// StreamObject. The server's RDB loader forwards a stream key's Sink calls
// (BeginStream .. EndStream) to a StreamLoader; saving walks a StreamObject through
// rdb::Writer's stream calls with SaveStream.
//
// Thread-safety: none; a loader is used by one thread for one key at a time.
#pragma once

#include <memory>
#include <span>
#include <string_view>

#include "rdb/sink.h"
#include "rdb/status.h"
#include "rdb/writer.h"
#include "store/stream_object.h"

namespace darter::store {

// Builds a StreamObject from one stream's Sink callbacks, in the order sink.h gives.
class StreamLoader {
 public:
  StreamLoader();
  ~StreamLoader();

  rdb::Status BeginStream();
  rdb::Status OnStreamEntries(std::span<const rdb::StreamEntry> entries);
  rdb::Status OnStreamMeta(const rdb::StreamMeta& meta);
  rdb::Status OnStreamGroup(const rdb::StreamGroup& group);
  rdb::Status OnStreamPending(std::span<const rdb::StreamPendingEntry> pel);
  rdb::Status OnStreamConsumer(const rdb::StreamConsumer& consumer);
  rdb::Status OnStreamConsumerPending(std::span<const rdb::StreamId> ids);
  // Checks that every PEL entry found its consumer.
  rdb::Status EndStream();

  // The loaded stream; the loader is then ready for BeginStream again.
  std::unique_ptr<StreamObject> Take();

 private:
  rdb::Status FinishGroup();

  std::unique_ptr<StreamObject> stream_;
  bool exact_v7_ = false;
  StreamObject::Group* group_ = nullptr;
  StreamObject::Consumer* consumer_ = nullptr;
};

// Writes `stream` as key `key` (its groups, PELs and consumers included) in the
// stream type of the writer's RDB version.
rdb::Status SaveStream(const StreamObject& stream, rdb::Writer& writer, const rdb::KeyModifiers& mods,
                       std::string_view key);

// The value-only form for DUMP payloads (Writer::StartValueOnly mode).
inline rdb::Status SaveStreamValue(const StreamObject& stream, rdb::Writer& writer) {
  return SaveStream(stream, writer, {}, {});
}

}  // namespace darter::store
