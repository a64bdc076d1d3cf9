#include "rdb/rewriter.h"

#include <algorithm>

namespace darter::rdb {

Rewriter::Rewriter(Writer* writer, bool value_only) : w_(writer), value_only_(value_only) {}

Status Rewriter::EnsureHeader() {
  if (header_done_ || value_only_) return {};
  header_done_ = true;
  return w_->WriteHeader();
}

KeyModifiers Rewriter::Mods() const {
  KeyModifiers m;
  m.expire_ms = meta_.expire_ms;
  m.lru_idle_s = meta_.lru_idle_s;
  m.lfu_freq = meta_.lfu_freq;
  return m;
}

Status Rewriter::OnAux(std::string_view key, std::string_view value) {
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  // Fields that describe the original writer or its replication state would
  // be wrong for the new file; the `lua` scripts of 6.2 are ignored by 7.x.
  static const std::string_view kDrop[] = {"aof-preamble", "aof-base", "repl-stream-db",
                                           "repl-id", "repl-offset", "lua"};
  for (auto d : kDrop)
    if (key == d) return {};
  return w_->WriteAux(key, value);
}

Status Rewriter::OnSelectDb(uint64_t db) {
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  return w_->WriteSelectDb(db);
}

Status Rewriter::OnFunction(std::string_view src) {
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  if (w_->rdb_version() < 10) {
    ++functions_dropped_;
    return {};
  }
  return w_->WriteFunction(src);
}

Status Rewriter::OnString(const KeyMeta& meta, std::string_view key, std::string_view value) {
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  meta_ = meta;
  return w_->WriteString(Mods(), key, value);
}

Status Rewriter::BeginCollection(const KeyMeta& meta, std::string_view key, CollectionKind kind, uint64_t) {
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  meta_ = meta;
  key_.assign(key);
  kind_ = kind;
  a_.clear();
  b_.clear();
  scores_.clear();
  field_expire_.clear();
  return {};
}

Status Rewriter::OnListElements(std::span<const std::string_view> e) {
  for (auto s : e) a_.emplace_back(s);
  return {};
}
Status Rewriter::OnSetMembers(std::span<const std::string_view> e) {
  for (auto s : e) a_.emplace_back(s);
  return {};
}
Status Rewriter::OnHashFields(std::span<const HashField> f) {
  for (const auto& h : f) {
    a_.emplace_back(h.field);
    b_.emplace_back(h.value);
    field_expire_.push_back(h.expire_ms);
  }
  return {};
}
Status Rewriter::OnZSetMembers(std::span<const ZSetMember> z) {
  for (const auto& m : z) {
    a_.emplace_back(m.member);
    scores_.push_back(m.score);
  }
  return {};
}

Status Rewriter::EndCollection() {
  const KeyModifiers mods = Mods();
  switch (kind_) {
    case CollectionKind::kList:
      DARTER_RDB_RETURN_IF_ERROR(w_->BeginList(mods, key_, a_.size()));
      for (const auto& s : a_) DARTER_RDB_RETURN_IF_ERROR(w_->AppendListElement(s));
      break;
    case CollectionKind::kSet:
      DARTER_RDB_RETURN_IF_ERROR(w_->BeginSet(mods, key_, a_.size()));
      for (const auto& s : a_) DARTER_RDB_RETURN_IF_ERROR(w_->AppendSetMember(s));
      break;
    case CollectionKind::kHash: {
      int64_t min_exp = kNoExpire;
      for (int64_t e : field_expire_)
        if (e != kNoExpire && (min_exp == kNoExpire || e < min_exp)) min_exp = e;
      DARTER_RDB_RETURN_IF_ERROR(w_->BeginHash(mods, key_, a_.size(), min_exp));
      for (size_t i = 0; i < a_.size(); ++i)
        DARTER_RDB_RETURN_IF_ERROR(w_->AppendHashField(a_[i], b_[i], field_expire_[i]));
      break;
    }
    case CollectionKind::kZSet:
      DARTER_RDB_RETURN_IF_ERROR(w_->BeginZSet(mods, key_, a_.size()));
      for (size_t i = 0; i < a_.size(); ++i) DARTER_RDB_RETURN_IF_ERROR(w_->AppendZSetMember(a_[i], scores_[i]));
      break;
  }
  return w_->EndValue();
}

Status Rewriter::BeginStream(const KeyMeta& meta, std::string_view key) {
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  meta_ = meta;
  key_.assign(key);
  entries_.clear();
  groups_.clear();
  smeta_ = StreamMeta{};
  return {};
}

Status Rewriter::OnStreamEntries(std::span<const StreamEntry> entries) {
  for (const auto& e : entries) {
    Entry x;
    x.id = e.id;
    for (auto f : e.fields) x.fv.emplace_back(f);
    entries_.push_back(std::move(x));
  }
  return {};
}

Status Rewriter::OnStreamMeta(const StreamMeta& meta) {
  smeta_ = meta;
  return {};
}

Status Rewriter::OnStreamGroup(const StreamGroup& g) {
  Group x;
  x.name.assign(g.name);
  x.last = g.last_delivered_id;
  x.entries_read = g.entries_read;
  groups_.push_back(std::move(x));
  return {};
}

Status Rewriter::OnStreamPending(std::span<const StreamPendingEntry> pel) {
  auto& g = groups_.back();
  g.pel.insert(g.pel.end(), pel.begin(), pel.end());
  return {};
}

Status Rewriter::OnStreamConsumer(const StreamConsumer& c) {
  Consumer x;
  x.name.assign(c.name);
  x.seen = c.seen_time_ms;
  x.active = c.active_time_ms;
  groups_.back().consumers.push_back(std::move(x));
  return {};
}

Status Rewriter::OnStreamConsumerPending(std::span<const StreamId> ids) {
  auto& c = groups_.back().consumers.back();
  c.ids.insert(c.ids.end(), ids.begin(), ids.end());
  return {};
}

Status Rewriter::EndStream() {
  DARTER_RDB_RETURN_IF_ERROR(w_->BeginStream(Mods(), key_, entries_.size()));
  std::vector<std::string_view> fv;
  for (const auto& e : entries_) {
    fv.assign(e.fv.begin(), e.fv.end());
    DARTER_RDB_RETURN_IF_ERROR(w_->AppendStreamEntry(e.id, fv));
  }
  DARTER_RDB_RETURN_IF_ERROR(w_->WriteStreamMeta(smeta_, groups_.size()));
  for (const auto& g : groups_) {
    StreamGroup sg;
    sg.name = g.name;
    sg.last_delivered_id = g.last;
    sg.entries_read = g.entries_read;
    sg.pending_count = g.pel.size();
    DARTER_RDB_RETURN_IF_ERROR(w_->BeginStreamGroup(sg, g.consumers.size()));
    for (const auto& p : g.pel) DARTER_RDB_RETURN_IF_ERROR(w_->AppendStreamPending(p));
    for (const auto& c : g.consumers) {
      StreamConsumer sc;
      sc.name = c.name;
      sc.seen_time_ms = c.seen;
      sc.active_time_ms = c.active;
      sc.pending_count = c.ids.size();
      DARTER_RDB_RETURN_IF_ERROR(w_->BeginStreamConsumer(sc));
      for (const auto& id : c.ids) DARTER_RDB_RETURN_IF_ERROR(w_->AppendStreamConsumerPending(id));
    }
  }
  return w_->EndValue();
}

Status Rewriter::OnEnd(const EndInfo&) {
  if (value_only_) return {};
  DARTER_RDB_RETURN_IF_ERROR(EnsureHeader());
  return w_->Finish();
}

}  // namespace darter::rdb
