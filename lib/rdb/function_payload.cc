#include "rdb/function_payload.h"

#include <algorithm>
#include <cstdio>

#include "rdb/crc64.h"
#include "rdb/dump_payload.h"
#include "rdb/format.h"
#include "rdb/reader.h"
#include "rdb/sink.h"
#include "rdb/writer.h"

namespace darter::rdb {

namespace {

constexpr size_t kMagicBytes = 9;    // "REDIS0010"
constexpr size_t kTrailerBytes = 9;  // EOF opcode + CRC-64
constexpr size_t kFooterBytes = 10;  // payload version + CRC-64

// Takes the libraries and refuses everything else a payload body could hold.
class FunctionsSink : public Sink {
 public:
  explicit FunctionsSink(std::vector<std::string>* out) : out_(out) {}
  Status OnFunction(std::string_view src) override {
    out_->emplace_back(src);
    return {};
  }
  Status OnAux(std::string_view, std::string_view) override { return Refuse(); }
  Status OnSelectDb(uint64_t) override { return Refuse(); }
  Status OnString(const KeyMeta&, std::string_view, std::string_view) override { return Refuse(); }
  Status BeginCollection(const KeyMeta&, std::string_view, CollectionKind, uint64_t) override { return Refuse(); }
  Status EndCollection() override { return Refuse(); }
  Status BeginStream(const KeyMeta&, std::string_view) override { return Refuse(); }

 private:
  static Status Refuse() { return Status::Error("payload holds a record that is not a function library"); }
  std::vector<std::string>* out_;
};

}  // namespace

Status EncodeFunctionsPayload(const std::vector<std::string>& libraries, std::string* out) {
  // An RDB holding only the libraries, whose body is the payload's body.
  std::string rdb;
  StringByteSink sink(&rdb);
  WriterOptions wo;
  wo.rdb_version = 10;
  Writer w(&sink, wo);
  Status st = w.WriteHeader();
  for (const std::string& lib : libraries)
    if (st.ok()) st = w.WriteFunction(lib);
  if (st.ok()) st = w.Finish();
  if (!st.ok()) return st;
  if (rdb.size() < kMagicBytes + kTrailerBytes) return Status::Error("short RDB from the writer");
  out->assign(rdb, kMagicBytes, rdb.size() - kMagicBytes - kTrailerBytes);
  const uint16_t version = 10;
  out->push_back(static_cast<char>(version & 0xff));
  out->push_back(static_cast<char>(version >> 8));
  uint64_t crc = Crc64(0, *out);
  for (int i = 0; i < 8; ++i) out->push_back(static_cast<char>((crc >> (8 * i)) & 0xff));
  return {};
}

Status DecodeFunctionsPayload(std::string_view payload, std::vector<std::string>* libraries) {
  int version = 0;
  Status st = CheckDumpPayload(payload, &version);
  if (!st.ok()) return st;
  // The body framed as an RDB of the payload's version (at least 10, the first with
  // FUNCTION2) with the checksum disabled: the footer's CRC was checked above.
  char magic[16];
  std::snprintf(magic, sizeof magic, "REDIS%04d", std::max(version, 10));
  std::string rdb(magic, kMagicBytes);
  rdb.append(payload.substr(0, payload.size() - kFooterBytes));
  rdb.push_back(static_cast<char>(kOpEof));
  rdb.append(8, '\0');
  std::vector<std::string> libs;
  FunctionsSink sink(&libs);
  st = ReadRdb(rdb, &sink);
  if (!st.ok()) return st;
  *libraries = std::move(libs);
  return {};
}

}  // namespace darter::rdb
