// Reader: incremental, push-based RDB decoder.
//
// Feed it the bytes of an RDB file (or of a replication transfer) in pieces
// of any size, down to one byte at a time; it decodes records as soon as
// they are complete and hands them to a Sink (sink.h). The decoded content
// and the final status do not depend on how the input was split. (One
// exception: when the sink refuses a call, the refusal is reported at the
// key's offset, but if the same input also has a decoding error later in
// that key, which of the two is reported can depend on when the pending
// chunk was handed over.)
//
//   Reader reader(&my_sink);
//   while (n = read(fd, buf, sizeof buf)) if (!(s = reader.Feed({buf, n}))) ...
//   s = reader.Finish();   // error if the file was incomplete
//
// How it stays incremental without re-parsing: input is cut into small
// "records" (an opcode with its payload, one key header, one collection
// element, one blob, one stream PEL entry, ...). A record is decoded only
// once all its bytes are present; if they are not, the reader remembers how
// many bytes the record needs and keeps only the unconsumed tail, so every
// byte is examined O(1) times. When whole-buffer input is fed, records are
// decoded in place without copying. Memory is bounded by the current record
// (at most one RDB string, which the input itself justifies), plus one chunk
// of elements (ReaderOptions::chunk_elements).
//
// Validation: magic and version (REDIS0001..REDIS0012, VALKEY080), every
// length and count against the bytes that back it, every compact blob
// (ziplist, listpack, intset, zipmap, stream node) in full, LZF streams, and
// the CRC-64 trailer (skipped when it is 0, "disabled"). Errors name the file
// offset, what was wrong, and the key being decoded. An error is sticky.
//
// Not thread-safe: one reader per input, used from one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "rdb/format.h"
#include "rdb/sink.h"
#include "rdb/status.h"

namespace darter::rdb {

// What to do with module values (type 7) and MODULE_AUX records, which we
// can walk over (they are self-describing) but not load.
enum class ModulePolicy : uint8_t {
  kFail,  // default: error, like Redis without the module loaded
  kSkip,  // skip and report via Sink::OnModuleValueSkipped / OnModuleAux
};

struct ReaderOptions {
  ModulePolicy module_policy = ModulePolicy::kFail;
  // Verify the CRC-64 trailer when it is non-zero.
  bool verify_checksum = true;
  // Upper bound on elements per sink chunk call. REQUIRES: >= 1.
  size_t chunk_elements = 1024;
  // Soft bound on bytes of decompressed element text held per chunk.
  size_t chunk_bytes = 1 << 20;
};

class Reader {
 public:
  // `sink` must outlive the reader.
  explicit Reader(Sink* sink, ReaderOptions options = {});
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  // Feeds the next bytes. Returns the (sticky) error status if decoding
  // failed. Once the end of the RDB (EOF opcode and checksum) has been
  // decoded, further bytes are not consumed: `*consumed` (optional) tells
  // how many bytes of `data` belonged to the RDB, so a replication client
  // can find where the command stream starts.
  Status Feed(std::string_view data, size_t* consumed = nullptr);

  // Declares the end of input. Returns an error naming the offset and the
  // record being read if the RDB is incomplete.
  Status Finish();

  bool done() const;
  // Bytes decoded so far (file offset of the next record).
  uint64_t offset() const;
  // Version from the magic string (0 until it has been read).
  int version() const;
  Flavor flavor() const;
  const Status& status() const;

  // Switches a fresh reader to DUMP-payload mode: the input is a single
  // value (type byte + value, no key, no header, no trailer) encoded with
  // `rdb_version`. Used by dump_payload.h. REQUIRES: nothing fed yet.
  void StartValueOnly(int rdb_version, Flavor flavor = Flavor::kRedis);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Convenience: decodes a whole in-memory RDB in one call.
Status ReadRdb(std::string_view data, Sink* sink, ReaderOptions options = {});

}  // namespace darter::rdb
