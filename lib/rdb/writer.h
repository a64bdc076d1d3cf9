// Writer: streaming RDB encoder that produces files stock Redis loads.
//
// Usage (a store dumping itself):
//
//   StringByteSink out(&bytes);             // or FileByteSink, or your own
//   Writer w(&out);                         // RDB version 9 by default
//   w.WriteHeader();  w.WriteAux("redis-ver", "7.0.15");
//   w.WriteSelectDb(0);  w.WriteResizeDb(n_keys, n_expires);
//   w.WriteString({.expire_ms = t}, "k", "v");
//   w.BeginSet({}, "s", 3);  w.AppendSetMember("a"); ... ;  w.EndValue();
//   w.Finish();                             // EOF opcode + CRC-64, flush
//
// Every collection is written as a count followed by its elements, appended
// one at a time, so a big collection is never copied; the count must be
// exact (EndValue checks it). Output goes through a 64 KB buffer to a
// ByteSink; large strings are passed through without copying.
//
// Encodings (see docs/rdb.md for the reasons): strings as Redis writes them
// (integers up to 32 bits in integer form, LZF for strings over 20 bytes when
// it saves at least 4 bytes); lists as type 1 LIST, sets as type 2 SET or
// type 11 INTSET (WriteIntSet), hashes type 4, sorted sets type 5 (binary
// doubles) - all understood by Redis 6.2 and 7.x. Streams as type 15 for
// version 9, 19 for 10, 21 for 11 and 12, in nodes of at most 100 entries.
// Hashes with per-field TTLs need version 12 (type 24).
//
// Not thread-safe: one writer per output, used from one thread at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rdb/listpack.h"
#include "rdb/sink.h"
#include "rdb/status.h"

namespace darter::rdb {

// Destination of encoded bytes.
class ByteSink {
 public:
  virtual ~ByteSink() = default;
  virtual Status Write(std::string_view bytes) = 0;
};

// Appends to a std::string the caller owns.
class StringByteSink : public ByteSink {
 public:
  explicit StringByteSink(std::string* out) : out_(out) {}
  Status Write(std::string_view bytes) override {
    out_->append(bytes);
    return {};
  }

 private:
  std::string* out_;
};

// Writes to a stdio FILE the caller owns (and closes).
class FileByteSink : public ByteSink {
 public:
  explicit FileByteSink(std::FILE* f) : f_(f) {}
  Status Write(std::string_view bytes) override;

 private:
  std::FILE* f_;
};

struct WriterOptions {
  // 9 (Redis 6.2+, the default), 10 (7.0+), 11 (7.2+) or 12 (7.4+).
  int rdb_version = 9;
  // LZF-compress strings longer than 20 bytes (rdbcompression yes).
  bool compress = true;
  // Write the CRC-64 trailer (rdbchecksum yes); otherwise it is 0.
  bool checksum = true;
};

// Written before a key: expire time, and LRU idle time or LFU frequency.
struct KeyModifiers {
  int64_t expire_ms = kNoExpire;  // absolute unix ms
  int64_t lru_idle_s = -1;        // IDLE opcode when >= 0
  int lfu_freq = -1;              // FREQ opcode when 0..255 (takes precedence over idle)
};

class Writer {
 public:
  // `out` must outlive the writer.
  explicit Writer(ByteSink* out, WriterOptions options = {});
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // "REDIS000N". First call of a file.
  Status WriteHeader();
  Status WriteAux(std::string_view key, std::string_view value);
  // A function library (FUNCTION2). REQUIRES: rdb_version >= 10.
  Status WriteFunction(std::string_view library_source);
  Status WriteSelectDb(uint64_t db);
  Status WriteResizeDb(uint64_t db_size, uint64_t expires_size);

  Status WriteString(const KeyModifiers& mods, std::string_view key, std::string_view value);

