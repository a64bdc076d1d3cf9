// ModelSink: a test Sink that rebuilds the logical content of an RDB (keys,
// TTLs, values, stream groups) independently of chunking, so two decodes can
// be compared, and renders it in a canonical text form.
//
// Test-only; not thread-safe.
#pragma once

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rdb/format.h"
#include "rdb/sink.h"

namespace darter::rdb::testing {

inline std::string ScoreText(double d) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

struct ModelValue {
  std::string type;  // string, list, set, hash, zset, stream
  int64_t expire_ms = kNoExpire;
  uint8_t rdb_type = 0;
  std::string str;
  std::vector<std::string> list;                         // list / set members
  std::vector<std::pair<std::string, std::string>> kv;   // hash fields, zset member->score text
  std::vector<int64_t> field_expire;
  std::vector<std::string> stream;                       // rendered stream parts
  int64_t idle = -1;
  int freq = -1;

  // Canonical text: sets, hashes and zsets sorted.
  std::string Render(bool with_encoding_details = false) const {
    std::string out = type;
    if (expire_ms != kNoExpire) out += " ttl@" + std::to_string(expire_ms);
    if (with_encoding_details) {
      out += " rdbtype=" + std::to_string(rdb_type);
      if (idle >= 0) out += " idle=" + std::to_string(idle);
      if (freq >= 0) out += " freq=" + std::to_string(freq);
    }
    out += ":";
    if (type == "string") {
      out += str;
    } else if (type == "list") {
      for (const auto& e : list) out += "[" + e + "]";
    } else if (type == "set") {
      auto v = list;
      std::sort(v.begin(), v.end());
      for (const auto& e : v) out += "[" + e + "]";
    } else if (type == "hash" || type == "zset") {
      std::vector<std::string> items;
      for (size_t i = 0; i < kv.size(); ++i) {
        std::string it = "[" + kv[i].first + "=" + kv[i].second;
        if (i < field_expire.size() && field_expire[i] != kNoExpire) it += "@" + std::to_string(field_expire[i]);
        items.push_back(it + "]");
      }
      std::sort(items.begin(), items.end());
      for (const auto& e : items) out += e;
    } else if (type == "stream") {
      for (const auto& e : stream) out += e + ";";
    } else {
      out += str;
    }
    return out;
  }
};

class ModelSink : public Sink {
 public:
  std::map<std::pair<uint64_t, std::string>, ModelValue> keys;
  std::vector<std::pair<std::string, std::string>> aux;
  std::vector<std::string> functions;
  std::vector<std::string> empty_skipped;
  std::vector<std::string> module_skipped;
  EndInfo end;
  bool ended = false;
  bool fail_on_duplicate = true;
  std::string error_injected_at;  // key on which OnString fails (tests abort)

