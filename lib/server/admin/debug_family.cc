#include "server/admin/debug_family.h"

#include <cctype>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "rdb/writer.h"
#include "server/admin/debug_digest.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/log.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/repl/repl_master.h"
#include "store/errors.h"
#include "store/list_object.h"
#include "store/rdb_save.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_ops.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

// Redis's reply when the subcommand is unknown or has the wrong number of arguments
// (the two are not told apart, as in debug.c).
void ReplyUnknown(ConnectionContext& c) {
  c.reply.Error("ERR unknown subcommand or wrong number of arguments for '" + std::string(c.args[1].substr(0, 128)) +
                "'. Try DEBUG HELP.");
}

// ---- DEBUG OBJECT ----

// Counts bytes instead of keeping them: the serialized length of a value without a copy
// of it (beyond the writer's own bounded buffer).
class CountingSink : public rdb::ByteSink {
 public:
  rdb::Status Write(std::string_view bytes) override {
    count_ += bytes.size();
    return {};
  }
  size_t count() const { return count_; }

 private:
  size_t count_ = 0;
};

// Redis's rdbSavedObjectLen: the value's RDB body (no type byte, key, expiry or LRU), in
// the format Redis 7.0 writes (RDB 10, LZF for strings over 20 bytes).
std::optional<size_t> SerializedLength(const store::Value& value) {
  CountingSink sink;
  rdb::WriterOptions wo;
  wo.rdb_version = 10;
  wo.compress = true;
  wo.checksum = false;
  rdb::Writer writer(&sink, wo);
  writer.StartValueOnly();
  if (!store::WriteValue(writer, {}, "", value).ok()) return std::nullopt;
  if (!writer.FinishDumpPayload().ok()) return std::nullopt;
  constexpr size_t kTypeAndTrailer = 1 + 2 + 8;  // type byte; RDB version and CRC-64
  return sink.count() - kTypeAndTrailer;
}

// Redis's robj->lru is 24 bits (LRU_CLOCK_MAX); Darter's stamp keeps 32.
constexpr uint32_t kLruClockMax = (1u << 24) - 1;
// Shared integer objects (OBJECT REFCOUNT's INT_MAX): 0 .. 9999, as Redis's OBJ_SHARED_INTEGERS.
constexpr int64_t kSharedIntegers = 10000;

// The status line of DEBUG OBJECT for `s` (shard thread).
std::string DescribeObject(const store::Slot& s) {
  const store::Value& v = s.value;
  std::string encoding;
  int64_t refcount = 1;
  if (v.is_string()) {
    encoding = std::string(store::StringEncodingName(v.string_view(), s.flags));
    if (encoding == "int") {
      auto n = store::ParseInt64(v.string_view());
      if (n && *n >= 0 && *n < kSharedIntegers) refcount = INT_MAX;
    }
  } else {
    encoding = std::string(v.object()->EncodingName());
  }
  // The address is the slot's: Darter has no robj, and the value may live inline in it.
  char head[96];
  std::snprintf(head, sizeof head, "Value at:%p refcount:%lld encoding:", static_cast<const void*>(&s),
                static_cast<long long>(refcount));
  std::string out = head;
  out += encoding;
  auto len = SerializedLength(v);
  out += " serializedlength:" + std::to_string(len ? *len : 0);
  bool lfu = store::GetStoreConfig().lfu_policy.load(std::memory_order_relaxed);
  uint32_t now = store::LruClock();
  // Under an LFU policy the stamp holds LFU data and the idle time means nothing, as in Redis.
  uint32_t lru = lfu ? s.access : (s.access & kLruClockMax);
  uint64_t idle = !lfu && now >= s.access ? now - s.access : 0;
  out += " lru:" + std::to_string(lru) + " lru_seconds_idle:" + std::to_string(idle);
  if (v.type() == store::ValueType::kList) {
    const auto* list = static_cast<const store::ListObject*>(v.object());
    size_t nodes = list->node_count();
    size_t packed = 0;
    for (size_t i = 0; i < nodes; ++i) packed += list->node_bytes(i);
    char extra[160];
    std::snprintf(extra, sizeof extra,
                  " ql_nodes:%zu ql_avg_node:%.2f ql_listpack_max:%lld ql_compressed:0 ql_uncompressed_size:%zu",
                  nodes, nodes ? static_cast<double>(list->size()) / static_cast<double>(nodes) : 0.0,
                  static_cast<long long>(store::GetStoreConfig().list_max_listpack_size.load()), packed);
    out += extra;
  }
  return out;
}

