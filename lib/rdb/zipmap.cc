#include "rdb/zipmap.h"

#include <cstring>
#include <string>

namespace darter::rdb {

bool ZipmapReader::Fail(size_t at, std::string_view what) {
  status_ = Status::Error("zipmap byte " + std::to_string(at) + ": " + std::string(what));
  done_ = true;
  return false;
}

Status ZipmapReader::Init(std::string_view blob) {
  blob_ = blob;
  if (blob.size() < 2) {
    Fail(0, "blob too short");
    return status_;
  }
  declared_ = static_cast<unsigned char>(blob[0]);
  if (static_cast<unsigned char>(blob.back()) != 0xFF) {
    Fail(blob.size() - 1, "missing end marker 0xFF");
    return status_;
  }
  pos_ = 1;
  return status_;
}

bool ZipmapReader::ReadLen(size_t* len) {
  const auto* p = reinterpret_cast<const unsigned char*>(blob_.data());
  if (pos_ >= blob_.size()) return Fail(pos_, "truncated length");
  unsigned b = p[pos_];
  if (b < 254) {
    *len = b;
    pos_ += 1;
    return true;
  }
  if (b == 254) {
    if (blob_.size() - pos_ < 5) return Fail(pos_, "truncated 5-byte length");
    uint32_t v;
    std::memcpy(&v, p + pos_ + 1, 4);
    *len = v;
    pos_ += 5;
    return true;
  }
  return Fail(pos_, "unexpected end marker");
}

bool ZipmapReader::Next(std::string_view* field, std::string_view* value) {
  if (done_) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(blob_.data());
  if (p[pos_] == 0xFF) {
    done_ = true;
    if (pos_ != blob_.size() - 1) return Fail(pos_, "end marker before the end of the blob");
    if (declared_ < 254 && declared_ != count_)
      return Fail(0, "zmlen " + std::to_string(declared_) + " but " + std::to_string(count_) +
                         " pairs found");
    return false;
  }
  size_t klen, vlen;
  if (!ReadLen(&klen)) return false;
  // ReadLen may leave pos_ on the end marker or past it: test before subtracting.
  if (pos_ >= blob_.size() || klen > blob_.size() - 1 - pos_) return Fail(pos_, "field runs past the end");
  *field = blob_.substr(pos_, klen);
  pos_ += klen;
  if (!ReadLen(&vlen)) return false;
  if (pos_ >= blob_.size() - 1) return Fail(pos_, "truncated free byte");
  size_t free = p[pos_++];
  if (vlen > blob_.size() - 1 - pos_ || free > blob_.size() - 1 - pos_ - vlen)
    return Fail(pos_, "value runs past the end");
  *value = blob_.substr(pos_, vlen);
  pos_ += vlen + free;
  ++count_;
  return true;
}

}  // namespace darter::rdb
