// darter-rdb: check, summarise, dump and benchmark RDB files.
//
// Streams the file through lib/rdb's incremental reader in 1 MB reads, so
// memory stays bounded on files of many GB (by the largest single RDB
// string, plus one chunk of elements). See docs/rdb.md.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "darter_version.h"
#include "rdb/format.h"
#include "rdb/reader.h"
#include "rdb/rewriter.h"
#include "rdb/writer.h"

using namespace darter::rdb;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitInvalid = 1;  // the file is not a valid RDB (corrupt, truncated, checksum)
constexpr int kExitUsage = 2;
constexpr int kExitIo = 3;       // cannot open/read/write a file

const char kUsage[] =
    "usage: darter-rdb COMMAND [OPTIONS] FILE\n"
    "\n"
    "commands:\n"
    "  check FILE     validate everything (structure, every blob, checksum)\n"
    "  stats FILE     version, aux fields, keys per db and type, TTLs,\n"
    "                 encodings, biggest keys\n"
    "  dump FILE      one JSON object per key per line, full values\n"
    "  rewrite FILE OUT [--rdb-version N]\n"
    "                 re-encode FILE as an RDB that Redis 6.2+ loads (default 9)\n"
    "  bench FILE [--runs N] [--feed BYTES]\n"
    "                 parse FILE from memory N times (default 5); print MB/s, keys/s\n"
    "\n"
    "options:\n"
    "  --skip-modules  skip module values / MODULE_AUX and report them (default: fail)\n"
    "  --no-checksum   do not verify the CRC-64 trailer\n"
    "  -h, --help      this text\n"
    "\n"
    "exit codes:\n"
    "  0  success (check: the file is valid)\n"
    "  1  the file is not a valid RDB: corrupt, truncated, bad checksum,\n"
    "     unsupported version/type, or a module value without --skip-modules;\n"
    "     the message names the byte offset, what was wrong and the key\n"
    "  2  usage error\n"
    "  3  I/O error (cannot open, read or write a file)\n";

// Streams a file through a reader. Returns an exit code; prints errors.
int FeedFile(const char* path, Reader* reader) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "darter-rdb: cannot open %s: %s\n", path, std::strerror(errno));
    return kExitIo;
  }
  std::vector<char> buf(1 << 20);
  Status s;
  while (true) {
    size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (n == 0) break;
    s = reader->Feed(std::string_view(buf.data(), n));
    if (!s.ok() || reader->done()) break;
  }
  bool read_error = std::ferror(f);
  std::fclose(f);
  if (read_error) {
    std::fprintf(stderr, "darter-rdb: read error on %s\n", path);
    return kExitIo;
  }
  if (s.ok()) s = reader->Finish();
  if (!s.ok()) {
    std::fprintf(stderr, "darter-rdb: %s: %s\n", path, s.message().c_str());
    return kExitInvalid;
  }
  return kExitOk;
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* KindName(CollectionKind k) {
  switch (k) {
    case CollectionKind::kList: return "list";
    case CollectionKind::kSet: return "set";
    case CollectionKind::kHash: return "hash";
    case CollectionKind::kZSet: return "zset";
  }
  return "?";
}

// ---- stats ------------------------------------------------------------------

class StatsSink : public Sink {
 public:
  struct Big {
    uint64_t bytes = 0;
    uint64_t elements = 0;
    uint64_t db = 0;
    std::string key;
    std::string type;
  };
  std::vector<std::pair<std::string, std::string>> aux;
  std::vector<std::pair<std::string, size_t>> libraries;  // function libraries: first line, bytes
  std::map<uint64_t, std::map<std::string, uint64_t>> per_db_type;
  std::map<std::string, uint64_t> encodings;
  uint64_t keys = 0, with_ttl = 0, expired_now = 0, functions = 0, empty_skipped = 0, modules_skipped = 0,
           module_aux = 0, with_idle = 0, with_freq = 0;
  std::vector<Big> biggest;
  EndInfo end;
  Flavor flavor = Flavor::kRedis;
  const int64_t now = NowMs();

