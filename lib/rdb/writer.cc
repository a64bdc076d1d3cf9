#include "rdb/writer.h"

#include <cerrno>
#include <cmath>
#include <cstring>

#include "rdb/crc64.h"
#include "rdb/format.h"
#include "rdb/intset.h"
#include "rdb/lzf.h"

namespace darter::rdb {
namespace {

constexpr size_t kFlushAt = 64 * 1024;
// Entries per stream node. Fixed so the node count can be written before
// the entries arrive (Redis's own default limit is 100 entries per node).
constexpr uint64_t kStreamNodeEntries = 100;

}  // namespace

Status FileByteSink::Write(std::string_view bytes) {
  if (bytes.empty()) return {};
  if (std::fwrite(bytes.data(), 1, bytes.size(), f_) != bytes.size())
    return Status::Error(std::string("write failed: ") + std::strerror(errno));
  return {};
}

Writer::Writer(ByteSink* out, WriterOptions options) : out_(out), opt_(options) {
  buf_.reserve(kFlushAt + 1024);
}

Writer::~Writer() = default;

Status Writer::Fail(std::string what) {
  status_ = Status::Error("rdb writer: " + what);
  phase_ = Phase::kFailed;
  return status_;
}

Status Writer::Expect(Phase p, const char* call) {
  if (phase_ == Phase::kFailed) return status_;
  if (phase_ != p) return Fail(std::string(call) + " called out of sequence");
  return {};
}

void Writer::PutLen(uint64_t v) {
  if (v < 64) {
    PutByte(static_cast<uint8_t>(v));
  } else if (v < 16384) {
    PutByte(static_cast<uint8_t>(0x40 | (v >> 8)));
    PutByte(static_cast<uint8_t>(v & 0xFF));
  } else if (v <= UINT32_MAX) {
    PutByte(0x80);
    for (int i = 3; i >= 0; --i) PutByte(static_cast<uint8_t>((v >> (8 * i)) & 0xFF));
  } else {
    PutByte(0x81);
    PutBE64(v);
  }
}

void Writer::PutLE64(uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  buf_.append(b, 8);
}

void Writer::PutBE64(uint64_t v) {
  for (int i = 7; i >= 0; --i) PutByte(static_cast<uint8_t>((v >> (8 * i)) & 0xFF));
}

void Writer::PutRaw(std::string_view s) { buf_.append(s); }

Status Writer::FlushBuffer() {
  if (buf_.empty()) return {};
  if (opt_.checksum) crc_ = Crc64(crc_, buf_.data(), buf_.size());
  written_ += buf_.size();
  Status s = out_->Write(buf_);
  buf_.clear();
  if (!s.ok()) return Fail(s.message());
  return {};
}

Status Writer::MaybeFlush() {
  if (buf_.size() >= kFlushAt) return FlushBuffer();
  return {};
}

Status Writer::PutString(std::string_view s, bool allow_int) {
  // Integer form: canonical decimal that fits 32 bits (Redis's rule).
  int64_t v;
  if (allow_int && s.size() <= 11 && ParseCanonicalInt64(s, &v)) {
    if (v >= INT8_MIN && v <= INT8_MAX) {
      PutByte(0xC0);
      PutByte(static_cast<uint8_t>(static_cast<int8_t>(v)));
      return MaybeFlush();
    }
    if (v >= INT16_MIN && v <= INT16_MAX) {
      int16_t x = static_cast<int16_t>(v);
      PutByte(0xC1);
      buf_.append(reinterpret_cast<const char*>(&x), 2);
      return MaybeFlush();
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
      int32_t x = static_cast<int32_t>(v);
      PutByte(0xC2);
      buf_.append(reinterpret_cast<const char*>(&x), 4);
      return MaybeFlush();
    }
  }
  if (opt_.compress && s.size() > 20 && LzfCompress(s, s.size() - 4, &lzf_)) {
    PutByte(0xC3);
    PutLen(lzf_.size());
    PutLen(s.size());
    PutRaw(lzf_);
    return MaybeFlush();
  }
  PutLen(s.size());
  if (s.size() >= kFlushAt) {
    // Pass big values straight through.
    DARTER_RDB_RETURN_IF_ERROR(FlushBuffer());
    if (opt_.checksum) crc_ = Crc64(crc_, s.data(), s.size());
    written_ += s.size();
    Status st = out_->Write(s);
    if (!st.ok()) return Fail(st.message());
    return {};
  }
  PutRaw(s);
  return MaybeFlush();
}

Status Writer::WriteHeader() {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStart, "WriteHeader"));
  if (opt_.rdb_version < 9 || opt_.rdb_version > kMaxRedisVersion)
    return Fail("unsupported output RDB version " + std::to_string(opt_.rdb_version) + " (9 to 12)");
  char magic[16];
  std::snprintf(magic, sizeof magic, "REDIS%04d", opt_.rdb_version);
  PutRaw(std::string_view(magic, 9));
  phase_ = Phase::kTop;
  return {};
}