void DebugObject(ConnectionContext& c) {
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  std::string key(c.args[2]);
  unsigned db = c.conn.db;
  c.then = [&srv, &rb, key, db]() -> awaitable<void> {
    unsigned n = srv.shards().size();
    unsigned owner = store::ShardOf(key, n);
    std::optional<std::string> line;
    std::vector<asio::io_context*> ctxs{&srv.shards().at(owner).ctx()};
    co_await AwaitAll(ctxs, [&](size_t) {
      store::Shard& shard = srv.shards().at(owner).shard();
      // As Redis, straight from the table: no access-time update, no keyspace miss, and a
      // key past its TTL that no one has removed yet is still shown.
      if (const store::Slot* s = shard.db(db).Find(key, store::HashKey(key))) line = DescribeObject(*s);
    });
    if (line) rb.SimpleString(*line);
    else rb.Error("ERR no such key");
  };
}

// ---- DEBUG PROTOCOL ----

// One test value of each RESP3 type; RESP2 clients get the downgraded forms, byte for
// byte what Redis 7.0 sends.
void DebugProtocol(ConnectionContext& c) {
  resp::ReplyBuilder& rb = c.reply;
  std::string_view name = c.args[2];
  bool resp3 = rb.protocol() == 3;
  if (EqualsIgnoreCase(name, "string")) {
    rb.Bulk("Hello World");
  } else if (EqualsIgnoreCase(name, "integer")) {
    rb.Integer(12345);
  } else if (EqualsIgnoreCase(name, "double")) {
    rb.Double(3.141);
  } else if (EqualsIgnoreCase(name, "bignum")) {
    rb.BigNumber("1234567999999999999999999999999999999");
  } else if (EqualsIgnoreCase(name, "null")) {
    rb.Null();
  } else if (EqualsIgnoreCase(name, "array")) {
    rb.ArrayHeader(3);
    for (int i = 0; i < 3; ++i) rb.Integer(i);
  } else if (EqualsIgnoreCase(name, "set")) {
    rb.SetHeader(3);
    for (int i = 0; i < 3; ++i) rb.Integer(i);
  } else if (EqualsIgnoreCase(name, "map")) {
    rb.MapHeader(3);
    for (int i = 0; i < 3; ++i) {
      rb.Integer(i);
      rb.Bool(i == 1);
    }
  } else if (EqualsIgnoreCase(name, "attrib")) {
    if (resp3) {  // an attribute map of one pair, then the reply it annotates
      rb.Raw("|1\r\n");
      rb.Bulk("key-popularity");
      rb.ArrayHeader(2);
      rb.Bulk("key:123");
      rb.Integer(90);
    }
    rb.Bulk("Some real reply following the attribute");
  } else if (EqualsIgnoreCase(name, "push")) {
    if (!resp3) {
      rb.Error("ERR RESP2 is not supported by this command");
      return;
    }
    rb.PushHeader(2);
    rb.Bulk("server-cpu-usage");
    rb.Integer(42);
    rb.Bulk("Some real reply following the push reply");
  } else if (EqualsIgnoreCase(name, "verbatim")) {
    rb.Verbatim("This is a verbatim\nstring");
  } else if (EqualsIgnoreCase(name, "true")) {
    rb.Bool(true);
  } else if (EqualsIgnoreCase(name, "false")) {
    rb.Bool(false);
  } else {
    rb.Error(
        "ERR Wrong protocol type name. Please use one of the following: "
        "string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false");
  }
}

// ---- DEBUG STRINGMATCH-TEST ----