  Status OnAux(std::string_view k, std::string_view v) override {
    aux.emplace_back(std::string(k), std::string(v));
    return {};
  }
  Status OnFunction(std::string_view src) override {
    ++functions;
    // The library's first line ("#!lua name=lib") names it.
    libraries.emplace_back(std::string(src.substr(0, std::min<size_t>(src.find('\n'), 200))), src.size());
    return {};
  }
  Status OnModuleAux(const ModuleSkip&) override {
    ++module_aux;
    return {};
  }
  Status OnString(const KeyMeta& m, std::string_view key, std::string_view value) override {
    Key(m, key, "string");
    cur_.bytes = value.size();
    cur_.elements = 1;
    Done();
    return {};
  }
  Status BeginCollection(const KeyMeta& m, std::string_view key, CollectionKind kind, uint64_t) override {
    Key(m, key, KindName(kind));
    return {};
  }
  Status OnListElements(std::span<const std::string_view> e) override { return Views(e); }
  Status OnSetMembers(std::span<const std::string_view> e) override { return Views(e); }
  Status OnHashFields(std::span<const HashField> f) override {
    for (const auto& h : f) cur_.bytes += h.field.size() + h.value.size();
    cur_.elements += f.size();
    return {};
  }
  Status OnZSetMembers(std::span<const ZSetMember> z) override {
    for (const auto& m : z) cur_.bytes += m.member.size() + 8;
    cur_.elements += z.size();
    return {};
  }
  Status EndCollection() override {
    Done();
    return {};
  }
  Status BeginStream(const KeyMeta& m, std::string_view key) override {
    Key(m, key, "stream");
    return {};
  }
  Status OnStreamEntries(std::span<const StreamEntry> entries) override {
    for (const auto& e : entries) {
      cur_.bytes += 16;
      for (auto f : e.fields) cur_.bytes += f.size();
    }
    cur_.elements += entries.size();
    return {};
  }
  Status EndStream() override {
    Done();
    return {};
  }
  Status OnEmptyKeySkipped(const KeyMeta&, std::string_view) override {
    ++empty_skipped;
    return {};
  }
  Status OnModuleValueSkipped(const KeyMeta& m, std::string_view key, const ModuleSkip& s) override {
    ++modules_skipped;
    Key(m, key, "module:" + std::string(s.module_name));
    cur_.bytes = s.bytes;
    Done();
    return {};
  }
  Status OnEnd(const EndInfo& info) override {
    end = info;
    return {};
  }

 private:
  Status Views(std::span<const std::string_view> e) {
    for (auto s : e) cur_.bytes += s.size();
    cur_.elements += e.size();
    return {};
  }
  void Key(const KeyMeta& m, std::string_view key, std::string type) {
    ++keys;
    if (m.expire_ms != kNoExpire) {
      ++with_ttl;
      if (m.expire_ms <= now) ++expired_now;
    }
    with_idle += m.lru_idle_s >= 0;
    with_freq += m.lfu_freq >= 0;
    per_db_type[m.db][type]++;
    encodings[std::string(TypeCodeName(flavor, m.rdb_type))]++;
    cur_ = Big{};
    cur_.db = m.db;
    cur_.key.assign(key.substr(0, 200));
    cur_.type = std::move(type);
  }
  void Done() {
    constexpr size_t kTop = 10;
    biggest.push_back(cur_);
    std::sort(biggest.begin(), biggest.end(), [](const Big& a, const Big& b) { return a.bytes > b.bytes; });
    if (biggest.size() > kTop) biggest.pop_back();
  }
  Big cur_;
};

