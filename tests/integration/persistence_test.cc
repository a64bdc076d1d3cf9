// DUMP/RESTORE and RDB files between darter-server and Debian's redis-server, for every
// data type: values must survive each direction logically unchanged (type, content,
// TTL), and bad payloads or files must give clear errors, not crashes.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <stdlib.h>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using darter::test::Client;
using darter::test::Format;
using darter::test::Reply;
using darter::test::StartDarter;
using darter::test::StartRedis;

namespace {

// Fresh directories for servers' RDB files (darter's default --dir is the cwd), removed
// when the test binary exits (after the servers, which the test cases stop first).
struct TempDirs {
  std::vector<std::filesystem::path> made;
  ~TempDirs() {
    std::error_code ec;
    for (auto& d : made) std::filesystem::remove_all(d, ec);
  }
};
TempDirs g_temp_dirs;

std::filesystem::path TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "darter-persist-XXXXXX").string();
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  g_temp_dirs.made.push_back(tmpl);
  return tmpl;
}

// Commands that create one key of every type (and encodings on both sides of the
// compact thresholds), some with TTLs, in two databases.
const std::vector<std::vector<std::string>> kFill = {
    {"SET", "str:int", "12345"},
    {"SET", "str:short", "hello"},
    {"SET", "str:long", std::string(300, 'x')},
    {"SET", "str:ttl", "v", "EX", "5000"},
    {"RPUSH", "list:small", "a", "b", "c", "1", "2"},
    {"HSET", "hash:small", "f1", "v1", "f2", "v2", "n", "42"},
    {"SADD", "set:int", "1", "2", "3", "-5", "100000"},
    {"SADD", "set:str", "alpha", "beta", "gamma"},
    {"ZADD", "zset:small", "1.5", "a", "-2", "b", "inf", "c"},
    {"PFADD", "hll", "a", "b", "c", "d"},
    {"SETBIT", "bitmap", "100", "1"},
    {"XADD", "stream", "1-1", "f", "v"},
    {"XADD", "stream", "2-1", "f", "w", "g", "x"},
    {"XGROUP", "CREATE", "stream", "grp", "0"},
    {"XREADGROUP", "GROUP", "grp", "alice", "COUNT", "1", "STREAMS", "stream", ">"},
    {"GEOADD", "geo", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"},
    {"EXPIRE", "hash:small", "3000"},
};

void FillBig(Client& c) {
  std::vector<std::string> rpush = {"RPUSH", "list:big"}, hset = {"HSET", "hash:big"}, sadd = {"SADD", "set:big"},
                           zadd = {"ZADD", "zset:big"};
  for (int i = 0; i < 700; ++i) {
    std::string m = "member:" + std::to_string(i);
    rpush.push_back(m);
    hset.push_back(m);
    hset.push_back(std::to_string(i * 3));
    sadd.push_back(m);
    zadd.push_back(std::to_string(i * 0.25));
    zadd.push_back(m);
  }
  for (auto* cmd : {&rpush, &hset, &sadd, &zadd}) REQUIRE(!c.Cmd(*cmd).IsError());
}

void Fill(Client& c) {
  for (auto& cmd : kFill) {
    Reply r = c.Cmd(cmd);
    INFO(Format(r));
    REQUIRE(!r.IsError());
  }
  FillBig(c);
  REQUIRE(!c.Cmd({"SELECT", "3"}).IsError());
  REQUIRE(!c.Cmd({"SET", "db3:key", "in db 3"}).IsError());
  REQUIRE(!c.Cmd({"SADD", "db3:set", "x", "y"}).IsError());
  REQUIRE(!c.Cmd({"SELECT", "0"}).IsError());
}

std::vector<std::string> SortedStrings(const Reply& r) {
  std::vector<std::string> out;
  for (auto& e : r.elements) out.push_back(Format(e));
  std::sort(out.begin(), out.end());
  return out;
}

// A type-aware, encoding-blind description of a key.
std::string Describe(Client& c, const std::string& key) {
  std::string type = c.Cmd({"TYPE", key}).str;
  std::string out = type + ":";
  if (type == "string") {
    out += Format(c.Cmd({"GET", key}));
  } else if (type == "list") {
    out += Format(c.Cmd({"LRANGE", key, "0", "-1"}));
  } else if (type == "set") {
    for (auto& s : SortedStrings(c.Cmd({"SMEMBERS", key}))) out += s + ",";
  } else if (type == "hash") {
    Reply r = c.Cmd({"HGETALL", key});
    std::vector<std::string> pairs;
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2)
      pairs.push_back(Format(r.elements[i]) + "=" + Format(r.elements[i + 1]));
    std::sort(pairs.begin(), pairs.end());
    for (auto& p : pairs) out += p + ",";
  } else if (type == "zset") {
    out += Format(c.Cmd({"ZRANGE", key, "0", "-1", "WITHSCORES"}));
  } else if (type == "stream") {
    out += Format(c.Cmd({"XRANGE", key, "-", "+"}));
    Reply groups = c.Cmd({"XINFO", "GROUPS", key});
    for (auto& g : groups.elements) {
      // name, consumers, pending, last-delivered-id (skip lag/entries-read: estimates)
      for (size_t i = 0; i + 1 < g.elements.size(); i += 2) {
        std::string f = g.elements[i].str;
        if (f == "name" || f == "consumers" || f == "pending" || f == "last-delivered-id")
          out += f + "=" + Format(g.elements[i + 1]) + ";";
      }
    }
  }
  long long ttl = c.Cmd({"PTTL", key}).integer;
  out += ttl < 0 ? " ttl=" + std::to_string(ttl) : " ttl=set";
  return out;
}

