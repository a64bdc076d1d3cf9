#include "rdb/ziplist.h"

#include <cstring>
#include <string>

namespace darter::rdb {
namespace {

inline uint32_t LoadLE32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

bool ZiplistReader::Fail(size_t at, std::string_view what) {
  std::string m = "ziplist byte ";
  m += std::to_string(at);
  m += ": ";
  m += what;
  status_ = Status::Error(std::move(m));
  done_ = true;
  return false;
}

Status ZiplistReader::Init(std::string_view blob) {
  blob_ = blob;
  const auto* p = reinterpret_cast<const unsigned char*>(blob.data());
  if (blob.size() < 11) {
    Fail(0, "blob of " + std::to_string(blob.size()) + " bytes is shorter than a ziplist header");
    return status_;
  }
  uint32_t zlbytes = LoadLE32(p);
  if (zlbytes != blob.size()) {
    Fail(0, "zlbytes " + std::to_string(zlbytes) + " does not match blob size " +
                std::to_string(blob.size()));
    return status_;
  }
  tail_ = LoadLE32(p + 4);
  declared_ = uint32_t{p[8]} | uint32_t{p[9]} << 8;
  if (tail_ < 10 || tail_ >= blob.size()) {
    Fail(4, "zltail " + std::to_string(tail_) + " outside the blob");
    return status_;
  }
  if (p[blob.size() - 1] != 0xFF) {
    Fail(blob.size() - 1, "missing end marker 0xFF");
    return status_;
  }
  pos_ = 10;
  return status_;
}

bool ZiplistReader::Next(BlobElement* e) {
  if (done_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(blob_.data());
  const size_t n = blob_.size();
  const size_t start = pos_;
  // pos_ < n holds: the blob ends with 0xFF and we stop on it.
  if (p[pos_] == 0xFF) {
    done_ = true;
    if (pos_ != n - 1) return Fail(pos_, "end marker before the end of the blob");
    if (declared_ != 65535 && declared_ != count_)
      return Fail(8, "zllen " + std::to_string(declared_) + " but " + std::to_string(count_) +
                         " entries found");
    if (count_ > 0 ? last_entry_off_ != tail_ : tail_ != 10)
      return Fail(4, "zltail " + std::to_string(tail_) + " does not point at the last entry");
    return false;
  }
  size_t prevlen;
  size_t q = pos_;
  if (p[q] < 254) {
    prevlen = p[q];
    q += 1;
  } else if (p[q] == 254) {
    if (n - q < 5) return Fail(q, "truncated 5-byte prevlen");
    prevlen = LoadLE32(p + q + 1);
    q += 5;
  } else {
    return Fail(q, "invalid prevlen byte 0xFF");
  }
  if (prevlen != prev_entry_size_)
    return Fail(start, "prevlen " + std::to_string(prevlen) + " but previous entry has " +
                           std::to_string(prev_entry_size_) + " bytes");
  if (q >= n) return Fail(q, "truncated entry encoding");
  const unsigned enc = p[q];
  size_t data_len = 0;
  bool is_str = true;
  switch (enc >> 6) {
    case 0:
      data_len = enc & 0x3F;
      q += 1;
      break;
    case 1:
      if (n - q < 2) return Fail(q, "truncated 14-bit string length");
      data_len = (size_t{enc & 0x3Fu} << 8) | p[q + 1];
      q += 2;
      break;
    case 2:
      if (enc != 0x80) return Fail(q, "invalid string encoding byte");
      if (n - q < 5) return Fail(q, "truncated 32-bit string length");
      data_len = size_t{p[q + 1]} << 24 | size_t{p[q + 2]} << 16 | size_t{p[q + 3]} << 8 | p[q + 4];
      q += 5;
      break;
    default:
      is_str = false;
      q += 1;
      switch (enc) {
        case 0xC0: data_len = 2; break;
        case 0xD0: data_len = 4; break;
        case 0xE0: data_len = 8; break;
        case 0xF0: data_len = 3; break;
        case 0xFE: data_len = 1; break;
        default:
          if (enc >= 0xF1 && enc <= 0xFD) {
            data_len = 0;
          } else {
            return Fail(q - 1, "invalid integer encoding byte");
          }
      }
  }
  // The entry plus the end marker must fit: data must stop before the last byte. q may
  // already stand on or past it (a length field that ends the blob), so test that first:
  // n - 1 - q would wrap.
  if (q > n - 1 || data_len > n - 1 - q) return Fail(start, "entry runs past the end of the blob");
  if (is_str) {
    e->is_int = false;
    e->str = std::string_view(blob_.data() + q, data_len);
  } else {
    e->is_int = true;
    const unsigned char* d = p + q;
    switch (enc) {
      case 0xC0: { int16_t v; std::memcpy(&v, d, 2); e->ival = v; break; }
      case 0xD0: { int32_t v; std::memcpy(&v, d, 4); e->ival = v; break; }
      case 0xE0: { int64_t v; std::memcpy(&v, d, 8); e->ival = v; break; }
      case 0xF0: {
        int32_t v = static_cast<int32_t>(uint32_t{d[0]} << 8 | uint32_t{d[1]} << 16 | uint32_t{d[2]} << 24);
        e->ival = v >> 8;
        break;
      }
      case 0xFE: e->ival = static_cast<int8_t>(d[0]); break;
      default: e->ival = static_cast<int64_t>(enc & 0x0F) - 1; break;
    }
  }
  q += data_len;
  last_entry_off_ = start;
  prev_entry_size_ = q - start;
  pos_ = q;
  ++count_;
  return true;
}

}  // namespace darter::rdb
