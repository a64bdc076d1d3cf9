#include "server/repl/flow_frame.h"

#include <lz4.h>
#include <zstd.h>

#include <strings.h>

#include <cstring>


namespace darter::server {

namespace {

constexpr size_t kHeader = 5;
constexpr size_t kMaxRawPerFrame = 1 << 20;
constexpr int kZstdLevel = 1;  // the link, not the ratio, is what compression buys time on

void PutU32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 4);
}
void PutU64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out->append(b, 8);
}
uint32_t GetU32(const char* p) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint64_t GetU64(const char* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Starts a frame; returns the offset of its length field, set by EndFrame.
size_t BeginFrame(std::string* out, char type) {
  out->push_back(type);
  size_t at = out->size();
  PutU32(out, 0);
  return at;
}
void EndFrame(std::string* out, size_t at) {
  uint32_t len = static_cast<uint32_t>(out->size() - at - 4);
  for (int i = 0; i < 4; ++i) (*out)[at + i] = static_cast<char>(len >> (8 * i));
}

// A bounds-checked reader over one frame's payload.
struct Cursor {
  std::string_view p;
  bool ok = true;
  bool Take(size_t n, const char** at) {
    if (!ok || p.size() < n) return ok = false;
    *at = p.data();
    p.remove_prefix(n);
    return true;
  }
  uint8_t U8() {
    const char* a;
    return Take(1, &a) ? static_cast<uint8_t>(*a) : 0;
  }
  uint32_t U32() {
    const char* a;
    return Take(4, &a) ? GetU32(a) : 0;
  }
  uint64_t U64() {
    const char* a;
    return Take(8, &a) ? GetU64(a) : 0;
  }
};

}  // namespace

std::optional<FlowCompression> ParseFlowCompression(std::string_view name) {
  // Plain libc here: the fuzz target links this file alone.
  for (FlowCompression c : {FlowCompression::kNone, FlowCompression::kLz4, FlowCompression::kZstd}) {
    std::string_view n = FlowCompressionName(c);
    if (name.size() == n.size() && strncasecmp(name.data(), n.data(), n.size()) == 0) return c;
  }
  return std::nullopt;
}

const char* FlowCompressionName(FlowCompression c) {
  switch (c) {
    case FlowCompression::kLz4:
      return "lz4";
    case FlowCompression::kZstd:
      return "zstd";
    case FlowCompression::kNone:
      break;
  }
  return "none";
}

FlowEncoder::FlowEncoder(FlowCompression c) : compression_(c) {
  if (c == FlowCompression::kZstd) zstd_ = ZSTD_createCCtx();
}

FlowEncoder::~FlowEncoder() {
  if (zstd_) ZSTD_freeCCtx(static_cast<ZSTD_CCtx*>(zstd_));
}

void FlowEncoder::AppendRdb(std::string* out, std::string_view raw) {
  while (!raw.empty()) {
    std::string_view piece = raw.substr(0, kMaxRawPerFrame);
    raw.remove_prefix(piece.size());
    raw_bytes_ += piece.size();
    const size_t before = out->size();
    size_t packed = 0;
    if (compression_ == FlowCompression::kLz4 && piece.size() >= 256) {
      scratch_.resize(static_cast<size_t>(LZ4_compressBound(static_cast<int>(piece.size()))));
      int n = LZ4_compress_default(piece.data(), scratch_.data(), static_cast<int>(piece.size()),
                                   static_cast<int>(scratch_.size()));
      packed = n > 0 ? static_cast<size_t>(n) : 0;
    } else if (compression_ == FlowCompression::kZstd && piece.size() >= 256) {
      scratch_.resize(ZSTD_compressBound(piece.size()));
      size_t n = ZSTD_compressCCtx(static_cast<ZSTD_CCtx*>(zstd_), scratch_.data(), scratch_.size(), piece.data(),
                                   piece.size(), kZstdLevel);
      packed = ZSTD_isError(n) ? 0 : n;
    }
    if (packed > 0 && packed < piece.size() - piece.size() / 16) {
      size_t at = BeginFrame(out, compression_ == FlowCompression::kLz4 ? 'L' : 'Z');
      PutU32(out, static_cast<uint32_t>(piece.size()));
      out->append(scratch_.data(), packed);
      EndFrame(out, at);
    } else {
      size_t at = BeginFrame(out, 'R');
      out->append(piece);
      EndFrame(out, at);
    }
    wire_bytes_ += out->size() - before;
  }
}