Status Writer::WriteAux(std::string_view key, std::string_view value) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "WriteAux"));
  PutByte(kOpAux);
  DARTER_RDB_RETURN_IF_ERROR(PutString(key));
  return PutString(value);
}

Status Writer::WriteFunction(std::string_view library_source) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "WriteFunction"));
  if (opt_.rdb_version < 10) return Fail("functions need RDB version 10 or newer");
  PutByte(kOpFunction2);
  return PutString(library_source);
}

Status Writer::WriteSelectDb(uint64_t db) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "WriteSelectDb"));
  PutByte(kOpSelectDb);
  PutLen(db);
  return MaybeFlush();
}

Status Writer::WriteResizeDb(uint64_t db_size, uint64_t expires_size) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "WriteResizeDb"));
  PutByte(kOpResizeDb);
  PutLen(db_size);
  PutLen(expires_size);
  return MaybeFlush();
}

Status Writer::BeginKey(const KeyModifiers& mods, uint8_t type, std::string_view key) {
  if (value_only_) {
    DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStart, "value"));
    PutByte(type);
    return {};
  }
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "Begin/Write key"));
  if (mods.expire_ms != kNoExpire) {
    PutByte(kOpExpireTimeMs);
    PutLE64(static_cast<uint64_t>(mods.expire_ms));
  }
  if (mods.lfu_freq >= 0 && mods.lfu_freq <= 255) {
    PutByte(kOpFreq);
    PutByte(static_cast<uint8_t>(mods.lfu_freq));
  } else if (mods.lru_idle_s >= 0) {
    PutByte(kOpIdle);
    PutLen(static_cast<uint64_t>(mods.lru_idle_s));
  }
  PutByte(type);
  return PutString(key);
}

Status Writer::WriteString(const KeyModifiers& mods, std::string_view key, std::string_view value) {
  DARTER_RDB_RETURN_IF_ERROR(BeginKey(mods, kTypeString, key));
  DARTER_RDB_RETURN_IF_ERROR(PutString(value));
  phase_ = value_only_ ? Phase::kValueDone : Phase::kTop;
  return {};
}

#define DARTER_BEGIN_COLLECTION(TYPE, PHASE, NAME)                           \
  if (count == 0) return Fail(std::string(NAME) + " with zero elements");   \
  DARTER_RDB_RETURN_IF_ERROR(BeginKey(mods, TYPE, key));                    \
  PutLen(count);                                                            \
  remaining_ = count;                                                       \
  phase_ = PHASE;                                                           \
  return MaybeFlush();

Status Writer::BeginList(const KeyModifiers& mods, std::string_view key, uint64_t count) {
  DARTER_BEGIN_COLLECTION(kTypeList, Phase::kList, "list")
}

Status Writer::BeginSet(const KeyModifiers& mods, std::string_view key, uint64_t count) {
  DARTER_BEGIN_COLLECTION(kTypeSet, Phase::kSet, "set")
}

Status Writer::BeginZSet(const KeyModifiers& mods, std::string_view key, uint64_t count) {
  DARTER_BEGIN_COLLECTION(kTypeZSet2, Phase::kZSet, "sorted set")
}

