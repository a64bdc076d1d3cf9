// DUMP / RESTORE payloads: one serialized value (type byte + value, no key),
// then the RDB version as 2 bytes little-endian, then CRC-64 (little-endian)
// of everything before it.
//
// Compatible with Redis 6.2 (payload version 9) and 7.0 (version 10) in
// both directions: encode with version 9 for a 6.2 target (the default),
// decode anything up to version 12. Like Redis, decoding refuses a payload
// whose version is newer than it understands and one whose CRC does not
// match.
//
// Stateless functions and a single-use encoder: use one encoder per thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "rdb/reader.h"
#include "rdb/sink.h"
#include "rdb/status.h"
#include "rdb/writer.h"

namespace darter::rdb {

// Checks the footer (length, version <= kMaxDumpVersion, CRC) and returns
// the payload's RDB version.
Status CheckDumpPayload(std::string_view payload, int* rdb_version = nullptr);

// Decodes the value of a payload into `sink`. The key passed to the sink is
// empty and KeyMeta carries no db/expire (RESTORE supplies those).
Status DecodeDumpPayload(std::string_view payload, Sink* sink, ReaderOptions options = {});

// Builds one payload:
//   std::string p;
//   DumpPayloadEncoder enc(&p);
//   enc.writer().BeginSet({}, "", 2); ...AppendSetMember...; enc.writer().EndValue();
//   enc.Finish();
// Key and KeyModifiers arguments given to the writer are ignored.
class DumpPayloadEncoder {
 public:
  explicit DumpPayloadEncoder(std::string* out, int rdb_version = 9);
  Writer& writer() { return *writer_; }
  Status Finish() { return writer_->FinishDumpPayload(); }

 private:
  StringByteSink sink_;
  std::unique_ptr<Writer> writer_;
};

}  // namespace darter::rdb