// Exercises the glob matcher (KEYS, SCAN MATCH, PSUBSCRIBE, ...) with random patterns
// and subjects built from its special characters, as Redis's stringmatchlen fuzzer, and
// beyond "did not crash" checks two properties every subject must satisfy: its
// escaped copy and a run of '?' as long as it match it. The matcher is O(pattern x
// subject), so the whole run is bounded (about 0.1 s).
std::string RunStringMatchTest() {
  static constexpr char kAlphabet[] = "*?[]\\^-ab";
  std::mt19937_64 rng(std::random_device{}());
  auto random_text = [&](size_t max_len) {
    std::string s(rng() % (max_len + 1), ' ');
    for (char& ch : s) ch = kAlphabet[rng() % (sizeof kAlphabet - 1)];
    return s;
  };
  for (int i = 0; i < 100000; ++i) {
    std::string pattern = random_text(32), subject = random_text(32);
    (void)store::GlobMatch(pattern, subject, (i & 1) != 0);
    if (subject.empty()) continue;
    std::string escaped, any(subject.size(), '?');
    for (char ch : subject) {
      escaped += '\\';
      escaped += ch;
    }
    if (!store::GlobMatch(escaped, subject)) return "the escaped subject '" + subject + "' does not match it";
    if (!store::GlobMatch(any, subject)) return "'" + any + "' does not match '" + subject + "'";
  }
  return "";
}

// ---- DEBUG POPULATE, SLEEP, TXSTATE ----

void DebugSleep(ConnectionContext& c) {
  // Redis reads the seconds with strtod: a leading number, anything else is 0. At most
  // a day here, and nothing negative or NaN.
  std::string text(c.args[2]);
  double s = std::strtod(text.c_str(), nullptr);
  if (!(s > 0)) s = 0;
  s = std::min(s, 86400.0);
  resp::ReplyBuilder& rb = c.reply;
  unsigned thread = c.conn.thread();
  Server& srv = c.server;
  // Unlike Redis, only this client waits: the server is not stopped.
  c.then = [&rb, &srv, thread, s]() -> awaitable<void> {
    asio::steady_timer timer(srv.shards().at(thread).ctx());
    timer.expires_after(std::chrono::microseconds(static_cast<int64_t>(s * 1e6)));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    rb.Ok();
  };
}

void DebugPopulate(ConnectionContext& c) {
  // Bounds (Redis has none and grows until the allocator fails): at most
  // kPopulateMaxKeys keys, values of at most proto-max-bulk-len bytes, and at most
  // kPopulateMaxBytes of values in all. Keys are made kPopulateChunk indices at a
  // time, each chunk a separate task on every shard, so other clients' commands run
  // between chunks instead of waiting for the whole population.
  constexpr int64_t kPopulateMaxKeys = 100'000'000;
  constexpr uint64_t kPopulateMaxBytes = uint64_t{8} << 30;
  constexpr int64_t kPopulateChunk = 8192;
  auto count = store::ParseInt64(c.args[2]);
  if (!count || *count < 0) {
    c.reply.Error("ERR value is out of range, must be positive");
    return;
  }
  if (*count > kPopulateMaxKeys) {
    c.reply.Error("ERR count is out of range: DEBUG POPULATE creates at most 100000000 keys");
    return;
  }
  std::string prefix = c.args.size() >= 4 ? std::string(c.args[3]) : "key";
  std::optional<int64_t> size;
  if (c.args.size() == 5) {
    size = store::ParseInt64(c.args[4]);
    if (!size || *size < 0) {
      c.reply.Error("ERR value is out of range, must be positive");
      return;
    }
    if (static_cast<uint64_t>(*size) > store::ProtoMaxBulkLen()) {
      c.reply.Error("ERR value size is out of range: it exceeds proto-max-bulk-len");
      return;
    }
    if (static_cast<uint64_t>(*size) * static_cast<uint64_t>(*count) > kPopulateMaxBytes) {
      c.reply.Error("ERR count x size is out of range: DEBUG POPULATE writes at most 8 GiB of values");
      return;
    }
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  unsigned db = c.conn.db;
  int64_t n = *count;
  c.then = [&srv, &rb, db, n, prefix, size]() -> awaitable<void> {
    unsigned shards = srv.shards().size();
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < shards; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    for (int64_t begin = 0; begin < n; begin += kPopulateChunk) {
      int64_t end = std::min(n, begin + kPopulateChunk);
      co_await AwaitAll(ctxs, [&](size_t t) {
        store::Shard& shard = srv.shards().at(static_cast<unsigned>(t)).shard();
        const store::DbTable& table = shard.db(db);
        std::string key = prefix + ":", value;
        size_t base = key.size();
        for (int64_t i = begin; i < end; ++i) {
          key.resize(base);
          key += std::to_string(i);
          if (store::ShardOf(key, shards) != t) continue;
          uint64_t h = store::HashKey(key);
          if (table.Find(key, h)) continue;  // as Redis: existing keys are left alone
          value = "value:" + std::to_string(i);
          if (size) value.resize(static_cast<size_t>(*size), '\0');
          store::Slot* s = shard.Insert(db, key, h);  // new: no snapshot holds it
          s->value.SetString(value);
          s->access = store::NewAccessStamp();
        }
      });
    }
    rb.Ok();
  };
}

void DebugTxState(ConnectionContext& c) {
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb]() -> awaitable<void> {
    unsigned n = srv.shards().size();
    std::vector<std::string> lines(n);
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    co_await AwaitAll(ctxs, [&](size_t t) { lines[t] = srv.shards().at(static_cast<unsigned>(t)).DescribeTxState(); });
    rb.ArrayHeader(n);
    for (auto& l : lines) rb.Bulk(l);
  };
}