Status Writer::BeginHash(const KeyModifiers& mods, std::string_view key, uint64_t count,
                         int64_t min_field_expire_ms) {
  if (count == 0) return Fail("hash with zero elements");
  min_field_expire_ = min_field_expire_ms;
  if (min_field_expire_ms != kNoExpire) {
    if (opt_.rdb_version < 12) return Fail("hash field TTLs need RDB version 12");
    DARTER_RDB_RETURN_IF_ERROR(BeginKey(mods, kTypeHashMetadata, key));
    PutLE64(static_cast<uint64_t>(min_field_expire_ms));
  } else {
    DARTER_RDB_RETURN_IF_ERROR(BeginKey(mods, kTypeHash, key));
  }
  PutLen(count);
  remaining_ = count;
  phase_ = Phase::kHash;
  return MaybeFlush();
}

#undef DARTER_BEGIN_COLLECTION

Status Writer::AppendListElement(std::string_view element) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kList, "AppendListElement"));
  if (remaining_ == 0) return Fail("more list elements than announced");
  --remaining_;
  return PutString(element);
}

Status Writer::AppendSetMember(std::string_view member) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kSet, "AppendSetMember"));
  if (remaining_ == 0) return Fail("more set members than announced");
  --remaining_;
  return PutString(member);
}

Status Writer::AppendHashField(std::string_view field, std::string_view value, int64_t field_expire_ms) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kHash, "AppendHashField"));
  if (remaining_ == 0) return Fail("more hash fields than announced");
  --remaining_;
  if (min_field_expire_ != kNoExpire) {
    if (field_expire_ms == kNoExpire) {
      PutLen(0);
    } else {
      if (field_expire_ms < min_field_expire_) return Fail("field TTL below the announced minimum");
      PutLen(static_cast<uint64_t>(field_expire_ms - min_field_expire_) + 1);
    }
  } else if (field_expire_ms != kNoExpire) {
    return Fail("field TTL on a hash begun without min_field_expire_ms");
  }
  DARTER_RDB_RETURN_IF_ERROR(PutString(field));
  return PutString(value);
}

Status Writer::AppendZSetMember(std::string_view member, double score) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kZSet, "AppendZSetMember"));
  if (remaining_ == 0) return Fail("more sorted set members than announced");
  if (std::isnan(score)) return Fail("NaN score");
  --remaining_;
  DARTER_RDB_RETURN_IF_ERROR(PutString(member));
  uint64_t bits;
  std::memcpy(&bits, &score, 8);
  PutLE64(bits);
  return MaybeFlush();
}

Status Writer::WriteIntSet(const KeyModifiers& mods, std::string_view key, std::span<const int64_t> members) {
  if (members.empty()) return Fail("intset with zero members");
  for (size_t i = 1; i < members.size(); ++i)
    if (members[i - 1] >= members[i]) return Fail("intset members not strictly ascending");
  DARTER_RDB_RETURN_IF_ERROR(BeginKey(mods, kTypeSetIntset, key));
  std::string blob;
  BuildIntset(members.data(), members.size(), &blob);
  DARTER_RDB_RETURN_IF_ERROR(PutString(blob, /*allow_int=*/false));
  phase_ = value_only_ ? Phase::kValueDone : Phase::kTop;
  return {};
}

// ---- streams -----------------------------------------------------------------

Status Writer::BeginStream(const KeyModifiers& mods, std::string_view key, uint64_t entry_count) {
  stream_type_ = opt_.rdb_version >= 11   ? kTypeStreamListpacks3
                 : opt_.rdb_version >= 10 ? kTypeStreamListpacks2
                                          : kTypeStreamListpacks;
  DARTER_RDB_RETURN_IF_ERROR(BeginKey(mods, stream_type_, key));
  PutLen((entry_count + kStreamNodeEntries - 1) / kStreamNodeEntries);
  remaining_ = entry_count;
  node_.Clear();
  node_entries_ = 0;
  have_entry_ = false;
  phase_ = entry_count ? Phase::kStreamEntries : Phase::kStreamMeta;
  return MaybeFlush();
}

