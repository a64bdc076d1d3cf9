#include "store/stream_codec.h"

#include <string>
#include <vector>

namespace darter::store {

using rdb::Status;

StreamLoader::StreamLoader() = default;
StreamLoader::~StreamLoader() = default;

Status StreamLoader::BeginStream() {
  stream_ = std::make_unique<StreamObject>();
  exact_v7_ = false;
  group_ = nullptr;
  consumer_ = nullptr;
  return {};
}

Status StreamLoader::OnStreamEntries(std::span<const rdb::StreamEntry> entries) {
  if (!stream_) return Status::Error("stream entries outside a stream");
  for (const rdb::StreamEntry& e : entries) {
    if (e.fields.empty() || e.fields.size() % 2 != 0) return Status::Error("stream entry with bad field count");
    if (stream_->length() > 0 && !(stream_->last_id() < e.id))
      return Status::Error("stream entry ids not ascending: " + FormatStreamId(e.id));
    stream_->AppendForLoad(e.id, e.fields);
  }
  return {};
}

Status StreamLoader::OnStreamMeta(const rdb::StreamMeta& meta) {
  if (!stream_) return Status::Error("stream metadata outside a stream");
  if (meta.length != stream_->length())
    return Status::Error("stream length " + std::to_string(meta.length) + " but " +
                         std::to_string(stream_->length()) + " entries");
  StreamId last;
  if (stream_->LastEntryId(&last) && meta.last_id < last)
    return Status::Error("stream last_id below its last entry");
  stream_->set_last_id(meta.last_id);
  stream_->set_first_id(meta.first_id);
  stream_->set_max_deleted_id(meta.max_deleted_id);
  stream_->set_entries_added(meta.entries_added);
  exact_v7_ = meta.exact_v7_fields;
  return {};
}

Status StreamLoader::FinishGroup() {
  if (!group_) return {};
  for (const auto& [id, pe] : group_->pel) {
    if (!pe.consumer) return Status::Error("stream PEL entry " + FormatStreamId(id) + " has no consumer");
  }
  return {};
}

Status StreamLoader::OnStreamGroup(const rdb::StreamGroup& g) {
  if (!stream_) return Status::Error("stream group outside a stream");
  DARTER_RDB_RETURN_IF_ERROR(FinishGroup());
  int64_t entries_read = g.entries_read;
  // Type 15 carries no counter: estimate it as Redis 7 does when loading 6.2 files.
  if (!exact_v7_) entries_read = stream_->EstimateDistanceFromFirstEverEntry(g.last_delivered_id);
  group_ = stream_->CreateGroup(g.name, g.last_delivered_id, entries_read);
  if (!group_) return Status::Error("duplicated consumer group name '" + std::string(g.name) + "'");
  consumer_ = nullptr;
  return {};
}

Status StreamLoader::OnStreamPending(std::span<const rdb::StreamPendingEntry> pel) {
  if (!group_) return Status::Error("stream PEL outside a group");
  for (const auto& p : pel) {
    StreamObject::PendingEntry pe;
    pe.delivery_time = p.delivery_time_ms;
    pe.delivery_count = p.delivery_count;
    if (!group_->pel.emplace(p.id, pe).second)
      return Status::Error("duplicated stream PEL entry " + FormatStreamId(p.id));
  }
  return {};
}

Status StreamLoader::OnStreamConsumer(const rdb::StreamConsumer& c) {
  if (!group_) return Status::Error("stream consumer outside a group");
  consumer_ = group_->CreateConsumer(c.name, c.seen_time_ms);
  if (!consumer_) return Status::Error("duplicated stream consumer '" + std::string(c.name) + "'");
  consumer_->active_time = c.active_time_ms;
  return {};
}

Status StreamLoader::OnStreamConsumerPending(std::span<const rdb::StreamId> ids) {
  if (!consumer_) return Status::Error("consumer PEL outside a consumer");
  for (StreamId id : ids) {
    auto it = group_->pel.find(id);
    if (it == group_->pel.end())
      return Status::Error("consumer PEL entry " + FormatStreamId(id) + " missing from the group PEL");
    if (it->second.consumer) return Status::Error("stream PEL entry " + FormatStreamId(id) + " owned twice");
    it->second.consumer = consumer_;
    consumer_->pel.insert(id);
  }
  return {};
}

Status StreamLoader::EndStream() {
  if (!stream_) return Status::Error("end of a stream that did not begin");
  return FinishGroup();
}

std::unique_ptr<StreamObject> StreamLoader::Take() {
  group_ = nullptr;
  consumer_ = nullptr;
  return std::move(stream_);
}

Status SaveStream(const StreamObject& s, rdb::Writer& w, const rdb::KeyModifiers& mods, std::string_view key) {
  DARTER_RDB_RETURN_IF_ERROR(w.BeginStream(mods, key, s.length()));
  Status st;
  s.Range(kMinStreamId, kMaxStreamId, false, [&](StreamId id, StreamFields fv) {
    st = w.AppendStreamEntry(id, fv);
    return st.ok();
  });
  DARTER_RDB_RETURN_IF_ERROR(st);
  rdb::StreamMeta meta;
  meta.length = s.length();
  meta.last_id = s.last_id();
  meta.first_id = s.first_id();
  meta.max_deleted_id = s.max_deleted_id();
  meta.entries_added = s.entries_added();
  meta.exact_v7_fields = true;
  DARTER_RDB_RETURN_IF_ERROR(w.WriteStreamMeta(meta, s.group_count()));
  if (const auto* groups = s.groups_if_any()) {
    for (const auto& [name, g] : *groups) {
      rdb::StreamGroup rg;
      rg.name = name;
      rg.last_delivered_id = g.last_id;
      rg.entries_read = g.entries_read;
      rg.pending_count = g.pel.size();
      DARTER_RDB_RETURN_IF_ERROR(w.BeginStreamGroup(rg, g.consumers.size()));
      for (const auto& [id, pe] : g.pel) {
        DARTER_RDB_RETURN_IF_ERROR(w.AppendStreamPending({id, pe.delivery_time, pe.delivery_count}));
      }
      for (const auto& [cname, c] : g.consumers) {
        rdb::StreamConsumer rc;
        rc.name = cname;
        rc.seen_time_ms = c->seen_time;
        rc.active_time_ms = c->active_time;
        rc.pending_count = c->pel.size();
        DARTER_RDB_RETURN_IF_ERROR(w.BeginStreamConsumer(rc));
        for (StreamId id : c->pel) DARTER_RDB_RETURN_IF_ERROR(w.AppendStreamConsumerPending(id));
      }
    }
  }
  return w.EndValue();
}

}  // namespace darter::store