  // Collections: Begin with the exact element count (pairs for hashes),
  // append exactly that many, then EndValue(). A count of 0 is refused:
  // Redis drops empty collections on load.
  Status BeginList(const KeyModifiers& mods, std::string_view key, uint64_t count);
  Status AppendListElement(std::string_view element);
  Status BeginSet(const KeyModifiers& mods, std::string_view key, uint64_t count);
  Status AppendSetMember(std::string_view member);
  // `min_field_expire_ms`: smallest field TTL when fields have TTLs (needs
  // version 12), or kNoExpire for an ordinary hash.
  Status BeginHash(const KeyModifiers& mods, std::string_view key, uint64_t count,
                   int64_t min_field_expire_ms = kNoExpire);
  Status AppendHashField(std::string_view field, std::string_view value,
                         int64_t field_expire_ms = kNoExpire);
  Status BeginZSet(const KeyModifiers& mods, std::string_view key, uint64_t count);
  // REQUIRES: score is not NaN.
  Status AppendZSetMember(std::string_view member, double score);

  // A set of integers in intset form (compact; what Redis itself writes for
  // small integer sets). REQUIRES: members strictly ascending, non-empty.
  Status WriteIntSet(const KeyModifiers& mods, std::string_view key, std::span<const int64_t> members);

  // Streams: entries (ids strictly ascending), then the metadata with the
  // number of groups, then per group its PEL and consumers, then EndValue().
  // The counts given in StreamGroup/StreamConsumer must match what follows.
  Status BeginStream(const KeyModifiers& mods, std::string_view key, uint64_t entry_count);
  Status AppendStreamEntry(StreamId id, std::span<const std::string_view> fields_and_values);
  Status WriteStreamMeta(const StreamMeta& meta, uint64_t group_count);
  // `consumer_count` consumers follow the group's PEL.
  Status BeginStreamGroup(const StreamGroup& group, uint64_t consumer_count);
  Status AppendStreamPending(const StreamPendingEntry& pending);
  Status BeginStreamConsumer(const StreamConsumer& consumer);
  Status AppendStreamConsumerPending(StreamId id);

  Status EndValue();

  // EOF opcode, checksum, final flush. The writer is unusable afterwards.
  Status Finish();

  int rdb_version() const { return opt_.rdb_version; }
  uint64_t bytes_written() const { return written_ + buf_.size(); }

  // Body-only mode (fork-less snapshots): records without a header, for a file or
  // stream whose header another writer wrote. Flush hands everything buffered to the
  // sink (call it between records). WriteRecords appends records encoded elsewhere
  // (e.g. a snapshot's chunks) to this writer's output, inside its checksum.
  void StartBody();
  Status Flush();
  Status WriteRecords(std::string_view records);

  // DUMP-payload mode (used by dump_payload.h): no header, no key names and
  // no modifiers; exactly one value; FinishDumpPayload appends the 2-byte
  // version and the CRC-64 instead of EOF.
  void StartValueOnly();
  Status FinishDumpPayload();

 private:
  enum class Phase : uint8_t {
    kStart, kTop, kList, kSet, kHash, kZSet,
    kStreamEntries, kStreamMeta, kStreamGroupPel, kStreamConsumers, kStreamConsumerPel,
    kValueDone, kFinished, kFailed,
  };

  Status Fail(std::string what);
  Status Expect(Phase p, const char* call);
  Status BeginKey(const KeyModifiers& mods, uint8_t type, std::string_view key);
  void PutByte(uint8_t b) { buf_.push_back(static_cast<char>(b)); }
  void PutLen(uint64_t v);
  void PutRaw(std::string_view s);
  void PutLE64(uint64_t v);
  void PutBE64(uint64_t v);
  // A string in RDB string encoding, integer/LZF forms when they apply.
  Status PutString(std::string_view s, bool allow_int = true);
  Status MaybeFlush();
  Status FlushBuffer();
  Status FlushStreamNode();

  ByteSink* out_;
  WriterOptions opt_;
  Phase phase_ = Phase::kStart;
  bool value_only_ = false;
  Status status_;
  std::string buf_;
  std::string lzf_;
  uint64_t crc_ = 0;
  uint64_t written_ = 0;

  // Current value.
  uint64_t remaining_ = 0;
  int64_t min_field_expire_ = kNoExpire;
  // Streams.
  uint8_t stream_type_ = 0;
  ListpackBuilder node_;
  StreamId node_master_;
  std::vector<std::string> master_fields_;
  uint32_t node_entries_ = 0;
  StreamId last_entry_;
  bool have_entry_ = false;
  uint64_t groups_left_ = 0;
  uint64_t pel_left_ = 0;
  uint64_t consumers_left_ = 0;
  uint64_t consumer_pel_left_ = 0;
  uint64_t group_consumers_ = 0;
};

}  // namespace darter::rdb