// C's atoi, which Redis applies to SET-ACTIVE-EXPIRE's argument: leading blanks, a sign,
// then digits; anything else ends the number ("abc" is 0).
int64_t AtoiPrefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r'))) ++i;
  bool neg = false;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) neg = s[i++] == '-';
  int64_t v = 0;
  for (; i < s.size() && s[i] >= '0' && s[i] <= '9' && v < INT_MAX; ++i) v = v * 10 + (s[i] - '0');
  return neg ? -v : v;
}

// Subcommands Redis has that Darter refuses, and why.
struct Refusal {
  const char* name;
  const char* reason;
};
constexpr Refusal kRefused[] = {
    {"segfault", "it crashes the server on purpose"},
    {"panic", "it crashes the server on purpose"},
    {"assert", "it crashes the server on purpose"},
    {"oom", "it crashes the server on purpose"},
    {"crash-and-recover", "it crashes the server on purpose"},
    {"restart", "it restarts the server process"},
    {"leak", "it leaks memory on purpose"},
    {"listpack", "Darter's small lists and hashes are not Redis listpacks (docs/lists-hashes.md)"},
    {"quicklist", "Darter's lists are not Redis quicklists (docs/lists-hashes.md)"},
    {"quicklist-packed-threshold", "Darter's lists have no plain (unpacked) nodes"},
    {"sdslen", "Darter's strings are not SDS strings"},
    {"htstats", "Darter's key tables are not Redis dicts"},
    {"htstats-key", "Darter's collections are not Redis dicts"},
    {"mallctl", "Darter is not linked with jemalloc"},
    {"mallctl-str", "Darter is not linked with jemalloc"},
    {"jmap", "Darter has no JVM"},
    {"loadaof", "Darter has no AOF"},
    {"aof-flush-sleep", "Darter has no AOF"},
    {"replicate", "it makes replicas diverge on purpose"},
    {"set-skip-checksum-validation", "Darter always checks RDB and RESTORE checksums"},
    {"config-rewrite-force-all", "use CONFIG REWRITE"},
    {"structsize", "Darter has no Redis core structures"},
    {"client-eviction", "Darter has no maxmemory-clients pools"},
    {"pause-cron", "Darter has no single cron loop"},
    {"replybuffer", "Darter's reply buffers are not resized by a cron"},
    {"drop-cluster-packet-filter", "Darter has no cluster bus"},
    {"clusterlink", "Darter has no cluster bus"},
};

