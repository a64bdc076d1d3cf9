// Flow frames: the byte format of one multi-flow replication connection (one per
// primary shard; docs/replication.md, "Darter to Darter").
//
// Every frame is [type: u8][payload length: u32 LE][payload]. Types:
//   'R' raw bytes of the shard's full-sync RDB (a complete RDB file, in pieces)
//   'L' / 'Z' the same bytes compressed with LZ4 (block format) / zstd; the payload is
//       [raw length: u32 LE][compressed bytes]
//   'S' the RDB is complete: [start LSN: u64 LE][keys: u64 LE]; journal entries with a
//       larger LSN follow
//   'J' journal entries, back to back: [kind u8][lsn u64][db u32][txid u64]
//       [tx_shards u32][command count u32] then per command [len u32][RESP bytes]
//   'H' heartbeat on an idle link: [the shard's last LSN: u64 LE]
// All integers are little-endian. A decoder refuses frames over kMaxFramePayload and any
// length that points past its frame, so a corrupt or hostile stream fails cleanly.
//
// Thread-safety: an encoder or decoder belongs to one connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rdb/status.h"
#include "server/repl/journal.h"

namespace darter::server {

enum class FlowCompression : uint8_t { kNone, kLz4, kZstd };

std::optional<FlowCompression> ParseFlowCompression(std::string_view name);
const char* FlowCompressionName(FlowCompression c);

constexpr uint32_t kMaxFramePayload = 64u << 20;

class FlowEncoder {
 public:
  explicit FlowEncoder(FlowCompression c);
  ~FlowEncoder();
  FlowEncoder(const FlowEncoder&) = delete;
  FlowEncoder& operator=(const FlowEncoder&) = delete;

  // RDB bytes, compressed when that saves at least 1/16 (else sent raw). Large inputs
  // are split into frames of at most 1 MB of raw bytes.
  void AppendRdb(std::string* out, std::string_view raw);
  void AppendSnapshotEnd(std::string* out, uint64_t start_lsn, uint64_t keys);
  void AppendJournal(std::string* out, const JournalEntry& e);
  void AppendHeartbeat(std::string* out, uint64_t last_lsn);

  uint64_t raw_bytes() const { return raw_bytes_; }
  uint64_t wire_bytes() const { return wire_bytes_; }

 private:
  FlowCompression compression_;
  void* zstd_ = nullptr;  // ZSTD_CCtx*, reused
  std::string scratch_;
  uint64_t raw_bytes_ = 0, wire_bytes_ = 0;
};

struct FlowFrame {
  char type = 0;
  std::string rdb;                    // R/L/Z: the (decompressed) RDB bytes
  uint64_t lsn = 0, keys = 0;         // S: start LSN and keys; H: the last LSN
  std::vector<JournalEntry> entries;  // J
};

class FlowDecoder {
 public:
  FlowDecoder();
  ~FlowDecoder();
  FlowDecoder(const FlowDecoder&) = delete;
  FlowDecoder& operator=(const FlowDecoder&) = delete;

  enum class Result { kFrame, kNeedMore, kError };
  // Decodes the frame at the start of `in`. kFrame: *frame is set, *consumed bytes used.
  // kError: *error says why; the stream cannot continue.
  Result Next(std::string_view in, size_t* consumed, FlowFrame* frame, std::string* error);

 private:
  void* zstd_ = nullptr;  // ZSTD_DCtx*, reused
};

}  // namespace darter::server