std::string Printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7F) {
      out.push_back(static_cast<char>(c));
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

// ---- dump (JSON lines) ----------------------------------------------------------

bool ValidUtf8(std::string_view s) {
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  while (i < s.size()) {
    unsigned c = p[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size() + 0 && i + n > s.size() - 1 + 1) return false;
    if (i + n >= s.size() + 1) return false;
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size() || (p[i + k] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n + 1;
  }
  return true;
}

class JsonOut {
 public:
  explicit JsonOut(std::FILE* f) : f_(f) { buf_.reserve(1 << 16); }
  ~JsonOut() { Flush(); }
  void Raw(std::string_view s) {
    buf_.append(s);
    if (buf_.size() > (1 << 16)) Flush();
  }
  void Flush() {
    if (!buf_.empty()) std::fwrite(buf_.data(), 1, buf_.size(), f_);
    buf_.clear();
  }
  // A JSON string when `s` is valid UTF-8, else {"base64":"..."}.
  void Str(std::string_view s) {
    if (!ValidUtf8(s)) {
      static const char* kB64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
      Raw("{\"base64\":\"");
      size_t i = 0;
      const auto* p = reinterpret_cast<const unsigned char*>(s.data());
      for (; i + 2 < s.size(); i += 3) {
        uint32_t v = p[i] << 16 | p[i + 1] << 8 | p[i + 2];
        char o[4] = {kB64[v >> 18], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
        Raw(std::string_view(o, 4));
      }
      if (i < s.size()) {
        uint32_t v = p[i] << 16 | (i + 1 < s.size() ? p[i + 1] << 8 : 0);
        char o[4] = {kB64[v >> 18], kB64[(v >> 12) & 63], i + 1 < s.size() ? kB64[(v >> 6) & 63] : '=', '='};
        Raw(std::string_view(o, 4));
      }
      Raw("\"}");
      return;
    }
    buf_.push_back('"');
    for (char ch : s) {
      unsigned char c = static_cast<unsigned char>(ch);
      if (c == '"') buf_ += "\\\"";
      else if (c == '\\') buf_ += "\\\\";
      else if (c == '\n') buf_ += "\\n";
      else if (c == '\r') buf_ += "\\r";
      else if (c == '\t') buf_ += "\\t";
      else if (c < 0x20 || c == 0x7F) {
        char b[8];
        std::snprintf(b, sizeof b, "\\u%04x", c);
        buf_ += b;
      } else {
        buf_.push_back(ch);
      }
    }
    buf_.push_back('"');
    if (buf_.size() > (1 << 16)) Flush();
  }
  void Int(int64_t v) { Raw(std::to_string(v)); }
  void Uint(uint64_t v) { Raw(std::to_string(v)); }
  void Double(double d) {
    if (std::isinf(d)) {
      Raw(d > 0 ? "\"inf\"" : "\"-inf\"");
      return;
    }
    char b[32];
    std::snprintf(b, sizeof b, "%.17g", d);
    Raw(b);
  }
  void Id(StreamId id) { Raw("\"" + std::to_string(id.ms) + "-" + std::to_string(id.seq) + "\""); }

 private:
  std::FILE* f_;
  std::string buf_;
};

class DumpSink : public Sink {
 public:
  explicit DumpSink(std::FILE* f) : out_(f) {}

  Status OnString(const KeyMeta& m, std::string_view key, std::string_view value) override {
    Head(m, key, "string");
    out_.Str(value);
    out_.Raw("}\n");
    return {};
  }
  Status BeginCollection(const KeyMeta& m, std::string_view key, CollectionKind kind, uint64_t) override {
    kind_ = kind;
    Head(m, key, KindName(kind));
    out_.Raw(kind == CollectionKind::kHash ? "{" : "[");
    first_ = true;
    field_ttls_.clear();
    return {};
  }
  Status OnListElements(std::span<const std::string_view> e) override { return Views(e); }
  Status OnSetMembers(std::span<const std::string_view> e) override { return Views(e); }
  Status OnHashFields(std::span<const HashField> f) override {
    for (const auto& h : f) {
      Sep();
      out_.Str(h.field);
      out_.Raw(":");
      out_.Str(h.value);
      if (h.expire_ms != kNoExpire) field_ttls_.emplace_back(std::string(h.field), h.expire_ms);
    }
    return {};
  }
  Status OnZSetMembers(std::span<const ZSetMember> z) override {
    for (const auto& m : z) {
      Sep();
      out_.Raw("[");
      out_.Str(m.member);
      out_.Raw(",");
      out_.Double(m.score);
      out_.Raw("]");
    }
    return {};
  }
  Status EndCollection() override {
    out_.Raw(kind_ == CollectionKind::kHash ? "}" : "]");
    if (!field_ttls_.empty()) {
      // Field TTLs are kept aside; memory is bounded by the fields that have one.
      out_.Raw(",\"field_expire_ms\":{");
      for (size_t i = 0; i < field_ttls_.size(); ++i) {
        if (i) out_.Raw(",");
        out_.Str(field_ttls_[i].first);
        out_.Raw(":");
        out_.Int(field_ttls_[i].second);
      }
      out_.Raw("}");
    }
    out_.Raw("}\n");
    return {};
  }
  Status BeginStream(const KeyMeta& m, std::string_view key) override {
    Head(m, key, "stream");
    out_.Raw("{\"entries\":[");
    first_ = true;
    return {};
  }
  Status OnStreamEntries(std::span<const StreamEntry> entries) override {
    for (const auto& e : entries) {
      Sep();
      out_.Raw("{\"id\":");
      out_.Id(e.id);
      out_.Raw(",\"fields\":[");
      for (size_t i = 0; i < e.fields.size(); ++i) {
        if (i) out_.Raw(",");
        out_.Str(e.fields[i]);
      }
      out_.Raw("]}");
    }
    return {};
  }
  Status OnStreamMeta(const StreamMeta& m) override {
    out_.Raw("],\"length\":");
    out_.Uint(m.length);
    out_.Raw(",\"last_id\":");
    out_.Id(m.last_id);
    out_.Raw(",\"first_id\":");
    out_.Id(m.first_id);
    out_.Raw(",\"max_deleted_id\":");
    out_.Id(m.max_deleted_id);
    out_.Raw(",\"entries_added\":");
    out_.Uint(m.entries_added);
    out_.Raw(",\"groups\":[");
    groups_ = 0;
    return {};
  }
  Status OnStreamGroup(const StreamGroup& g) override {
    CloseGroup();
    if (groups_++) out_.Raw(",");
    out_.Raw("{\"name\":");
    out_.Str(g.name);
    out_.Raw(",\"last_delivered_id\":");
    out_.Id(g.last_delivered_id);
    out_.Raw(",\"entries_read\":");
    out_.Int(g.entries_read);
    out_.Raw(",\"pel\":[");
    first_ = true;
    in_group_ = true;
    consumers_ = 0;
    return {};
  }
  Status OnStreamPending(std::span<const StreamPendingEntry> pel) override {
    for (const auto& p : pel) {
      Sep();
      out_.Raw("{\"id\":");
      out_.Id(p.id);
      out_.Raw(",\"delivery_time_ms\":");
      out_.Int(p.delivery_time_ms);
      out_.Raw(",\"delivery_count\":");
      out_.Uint(p.delivery_count);
      out_.Raw("}");
    }
    return {};
  }
  Status OnStreamConsumer(const StreamConsumer& c) override {
    CloseConsumer();
    out_.Raw(consumers_++ ? "," : "],\"consumers\":[");
    out_.Raw("{\"name\":");
    out_.Str(c.name);
    out_.Raw(",\"seen_time_ms\":");
    out_.Int(c.seen_time_ms);
    out_.Raw(",\"active_time_ms\":");
    out_.Int(c.active_time_ms);
    out_.Raw(",\"pending\":[");
    first_ = true;
    in_consumer_ = true;
    return {};
  }
  Status OnStreamConsumerPending(std::span<const StreamId> ids) override {
    for (const auto& id : ids) {
      Sep();
      out_.Id(id);
    }
    return {};
  }
  Status EndStream() override {
    CloseGroup();
    out_.Raw("]}}\n");
    return {};
  }
  Status OnModuleValueSkipped(const KeyMeta& m, std::string_view key, const ModuleSkip& s) override {
    Head(m, key, "module");
    out_.Raw("{\"module\":");
    out_.Str(s.module_name);
    out_.Raw(",\"bytes\":");
    out_.Uint(s.bytes);
    out_.Raw(",\"skipped\":true}}\n");
    return {};
  }

 private:
  void Head(const KeyMeta& m, std::string_view key, const char* type) {
    out_.Raw("{\"db\":");
    out_.Uint(m.db);
    out_.Raw(",\"key\":");
    out_.Str(key);
    out_.Raw(",\"type\":\"");
    out_.Raw(type);
    out_.Raw("\",\"encoding\":\"");
    out_.Raw(TypeCodeName(Flavor::kRedis, m.rdb_type));
    out_.Raw("\"");
    if (m.expire_ms != kNoExpire) {
      out_.Raw(",\"expire_ms\":");
      out_.Int(m.expire_ms);
    }
    if (m.lru_idle_s >= 0) {
      out_.Raw(",\"idle_s\":");
      out_.Int(m.lru_idle_s);
    }
    if (m.lfu_freq >= 0) {
      out_.Raw(",\"freq\":");
      out_.Int(m.lfu_freq);
    }
    out_.Raw(",\"value\":");
  }
  Status Views(std::span<const std::string_view> e) {
    for (auto s : e) {
      Sep();
      out_.Str(s);
    }
    return {};
  }
  void Sep() {
    if (!first_) out_.Raw(",");
    first_ = false;
  }
  void CloseConsumer() {
    if (in_consumer_) out_.Raw("]}");
    in_consumer_ = false;
  }
  void CloseGroup() {
    if (!in_group_) return;
    CloseConsumer();
    if (consumers_ == 0) out_.Raw("],\"consumers\":[");
    out_.Raw("]}");
    in_group_ = false;
  }

  JsonOut out_;
  CollectionKind kind_ = CollectionKind::kList;
  bool first_ = true;
  bool in_group_ = false;
  bool in_consumer_ = false;
  int groups_ = 0;
  int consumers_ = 0;
  std::vector<std::pair<std::string, int64_t>> field_ttls_;
};

// ---- bench --------------------------------------------------------------------

class CountingSink : public Sink {
 public:
  uint64_t keys = 0, elements = 0, bytes = 0;
  Status OnString(const KeyMeta&, std::string_view, std::string_view v) override {
    ++keys;
    bytes += v.size();
    return {};
  }
  Status BeginCollection(const KeyMeta&, std::string_view, CollectionKind, uint64_t) override {
    ++keys;
    return {};
  }
  Status OnListElements(std::span<const std::string_view> e) override { return Add(e.size()); }
  Status OnSetMembers(std::span<const std::string_view> e) override { return Add(e.size()); }
  Status OnHashFields(std::span<const HashField> e) override { return Add(e.size()); }
  Status OnZSetMembers(std::span<const ZSetMember> e) override { return Add(e.size()); }
  Status EndCollection() override { return {}; }
  Status BeginStream(const KeyMeta&, std::string_view) override {
    ++keys;
    return {};
  }
  Status OnStreamEntries(std::span<const StreamEntry> e) override { return Add(e.size()); }

 private:
  Status Add(size_t n) {
    elements += n;
    return {};
  }
};

int Bench(const char* path, int runs, size_t feed, const ReaderOptions& opt) {
  std::FILE* f = std::fopen(path, "rb");
  if (!f) {
    std::fprintf(stderr, "darter-rdb: cannot open %s: %s\n", path, std::strerror(errno));
    return kExitIo;
  }
  std::string data;
  std::vector<char> buf(1 << 20);
  for (size_t n; (n = std::fread(buf.data(), 1, buf.size(), f)) > 0;) data.append(buf.data(), n);
  std::fclose(f);
  std::vector<double> secs;
  CountingSink last;
  for (int i = 0; i < runs; ++i) {
    CountingSink sink;
    Reader r(&sink, opt);
    auto t0 = std::chrono::steady_clock::now();
    Status s;
    if (feed == 0) {
      s = r.Feed(data);
    } else {
      for (size_t p = 0; p < data.size() && s.ok(); p += feed) s = r.Feed(std::string_view(data).substr(p, feed));
    }
    if (s.ok()) s = r.Finish();
    auto t1 = std::chrono::steady_clock::now();
    if (!s.ok()) {
      std::fprintf(stderr, "darter-rdb: %s: %s\n", path, s.message().c_str());
      return kExitInvalid;
    }
    secs.push_back(std::chrono::duration<double>(t1 - t0).count());
    last = sink;
  }
  std::sort(secs.begin(), secs.end());
  double best = secs.front(), median = secs[secs.size() / 2];
  double mb = static_cast<double>(data.size()) / (1024.0 * 1024.0);
  std::printf("file: %s\nbytes: %zu\nkeys: %llu\nelements: %llu\nruns: %d\nfeed: %s\n", path, data.size(),
              static_cast<unsigned long long>(last.keys), static_cast<unsigned long long>(last.elements), runs,
              feed ? std::to_string(feed).c_str() : "whole buffer");
  std::printf("best_seconds: %.6f\nmedian_seconds: %.6f\n", best, median);
  std::printf("best_MB_per_s: %.1f\nbest_keys_per_s: %.0f\n", mb / best, static_cast<double>(last.keys) / best);
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> pos;
  ReaderOptions opt;
  int runs = 5;
  size_t feed = 0;
  int out_version = 9;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      return kExitOk;
    } else if (a == "-v" || a == "--version") {
      std::printf("darter-rdb %s (%s)\n", DARTER_VERSION, DARTER_GIT_SHA);
      return kExitOk;
    } else if (a == "--skip-modules") {
      opt.module_policy = ModulePolicy::kSkip;
    } else if (a == "--no-checksum") {
      opt.verify_checksum = false;
    } else if ((a == "--runs" || a == "--feed" || a == "--rdb-version") && i + 1 < argc) {
      long v = std::strtol(argv[++i], nullptr, 10);
      if (v <= 0) {
        std::fprintf(stderr, "darter-rdb: %s needs a positive number\n", a.c_str());
        return kExitUsage;
      }
      if (a == "--runs") runs = static_cast<int>(v);
      else if (a == "--feed") feed = static_cast<size_t>(v);
      else out_version = static_cast<int>(v);
    } else if (a.size() > 1 && a[0] == '-') {
      std::fprintf(stderr, "darter-rdb: unknown option %s\n%s", a.c_str(), kUsage);
      return kExitUsage;
    } else {
      pos.push_back(a);
    }
  }
  if (pos.size() < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string& cmd = pos[0];
  const char* path = pos[1].c_str();

  if (cmd == "check") {
    StatsSink stats;
    Reader r(&stats, opt);
    int rc = FeedFile(path, &r);
    if (rc != kExitOk) return rc;
    const char* crc = stats.end.checksum_verified ? "verified"
                      : stats.end.rdb_version < 5 ? "absent (version < 5)"
                      : stats.end.stored_checksum == 0 ? "disabled (stored as 0)"
                                                       : "not verified (--no-checksum)";
    std::printf("OK: %s: RDB version %d, %llu keys, %llu bytes, checksum %s\n", path, r.version(),
                static_cast<unsigned long long>(stats.keys), static_cast<unsigned long long>(stats.end.bytes), crc);
    return kExitOk;
  }
  if (cmd == "stats") {
    StatsSink stats;
    Reader r(&stats, opt);
    int rc = FeedFile(path, &r);
    if (rc != kExitOk) return rc;
    std::printf("file: %s\nflavor: %s\nrdb_version: %d\nbytes: %llu\nchecksum: %s\n", path,
                r.flavor() == Flavor::kValkey ? "valkey" : "redis", r.version(),
                static_cast<unsigned long long>(stats.end.bytes),
                stats.end.checksum_verified ? "verified" : "not verified (disabled or absent)");
    std::printf("aux:\n");
    for (const auto& [k, v] : stats.aux) std::printf("  %s: %s\n", Printable(k).c_str(), Printable(v.substr(0, 120)).c_str());
    std::printf("keys: %llu\nkeys_with_ttl: %llu\nkeys_expired_now: %llu\nkeys_with_lru_idle: %llu\n"
                "keys_with_lfu_freq: %llu\nfunctions: %llu\nempty_keys_skipped: %llu\nmodule_values_skipped: %llu\n"
                "module_aux_skipped: %llu\n",
                static_cast<unsigned long long>(stats.keys), static_cast<unsigned long long>(stats.with_ttl),
                static_cast<unsigned long long>(stats.expired_now), static_cast<unsigned long long>(stats.with_idle),
                static_cast<unsigned long long>(stats.with_freq), static_cast<unsigned long long>(stats.functions),
                static_cast<unsigned long long>(stats.empty_skipped),
                static_cast<unsigned long long>(stats.modules_skipped),
                static_cast<unsigned long long>(stats.module_aux));
    if (!stats.libraries.empty()) {
      std::printf("function_libraries:\n");
      for (const auto& [head, bytes] : stats.libraries)
        std::printf("  %s (%zu bytes)\n", Printable(head).c_str(), bytes);
    }
    std::printf("keys_per_db_and_type:\n");
    for (const auto& [db, types] : stats.per_db_type) {
      std::printf("  db%llu:", static_cast<unsigned long long>(db));
      for (const auto& [t, n] : types) std::printf(" %s=%llu", t.c_str(), static_cast<unsigned long long>(n));
      std::printf("\n");
    }
    std::printf("encodings:\n");
    for (const auto& [e, n] : stats.encodings) std::printf("  %s: %llu\n", e.c_str(), static_cast<unsigned long long>(n));
    std::printf("biggest_keys (by value bytes):\n");
    for (const auto& b : stats.biggest)
      std::printf("  db%llu %s %s bytes=%llu elements=%llu\n", static_cast<unsigned long long>(b.db),
                  b.type.c_str(), Printable(b.key).c_str(), static_cast<unsigned long long>(b.bytes),
                  static_cast<unsigned long long>(b.elements));
    return kExitOk;
  }
  if (cmd == "dump") {
    DumpSink dump(stdout);
    Reader r(&dump, opt);
    return FeedFile(path, &r);
  }
  if (cmd == "rewrite") {
    if (pos.size() < 3) {
      std::fputs(kUsage, stderr);
      return kExitUsage;
    }
    std::FILE* out = std::fopen(pos[2].c_str(), "wb");
    if (!out) {
      std::fprintf(stderr, "darter-rdb: cannot create %s: %s\n", pos[2].c_str(), std::strerror(errno));
      return kExitIo;
    }
    FileByteSink bs(out);
    WriterOptions wo;
    wo.rdb_version = out_version;
    Writer w(&bs, wo);
    Rewriter rw(&w);
    Reader r(&rw, opt);
    int rc = FeedFile(path, &r);
    if (std::fclose(out) != 0 && rc == kExitOk) rc = kExitIo;
    if (rc == kExitOk && rw.functions_dropped())
      std::fprintf(stderr, "darter-rdb: note: %llu function libraries dropped (RDB 9 has no FUNCTION2)\n",
                   static_cast<unsigned long long>(rw.functions_dropped()));
    return rc;
  }
  if (cmd == "bench") return Bench(path, runs, feed, opt);
  std::fprintf(stderr, "darter-rdb: unknown command %s\n%s", cmd.c_str(), kUsage);
  return kExitUsage;
}