  Status OnAux(std::string_view k, std::string_view v) override {
    aux.emplace_back(std::string(k), std::string(v));
    return {};
  }
  Status OnFunction(std::string_view src) override {
    functions.emplace_back(src);
    return {};
  }
  Status OnString(const KeyMeta& m, std::string_view key, std::string_view value) override {
    if (!error_injected_at.empty() && key == error_injected_at) return Status::Error("injected");
    ModelValue& v = Start(m, key, "string");
    v.str.assign(value);
    return dup_;
  }
  Status BeginCollection(const KeyMeta& m, std::string_view key, CollectionKind kind, uint64_t) override {
    static const char* kNames[] = {"list", "set", "hash", "zset"};
    Start(m, key, kNames[static_cast<int>(kind)]);
    return dup_;
  }
  Status OnListElements(std::span<const std::string_view> e) override {
    for (auto s : e) cur_->list.emplace_back(s);
    return {};
  }
  Status OnSetMembers(std::span<const std::string_view> e) override {
    for (auto s : e) cur_->list.emplace_back(s);
    return {};
  }
  Status OnHashFields(std::span<const HashField> f) override {
    for (const auto& h : f) {
      cur_->kv.emplace_back(std::string(h.field), std::string(h.value));
      cur_->field_expire.push_back(h.expire_ms);
    }
    return {};
  }
  Status OnZSetMembers(std::span<const ZSetMember> z) override {
    for (const auto& m : z) cur_->kv.emplace_back(std::string(m.member), ScoreText(m.score));
    return {};
  }
  Status EndCollection() override {
    cur_ = nullptr;
    return {};
  }
  Status BeginStream(const KeyMeta& m, std::string_view key) override {
    Start(m, key, "stream");
    return dup_;
  }
  static std::string Id(StreamId id) { return std::to_string(id.ms) + "-" + std::to_string(id.seq); }
  Status OnStreamEntries(std::span<const StreamEntry> entries) override {
    for (const auto& e : entries) {
      std::string s = "E" + Id(e.id);
      for (auto f : e.fields) s += "|" + std::string(f);
      cur_->stream.push_back(std::move(s));
    }
    return {};
  }
  Status OnStreamMeta(const StreamMeta& m) override {
    cur_->stream.push_back("M len=" + std::to_string(m.length) + " last=" + Id(m.last_id) +
                           (m.exact_v7_fields ? " first=" + Id(m.first_id) + " maxdel=" + Id(m.max_deleted_id) +
                                                    " added=" + std::to_string(m.entries_added)
                                              : std::string()));
    return {};
  }
  Status OnStreamGroup(const StreamGroup& g) override {
    cur_->stream.push_back("G " + std::string(g.name) + " last=" + Id(g.last_delivered_id) +
                           " read=" + std::to_string(g.entries_read) + " pel=" + std::to_string(g.pending_count));
    return {};
  }
  Status OnStreamPending(std::span<const StreamPendingEntry> pel) override {
    for (const auto& p : pel)
      cur_->stream.push_back("P " + Id(p.id) + " t=" + std::to_string(p.delivery_time_ms) +
                             " n=" + std::to_string(p.delivery_count));
    return {};
  }
  Status OnStreamConsumer(const StreamConsumer& c) override {
    cur_->stream.push_back("C " + std::string(c.name) + " seen=" + std::to_string(c.seen_time_ms) +
                           " active=" + std::to_string(c.active_time_ms) + " pel=" + std::to_string(c.pending_count));
    return {};
  }
  Status OnStreamConsumerPending(std::span<const StreamId> ids) override {
    for (const auto& id : ids) cur_->stream.push_back("O " + Id(id));
    return {};
  }
  Status EndStream() override {
    cur_ = nullptr;
    return {};
  }
  Status OnEmptyKeySkipped(const KeyMeta& m, std::string_view key) override {
    empty_skipped.push_back(std::to_string(m.db) + ":" + std::string(key));
    return {};
  }
  Status OnModuleValueSkipped(const KeyMeta& m, std::string_view key, const ModuleSkip& s) override {
    module_skipped.push_back(std::to_string(m.db) + ":" + std::string(key) + ":" + std::string(s.module_name));
    return {};
  }
  Status OnEnd(const EndInfo& info) override {
    end = info;
    ended = true;
    return {};
  }

  // Whole content, one key per line, in (db, key) order.
  std::string Render(bool with_encoding_details = false) const {
    std::string out;
    for (const auto& [k, v] : keys) {
      out += std::to_string(k.first) + " " + k.second + " " + v.Render(with_encoding_details) + "\n";
    }
    return out;
  }

  // Keys per "db:type".
  std::map<std::string, int> Counts(int64_t now_ms = -1) const {
    std::map<std::string, int> c;
    for (const auto& [k, v] : keys) {
      if (now_ms >= 0 && v.expire_ms != kNoExpire && v.expire_ms <= now_ms) continue;
      c[std::to_string(k.first) + ":" + v.type]++;
    }
    return c;
  }

 private:
  ModelValue& Start(const KeyMeta& m, std::string_view key, const char* type) {
    auto [it, inserted] = keys.try_emplace({m.db, std::string(key)});
    dup_ = inserted || !fail_on_duplicate ? Status() : Status::Error("duplicate key " + std::string(key));
    it->second = ModelValue{};
    it->second.type = type;
    it->second.expire_ms = m.expire_ms;
    it->second.rdb_type = m.rdb_type;
    it->second.idle = m.lru_idle_s;
    it->second.freq = m.lfu_freq;
    cur_ = &it->second;
    return it->second;
  }
  ModelValue* cur_ = nullptr;
  Status dup_;
};

}  // namespace darter::rdb::testing