Status Writer::FlushStreamNode() {
  // Node key: the master id, big-endian ms then seq.
  std::string key(16, '\0');
  for (int i = 0; i < 8; ++i) {
    key[i] = static_cast<char>((node_master_.ms >> (8 * (7 - i))) & 0xFF);
    key[8 + i] = static_cast<char>((node_master_.seq >> (8 * (7 - i))) & 0xFF);
  }
  DARTER_RDB_RETURN_IF_ERROR(PutString(key, /*allow_int=*/false));
  // Master entry: count, deleted, num fields, fields..., 0; then the entries.
  ListpackBuilder lp;
  lp.AppendInt(node_entries_);
  lp.AppendInt(0);
  lp.AppendInt(static_cast<int64_t>(master_fields_.size()));
  for (const auto& f : master_fields_) lp.Append(f);
  lp.AppendInt(0);
  lp.AppendElementsOf(node_);
  DARTER_RDB_RETURN_IF_ERROR(PutString(lp.Finish(), /*allow_int=*/false));
  node_.Clear();
  node_entries_ = 0;
  return {};
}

Status Writer::AppendStreamEntry(StreamId id, std::span<const std::string_view> fv) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStreamEntries, "AppendStreamEntry"));
  if (remaining_ == 0) return Fail("more stream entries than announced");
  if (fv.size() % 2 != 0) return Fail("stream entry with an odd number of fields and values");
  if (fv.empty()) return Fail("stream entry without fields");
  if (have_entry_ && !(last_entry_ < id)) return Fail("stream entry ids not strictly ascending");
  const size_t nf = fv.size() / 2;
  if (node_entries_ == 0) {
    node_master_ = id;
    master_fields_.clear();
    for (size_t i = 0; i < nf; ++i) master_fields_.emplace_back(fv[2 * i]);
  }
  bool same = nf == master_fields_.size();
  for (size_t i = 0; same && i < nf; ++i) same = fv[2 * i] == master_fields_[i];
  node_.AppendInt(same ? 2 : 0);
  node_.AppendInt(static_cast<int64_t>(id.ms - node_master_.ms));
  node_.AppendInt(static_cast<int64_t>(id.seq - node_master_.seq));
  if (same) {
    for (size_t i = 0; i < nf; ++i) node_.Append(fv[2 * i + 1]);
    node_.AppendInt(static_cast<int64_t>(nf + 3));
  } else {
    node_.AppendInt(static_cast<int64_t>(nf));
    for (auto s : fv) node_.Append(s);
    node_.AppendInt(static_cast<int64_t>(2 * nf + 4));
  }
  ++node_entries_;
  last_entry_ = id;
  have_entry_ = true;
  --remaining_;
  if (node_entries_ == kStreamNodeEntries || remaining_ == 0) {
    DARTER_RDB_RETURN_IF_ERROR(FlushStreamNode());
  }
  if (remaining_ == 0) phase_ = Phase::kStreamMeta;
  return MaybeFlush();
}

Status Writer::WriteStreamMeta(const StreamMeta& m, uint64_t group_count) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStreamMeta, "WriteStreamMeta"));
  if (have_entry_ && m.last_id < last_entry_) return Fail("stream last_id below its last entry");
  PutLen(m.length);
  PutLen(m.last_id.ms);
  PutLen(m.last_id.seq);
  if (stream_type_ != kTypeStreamListpacks) {
    PutLen(m.first_id.ms);
    PutLen(m.first_id.seq);
    PutLen(m.max_deleted_id.ms);
    PutLen(m.max_deleted_id.seq);
    PutLen(m.entries_added);
  }
  PutLen(group_count);
  groups_left_ = group_count;
  consumers_left_ = 0;
  pel_left_ = 0;
  phase_ = Phase::kStreamConsumers;  // "between groups"
  return MaybeFlush();
}

Status Writer::BeginStreamGroup(const StreamGroup& g, uint64_t consumer_count) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStreamConsumers, "BeginStreamGroup"));
  if (consumers_left_ != 0) return Fail("stream group started before the previous group's consumers");
  if (groups_left_ == 0) return Fail("more stream groups than announced");
  --groups_left_;
  DARTER_RDB_RETURN_IF_ERROR(PutString(g.name));
  PutLen(g.last_delivered_id.ms);
  PutLen(g.last_delivered_id.seq);
  // -1 ("unknown", as Redis writes for an invalid counter) round-trips as 2^64-1.
  if (stream_type_ != kTypeStreamListpacks) PutLen(static_cast<uint64_t>(g.entries_read));
  PutLen(g.pending_count);
  pel_left_ = g.pending_count;
  group_consumers_ = consumer_count;
  if (pel_left_ == 0) {
    PutLen(group_consumers_);  // the consumer count follows the group PEL
    consumers_left_ = group_consumers_;
    phase_ = Phase::kStreamConsumers;
  } else {
    phase_ = Phase::kStreamGroupPel;
  }
  return MaybeFlush();
}