std::vector<std::string> AllKeys(Client& c) {
  Reply r = c.Cmd({"KEYS", "*"});
  std::vector<std::string> keys;
  for (auto& e : r.elements) keys.push_back(e.str);
  std::sort(keys.begin(), keys.end());
  return keys;
}

void CompareDb(Client& a, Client& b, int db) {
  REQUIRE(!a.Cmd({"SELECT", std::to_string(db)}).IsError());
  REQUIRE(!b.Cmd({"SELECT", std::to_string(db)}).IsError());
  auto keys = AllKeys(a);
  CHECK(keys == AllKeys(b));
  for (auto& k : keys) {
    INFO("db " << db << " key " << k);
    CHECK(Describe(a, k) == Describe(b, k));
  }
}

}  // namespace

TEST_CASE("DUMP from redis-server RESTOREs into darter, and back, for every type") {
  auto redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  auto darter = StartDarter(0, {"--threads", "2", "--dir", TempDir().string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client r(redis.port()), d(darter.port());
  REQUIRE(r.ok());
  REQUIRE(d.ok());
  Fill(r);
  auto keys = AllKeys(r);
  REQUIRE(keys.size() > 15);
  for (auto& k : keys) {
    INFO("key " << k);
    Reply payload = r.Cmd({"DUMP", k});
    REQUIRE(payload.type == Reply::Type::kString);
    long long pttl = r.Cmd({"PTTL", k}).integer;
    Reply restored = d.Cmd({"RESTORE", k, std::to_string(pttl > 0 ? pttl : 0), payload.str});
    CHECK(Format(restored) == "+OK");
    CHECK(Describe(r, k) == Describe(d, k));
    // And back: darter's payload restores into redis under another name.
    Reply back = d.Cmd({"DUMP", k});
    REQUIRE(back.type == Reply::Type::kString);
    CHECK(Format(r.Cmd({"RESTORE", "copy:" + k, "0", back.str})) == "+OK");
    std::string original = Describe(r, k), copy = Describe(r, "copy:" + k);
    // The copy has no TTL; compare the values only.
    CHECK(original.substr(0, original.rfind(" ttl=")) == copy.substr(0, copy.rfind(" ttl=")));
  }
}

TEST_CASE("RESTORE refuses bad payloads and existing keys with Redis's errors") {
  auto darter = StartDarter(0, {"--threads", "2", "--dir", TempDir().string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  REQUIRE(!d.Cmd({"SET", "k", "v"}).IsError());
  Reply payload = d.Cmd({"DUMP", "k"});
  REQUIRE(payload.type == Reply::Type::kString);
  CHECK(Format(d.Cmd({"RESTORE", "k", "0", payload.str})) == "-BUSYKEY Target key name already exists.");
  std::string corrupt = payload.str;
  corrupt[1] ^= 0x55;
  CHECK(Format(d.Cmd({"RESTORE", "k2", "0", corrupt})) == "-ERR DUMP payload version or checksum are wrong");
  CHECK(Format(d.Cmd({"RESTORE", "k2", "0", payload.str.substr(0, 3)})) ==
        "-ERR DUMP payload version or checksum are wrong");
  CHECK(Format(d.Cmd({"RESTORE", "k2", "-1", payload.str})) == "-ERR Invalid TTL value, must be >= 0");
  CHECK(Format(d.Cmd({"RESTORE", "k", "0", payload.str, "REPLACE"})) == "+OK");
  CHECK(Format(d.Cmd({"PING"})) == "+PONG");
}

TEST_CASE("SAVE writes an RDB that darter reloads and redis-server loads, with every type") {
  std::filesystem::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  {
    Client d(darter.port());
    Fill(d);
    CHECK(Format(d.Cmd({"SAVE"})) == "+OK");
  }
  REQUIRE(std::filesystem::exists(dir / "dump.rdb"));
  std::filesystem::path copy_dir = dir / "copy";
  std::filesystem::create_directories(copy_dir);
  std::filesystem::copy_file(dir / "dump.rdb", copy_dir / "dump.rdb");

  // The reference: the same commands on redis-server.
  auto redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client r(redis.port());
  Fill(r);

  // darter restarted on its own file.
  auto reloaded = StartDarter(0, {"--threads", "3", "--dir", dir.string()});
  REQUIRE_MESSAGE(reloaded.status.ok, reloaded.status.message);
  Client d2(reloaded.port());
  CompareDb(r, d2, 0);
  CompareDb(r, d2, 3);

  // redis-server started on darter's file.
  auto redis2 = StartRedis(0, {"--dir", copy_dir.string(), "--dbfilename", "dump.rdb"});
  REQUIRE_MESSAGE(redis2.status.ok, redis2.status.message);
  Client r2(redis2.port());
  CompareDb(r, r2, 0);
  CompareDb(r, r2, 3);
}

TEST_CASE("A truncated RDB at start-up stops darter with a clear error") {
  std::filesystem::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  {
    Client d(darter.port());
    Fill(d);
    REQUIRE(Format(d.Cmd({"SAVE"})) == "+OK");
  }
  std::filesystem::path bad = dir / "bad";
  std::filesystem::create_directories(bad);
  auto size = std::filesystem::file_size(dir / "dump.rdb");
  std::filesystem::copy_file(dir / "dump.rdb", bad / "dump.rdb");
  std::filesystem::resize_file(bad / "dump.rdb", size / 2);
  auto broken = StartDarter(0, {"--threads", "2", "--dir", bad.string()});
  CHECK(!broken.status.ok);
  CHECK(broken.status.message.find("cannot load") != std::string::npos);
}

namespace {
std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}
}  // namespace

TEST_CASE("rdbcompression and rdbchecksum shape the file; rdbchecksum no loads a file whose CRC is wrong") {
  std::filesystem::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  REQUIRE(Format(d.Cmd({"SET", "long", std::string(100000, 'a')})) == "+OK");
  REQUIRE(Format(d.Cmd({"SAVE"})) == "+OK");
  const std::string compressed = ReadFile(dir / "dump.rdb");
  CHECK(compressed.size() < 10000);  // LZF
  CHECK(compressed.substr(compressed.size() - 8) != std::string(8, '\0'));

  REQUIRE(Format(d.Cmd({"CONFIG", "SET", "rdbcompression", "no"})) == "+OK");
  REQUIRE(Format(d.Cmd({"CONFIG", "SET", "rdbchecksum", "no"})) == "+OK");
  CHECK(Format(d.Cmd({"CONFIG", "SET", "rdbchecksum", "maybe"})) ==
        "-ERR CONFIG SET failed (possibly related to argument 'rdbchecksum') - argument must be 'yes' or 'no'");
  REQUIRE(Format(d.Cmd({"SAVE"})) == "+OK");
  const std::string plain = ReadFile(dir / "dump.rdb");
  CHECK(plain.size() > 100000);
  CHECK(plain.substr(plain.size() - 8) == std::string(8, '\0'));  // Redis's "no checksum"
  // redis-server loads the unchecked, uncompressed file.
  std::filesystem::path copy_dir = dir / "copy";
  std::filesystem::create_directories(copy_dir);
  std::filesystem::copy_file(dir / "dump.rdb", copy_dir / "dump.rdb");
  {
    auto redis = StartRedis(0, {"--dir", copy_dir.string(), "--dbfilename", "dump.rdb"});
    REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
    Client r(redis.port());
    CHECK(Format(r.Cmd({"STRLEN", "long"})) == ":100000");
  }

  // A file whose CRC is wrong: refused with rdbchecksum yes, loaded with no.
  std::filesystem::path bad = dir / "bad";
  std::filesystem::create_directories(bad);
  std::string corrupt = compressed;
  corrupt[corrupt.size() - 1] ^= 0x5a;
  std::ofstream(bad / "dump.rdb", std::ios::binary) << corrupt;
  auto checked = StartDarter(0, {"--dir", bad.string()});
  CHECK(!checked.status.ok);
  CHECK_MESSAGE(checked.status.message.find("checksum mismatch") != std::string::npos, checked.status.message);
  auto unchecked = StartDarter(0, {"--dir", bad.string(), "--rdbchecksum", "no"});
  REQUIRE_MESSAGE(unchecked.status.ok, unchecked.status.message);
  Client u(unchecked.port());
  CHECK(Format(u.Cmd({"STRLEN", "long"})) == ":100000");
}