void FlowEncoder::AppendSnapshotEnd(std::string* out, uint64_t start_lsn, uint64_t keys) {
  size_t at = BeginFrame(out, 'S');
  PutU64(out, start_lsn);
  PutU64(out, keys);
  EndFrame(out, at);
}

void FlowEncoder::AppendHeartbeat(std::string* out, uint64_t last_lsn) {
  size_t at = BeginFrame(out, 'H');
  PutU64(out, last_lsn);
  EndFrame(out, at);
}

void FlowEncoder::AppendJournal(std::string* out, const JournalEntry& e) {
  size_t at = BeginFrame(out, 'J');
  out->push_back(static_cast<char>(e.kind));
  PutU64(out, e.lsn);
  PutU32(out, e.db);
  PutU64(out, e.txid);
  PutU32(out, e.tx_shards);
  out->push_back(static_cast<char>(e.ran_here ? 1 : 0));
  PutU32(out, static_cast<uint32_t>(e.commands.size()));
  for (auto& c : e.commands) {
    PutU32(out, static_cast<uint32_t>(c.size()));
    out->append(c);
  }
  EndFrame(out, at);
}

FlowDecoder::FlowDecoder() = default;

FlowDecoder::~FlowDecoder() {
  if (zstd_) ZSTD_freeDCtx(static_cast<ZSTD_DCtx*>(zstd_));
}

FlowDecoder::Result FlowDecoder::Next(std::string_view in, size_t* consumed, FlowFrame* f, std::string* error) {
  if (in.size() < kHeader) return Result::kNeedMore;
  const char type = in[0];
  const uint32_t len = GetU32(in.data() + 1);
  if (len > kMaxFramePayload) {
    *error = "flow frame of " + std::to_string(len) + " bytes exceeds the limit";
    return Result::kError;
  }
  if (in.size() < kHeader + len) return Result::kNeedMore;
  Cursor c{in.substr(kHeader, len)};
  f->type = type;
  f->rdb.clear();
  f->entries.clear();
  switch (type) {
    case 'R':
      f->rdb.assign(c.p);
      c.p = {};
      break;
    case 'L':
    case 'Z': {
      const uint32_t raw = c.U32();
      if (!c.ok || raw > kMaxRawPerFrame) {
        *error = "compressed flow frame with a bad size";
        return Result::kError;
      }
      f->rdb.resize(raw);
      bool good;
      if (type == 'L') {
        int n = LZ4_decompress_safe(c.p.data(), f->rdb.data(), static_cast<int>(c.p.size()), static_cast<int>(raw));
        good = n == static_cast<int>(raw);
      } else {
        if (!zstd_) zstd_ = ZSTD_createDCtx();
        size_t n = ZSTD_decompressDCtx(static_cast<ZSTD_DCtx*>(zstd_), f->rdb.data(), raw, c.p.data(), c.p.size());
        good = !ZSTD_isError(n) && n == raw;
      }
      if (!good) {
        *error = std::string("corrupt ") + (type == 'L' ? "lz4" : "zstd") + " block in a flow";
        return Result::kError;
      }
      c.p = {};
      break;
    }
    case 'S':
      f->lsn = c.U64();
      f->keys = c.U64();
      break;
    case 'H':
      f->lsn = c.U64();
      break;
    case 'J': {
      JournalEntry e;
      uint8_t kind = c.U8();
      if (kind > static_cast<uint8_t>(JournalEntry::Kind::kSyncPoint)) c.ok = false;
      e.kind = static_cast<JournalEntry::Kind>(kind);
      e.lsn = c.U64();
      e.db = c.U32();
      e.txid = c.U64();
      e.tx_shards = c.U32();
      uint8_t flags = c.U8();
      if (flags > 1) c.ok = false;
      e.ran_here = flags & 1;
      uint32_t n = c.U32();
      if (n > c.p.size() / 4) c.ok = false;  // each command needs at least its length
      for (uint32_t i = 0; c.ok && i < n; ++i) {
        uint32_t clen = c.U32();
        const char* at;
        if (c.Take(clen, &at)) e.commands.emplace_back(at, clen);
      }
      if (c.ok) f->entries.push_back(std::move(e));
      break;
    }
    default:
      *error = "unknown flow frame type " + std::to_string(static_cast<uint8_t>(type));
      return Result::kError;
  }
  if (!c.ok || !c.p.empty()) {
    *error = std::string("malformed flow frame '") + type + "'";
    return Result::kError;
  }
  *consumed = kHeader + len;
  return Result::kFrame;
}

}  // namespace darter::server