Status Writer::AppendStreamPending(const StreamPendingEntry& p) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStreamGroupPel, "AppendStreamPending"));
  --pel_left_;
  PutBE64(p.id.ms);
  PutBE64(p.id.seq);
  PutLE64(static_cast<uint64_t>(p.delivery_time_ms));
  PutLen(p.delivery_count);
  if (pel_left_ == 0) {
    PutLen(group_consumers_);
    consumers_left_ = group_consumers_;
    phase_ = Phase::kStreamConsumers;
  }
  return MaybeFlush();
}

Status Writer::BeginStreamConsumer(const StreamConsumer& c) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStreamConsumers, "BeginStreamConsumer"));
  if (consumers_left_ == 0) return Fail("more stream consumers than announced");
  --consumers_left_;
  DARTER_RDB_RETURN_IF_ERROR(PutString(c.name));
  PutLE64(static_cast<uint64_t>(c.seen_time_ms));
  if (stream_type_ == kTypeStreamListpacks3) PutLE64(static_cast<uint64_t>(c.active_time_ms));
  PutLen(c.pending_count);
  consumer_pel_left_ = c.pending_count;
  if (consumer_pel_left_) phase_ = Phase::kStreamConsumerPel;
  return MaybeFlush();
}

Status Writer::AppendStreamConsumerPending(StreamId id) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kStreamConsumerPel, "AppendStreamConsumerPending"));
  PutBE64(id.ms);
  PutBE64(id.seq);
  if (--consumer_pel_left_ == 0) phase_ = Phase::kStreamConsumers;
  return MaybeFlush();
}

Status Writer::EndValue() {
  if (phase_ == Phase::kFailed) return status_;
  switch (phase_) {
    case Phase::kList:
    case Phase::kSet:
    case Phase::kHash:
    case Phase::kZSet:
      if (remaining_ != 0) return Fail(std::to_string(remaining_) + " announced elements were not written");
      break;
    case Phase::kStreamConsumers:
      if (groups_left_ != 0 || consumers_left_ != 0)
        return Fail("stream groups/consumers announced but not written");
      break;
    default:
      return Fail("EndValue called out of sequence");
  }
  phase_ = value_only_ ? Phase::kValueDone : Phase::kTop;
  return MaybeFlush();
}

Status Writer::Finish() {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "Finish"));
  PutByte(kOpEof);
  crc_ = Crc64(crc_, buf_.data(), buf_.size());
  uint64_t crc = opt_.checksum ? crc_ : 0;
  written_ += buf_.size();
  PutLE64(crc);
  Status s = out_->Write(buf_);
  written_ += 8;
  buf_.clear();
  if (!s.ok()) return Fail(s.message());
  phase_ = Phase::kFinished;
  return {};
}

void Writer::StartBody() { phase_ = Phase::kTop; }

Status Writer::Flush() {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "Flush"));
  return FlushBuffer();
}

Status Writer::WriteRecords(std::string_view records) {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kTop, "WriteRecords"));
  DARTER_RDB_RETURN_IF_ERROR(FlushBuffer());
  if (opt_.checksum) crc_ = Crc64(crc_, records.data(), records.size());
  written_ += records.size();
  Status s = out_->Write(records);
  if (!s.ok()) return Fail(s.message());
  return {};
}

void Writer::StartValueOnly() {
  value_only_ = true;
  phase_ = Phase::kStart;
}

Status Writer::FinishDumpPayload() {
  DARTER_RDB_RETURN_IF_ERROR(Expect(Phase::kValueDone, "FinishDumpPayload"));
  PutByte(static_cast<uint8_t>(opt_.rdb_version & 0xFF));
  PutByte(static_cast<uint8_t>(opt_.rdb_version >> 8));
  crc_ = Crc64(crc_, buf_.data(), buf_.size());
  PutLE64(crc_);
  written_ += buf_.size();
  Status s = out_->Write(buf_);
  buf_.clear();
  if (!s.ok()) return Fail(s.message());
  phase_ = Phase::kFinished;
  return {};
}

}  // namespace darter::rdb
