#include "rdb/listpack.h"

#include <cstring>

namespace darter::rdb {
namespace {

inline uint32_t LoadLE32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

// Bytes used by the backlen field that follows an element of `len` bytes.
inline size_t BacklenSize(size_t len) {
  if (len <= 127) return 1;
  if (len < 16383) return 2;
  if (len < 2097151) return 3;
  if (len < 268435455) return 4;
  return 5;
}

}  // namespace

bool ListpackReader::Fail(size_t at, std::string_view what) {
  std::string m = "listpack byte ";
  m += std::to_string(at);
  m += ": ";
  m += what;
  status_ = Status::Error(std::move(m));
  done_ = true;
  return false;
}

Status ListpackReader::Init(std::string_view blob) {
  blob_ = blob;
  const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
  if (blob.size() < 7) {
    Fail(0, "blob of " + std::to_string(blob.size()) + " bytes is shorter than a listpack header");
    return status_;
  }
  uint32_t total = LoadLE32(p);
  if (total != blob.size()) {
    Fail(0, "total_bytes " + std::to_string(total) + " does not match blob size " +
                std::to_string(blob.size()));
    return status_;
  }
  declared_ = uint32_t{p[4]} | uint32_t{p[5]} << 8;
  if (p[blob.size() - 1] != 0xFF) {
    Fail(blob.size() - 1, "missing end marker 0xFF");
    return status_;
  }
  pos_ = 6;
  return status_;
}

bool ListpackReader::Next(BlobElement* e) {
  if (done_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(blob_.data());
  const size_t n = blob_.size();
  const size_t start = pos_;
  const unsigned b = p[start];  // start < n: we stop at the final 0xFF
  if (b == 0xFF) {
    done_ = true;
    if (start != n - 1) return Fail(start, "end marker before the end of the blob");
    if (declared_ != 65535 && declared_ != count_)
      return Fail(4, "header counts " + std::to_string(declared_) + " elements but " +
                         std::to_string(count_) + " found");
    return false;
  }
  // Bytes available for this element's encoding+data+backlen (the end
  // marker must remain).
  const size_t avail = n - 1 - start;
  size_t enc_len;  // encoding + data
  if (b < 0x80) {
    e->is_int = true;
    e->ival = b;
    enc_len = 1;
  } else if ((b & 0xC0) == 0x80) {
    size_t len = b & 0x3F;
    enc_len = 1 + len;
    if (enc_len > avail) return Fail(start, "string element runs past the end");
    e->is_int = false;
    e->str = std::string_view(blob_.data() + start + 1, len);
  } else if ((b & 0xE0) == 0xC0) {
    if (avail < 2) return Fail(start, "truncated 13-bit integer");
    int64_t v = (int64_t{b & 0x1F} << 8) | p[start + 1];
    if (v >= 4096) v -= 8192;
    e->is_int = true;
    e->ival = v;
    enc_len = 2;
  } else if ((b & 0xF0) == 0xE0) {
    if (avail < 2) return Fail(start, "truncated 12-bit string length");
    size_t len = (size_t{b & 0x0F} << 8) | p[start + 1];
    enc_len = 2 + len;
    if (enc_len > avail) return Fail(start, "string element runs past the end");
    e->is_int = false;
    e->str = std::string_view(blob_.data() + start + 2, len);
  } else {
    switch (b) {
      case 0xF0: {
        if (avail < 5) return Fail(start, "truncated 32-bit string length");
        size_t len = LoadLE32(p + start + 1);
        if (len > avail - 5) return Fail(start, "string element runs past the end");
        enc_len = 5 + len;
        e->is_int = false;
        e->str = std::string_view(blob_.data() + start + 5, len);
        break;
      }
      case 0xF1: case 0xF2: case 0xF3: case 0xF4: {
        static constexpr size_t kWidth[] = {2, 3, 4, 8};
        size_t w = kWidth[b - 0xF1];
        if (avail < 1 + w) return Fail(start, "truncated integer element");
        uint64_t u = 0;
        for (size_t i = 0; i < w; ++i) u |= uint64_t{p[start + 1 + i]} << (8 * i);
        // Sign-extend from w bytes.
        unsigned shift = static_cast<unsigned>(64 - 8 * w);
        e->is_int = true;
        e->ival = static_cast<int64_t>(u << shift) >> shift;
        enc_len = 1 + w;
        break;
      }
      default:
        return Fail(start, "invalid element encoding byte");
    }
  }
  const size_t bl = BacklenSize(enc_len);
  if (enc_len + bl > avail) return Fail(start, "element backlen runs past the end");
  size_t v = 0;
  for (size_t i = 0; i < bl; ++i) v = (v << 7) | (p[start + enc_len + i] & 0x7F);
  if (v != enc_len)
    return Fail(start + enc_len, "backlen " + std::to_string(v) + " does not match element size " +
                                     std::to_string(enc_len));
  pos_ = start + enc_len + bl;
  ++count_;
  return true;
}

void ListpackBuilder::Clear() {
  buf_.assign(6, '\0');
  count_ = 0;
}

void ListpackBuilder::AppendBacklen(size_t len) {
  size_t bl = BacklenSize(len);
  // Most significant 7-bit group first with its top bit clear; the rest set.
  for (size_t i = 0; i < bl; ++i) {
    unsigned char c = static_cast<unsigned char>((len >> (7 * (bl - 1 - i))) & 0x7F);
    if (i > 0) c |= 0x80;
    buf_.push_back(static_cast<char>(c));
  }
}

void ListpackBuilder::AppendInt(int64_t v) {
  size_t before = buf_.size();
  if (v >= 0 && v <= 127) {
    buf_.push_back(static_cast<char>(v));
  } else if (v >= -4096 && v <= 4095) {
    uint64_t u = static_cast<uint64_t>(v) & 0x1FFF;
    buf_.push_back(static_cast<char>(0xC0 | (u >> 8)));
    buf_.push_back(static_cast<char>(u & 0xFF));
  } else {
    unsigned char tag;
    size_t w;
    if (v >= INT16_MIN && v <= INT16_MAX) { tag = 0xF1; w = 2; }
    else if (v >= -(1 << 23) && v < (1 << 23)) { tag = 0xF2; w = 3; }
    else if (v >= INT32_MIN && v <= INT32_MAX) { tag = 0xF3; w = 4; }
    else { tag = 0xF4; w = 8; }
    buf_.push_back(static_cast<char>(tag));
    uint64_t u = static_cast<uint64_t>(v);
    for (size_t i = 0; i < w; ++i) buf_.push_back(static_cast<char>((u >> (8 * i)) & 0xFF));
  }
  AppendBacklen(buf_.size() - before);
  ++count_;
}

void ListpackBuilder::Append(std::string_view s) {
  int64_t v;
  if (ParseCanonicalInt64(s, &v)) return AppendInt(v);
  size_t before = buf_.size();
  if (s.size() < 64) {
    buf_.push_back(static_cast<char>(0x80 | s.size()));
  } else if (s.size() < 4096) {
    buf_.push_back(static_cast<char>(0xE0 | (s.size() >> 8)));
    buf_.push_back(static_cast<char>(s.size() & 0xFF));
  } else {
    buf_.push_back(static_cast<char>(0xF0));
    uint32_t len = static_cast<uint32_t>(s.size());
    for (int i = 0; i < 4; ++i) buf_.push_back(static_cast<char>((len >> (8 * i)) & 0xFF));
  }
  buf_.append(s);
  AppendBacklen(buf_.size() - before);
  ++count_;
}

void ListpackBuilder::AppendElementsOf(const ListpackBuilder& other) {
  buf_.append(other.buf_, 6, std::string::npos);
  count_ += other.count_;
}

const std::string& ListpackBuilder::Finish() {
  buf_.push_back(static_cast<char>(0xFF));
  uint32_t total = static_cast<uint32_t>(buf_.size());
  for (int i = 0; i < 4; ++i) buf_[i] = static_cast<char>((total >> (8 * i)) & 0xFF);
  uint16_t cnt = count_ < 65535 ? static_cast<uint16_t>(count_) : 65535;
  buf_[4] = static_cast<char>(cnt & 0xFF);
  buf_[5] = static_cast<char>(cnt >> 8);
  return buf_;
}

}  // namespace darter::rdb