void ReplyHelp(ConnectionContext& c) {
  static const char* kHelp[] = {
      "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CHANGE-REPL-ID",
      "    Change the replication IDs of the instance.",
      "    Dangerous: should be used only for testing the replication subsystem.",
      "DIGEST",
      "    Output a hex signature representing the current DB content.",
      "DIGEST-VALUE <key> [<key> ...]",
      "    Output a hex signature of the values of all the specified keys.",
      "ERROR <string>",
      "    Return a Redis protocol error with <string> as message. Useful for clients",
      "    unit tests to simulate Redis errors.",
      "LOG <message>",
      "    Write <message> to the server log.",
      "OBJECT <key>",
      "    Show low level info about `key` and associated value.",
      "POPULATE <count> [<prefix>] [<size>]",
      "    Create <count> string keys named key:<num>. If <prefix> is specified then",
      "    it is used instead of the 'key' prefix. These are not propagated to",
      "    replicas. Cluster slots are not respected so keys not belonging to the",
      "    current node can be created in cluster mode.",
      "PROTOCOL <type>",
      "    Reply with a test value of the specified type. <type> can be: string,",
      "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
      "    true, false.",
      "RELOAD [option ...]",
      "    Save the RDB on disk and reload it back to memory. Valid <option> values:",
      "    * MERGE: conflicting keys will be loaded from RDB.",
      "    * NOFLUSH: the existing database will not be removed before load.",
      "    * NOSAVE: the database will be loaded from an existing RDB file.",
      "SET-ACTIVE-EXPIRE <0|1>",
      "    Setting it to 0 disables expiring keys in background when they are not",
      "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
      "    default.",
      "SLEEP <seconds>",
      "    Stop the server for <seconds>. Decimals allowed.",
      "STRINGMATCH-TEST",
      "    Run a fuzz tester against the glob-style pattern matcher.",
      "TXSTATE",
      "    Show each shard's transaction queue and locks (Darter).",
      "HELP",
      "    Prints this help.",
  };
  c.reply.SimpleStringArray(kHelp);
}

void DebugCommand(ConnectionContext& c) {
  std::string_view sub = c.args[1];
  size_t argc = c.args.size();
  auto is = [&](const char* name, bool arity_ok) { return arity_ok && EqualsIgnoreCase(sub, name); };
  if (is("help", argc == 2)) {
    ReplyHelp(c);
  } else if (is("digest", argc == 2)) {
    DebugDigest(c);
  } else if (is("digest-value", argc >= 2)) {
    DebugDigestValue(c);
  } else if (is("reload", true)) {
    DebugReload(c);
  } else if (is("sleep", argc == 3)) {
    DebugSleep(c);
  } else if (is("populate", argc >= 3 && argc <= 5)) {
    DebugPopulate(c);
  } else if (is("txstate", argc == 2)) {
    DebugTxState(c);
  } else if (is("object", argc == 3)) {
    DebugObject(c);
  } else if (is("protocol", argc == 3)) {
    DebugProtocol(c);
  } else if (is("set-active-expire", argc == 3)) {
    bool on = AtoiPrefix(c.args[2]) != 0;
    for (unsigned t = 0; t < c.server.shards().size(); ++t) c.server.shards().at(t).set_active_expire(on);
    c.reply.Ok();
  } else if (is("change-repl-id", argc == 2)) {
    c.server.repl_master().ChangeReplicationId();
    c.reply.Ok();
  } else if (is("stringmatch-test", argc == 2)) {
    std::string failure = RunStringMatchTest();
    if (failure.empty()) c.reply.SimpleString("Apparently Darter did not crash: test passed");
    else c.reply.Error("ERR stringmatch test failed: " + failure);
  } else if (is("error", argc == 3)) {
    // The argument is the whole error line, code included, as Redis sends it.
    c.reply.Error(c.args[2]);
  } else if (is("log", argc == 3)) {
    LOG_WARNING("DEBUG LOG: %s", std::string(c.args[2]).c_str());
    c.reply.Ok();
  } else {
    for (const Refusal& r : kRefused) {
      if (EqualsIgnoreCase(sub, r.name)) {
        std::string upper(sub);
        for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        c.reply.Error("ERR DEBUG " + upper + " is not supported by Darter: " + r.reason);
        return;
      }
    }
    ReplyUnknown(c);
  }
}

}  // namespace

void RegisterDebugFamily(store::CommandTable& t) {
  using namespace store;
  constexpr uint32_t kAnyState = kCmdLoading | kCmdStale;
  CommandFamily family(t, 0);
  family << CommandRow("debug", -2, kCmdAdmin | kCmdNoScript | kAnyState | kCmdProtected).Connection(DebugCommand);
}

}  // namespace darter::server
