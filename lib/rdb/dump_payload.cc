#include "rdb/dump_payload.h"

#include <cstring>

#include "rdb/crc64.h"
#include "rdb/format.h"

namespace darter::rdb {

Status CheckDumpPayload(std::string_view payload, int* rdb_version) {
  if (payload.size() < 10)
    return Status::Error("DUMP payload of " + std::to_string(payload.size()) + " bytes is too short");
  const auto* p = reinterpret_cast<const unsigned char*>(payload.data());
  size_t n = payload.size();
  int version = p[n - 10] | (p[n - 9] << 8);
  if (version > kMaxDumpVersion)
    return Status::Error("DUMP payload version " + std::to_string(version) + " is newer than supported (" +
                         std::to_string(kMaxDumpVersion) + ")");
  uint64_t stored;
  std::memcpy(&stored, p + n - 8, 8);
  uint64_t computed = Crc64(0, p, n - 8);
  if (stored != computed) return Status::Error("DUMP payload checksum mismatch");
  if (rdb_version) *rdb_version = version;
  return {};
}

Status DecodeDumpPayload(std::string_view payload, Sink* sink, ReaderOptions options) {
  int version = 0;
  DARTER_RDB_RETURN_IF_ERROR(CheckDumpPayload(payload, &version));
  Reader reader(sink, options);
  reader.StartValueOnly(version);
  std::string_view body = payload.substr(0, payload.size() - 10);
  size_t consumed = 0;
  DARTER_RDB_RETURN_IF_ERROR(reader.Feed(body, &consumed));
  DARTER_RDB_RETURN_IF_ERROR(reader.Finish());
  if (consumed != body.size())
    return Status::Error("DUMP payload has " + std::to_string(body.size() - consumed) +
                         " bytes after its value");
  return {};
}

DumpPayloadEncoder::DumpPayloadEncoder(std::string* out, int rdb_version) : sink_(out) {
  WriterOptions o;
  o.rdb_version = rdb_version;
  writer_ = std::make_unique<Writer>(&sink_, o);
  writer_->StartValueOnly();
}

}  // namespace darter::rdb
