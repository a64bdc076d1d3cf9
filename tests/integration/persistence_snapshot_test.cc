// Fork-less snapshots end to end: BGSAVE under a concurrent writer is point-in-time,
// redis-server loads Darter's file with an identical DEBUG DIGEST, DEBUG DIGEST matches
// redis-server's for the same commands, the save schedule, SHUTDOWN SAVE/NOSAVE, the
// SIGTERM save, and a failed save never replacing the good file.
#include <doctest/doctest.h>

#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

using darter::test::Client;
using darter::test::Format;
using darter::test::Reply;
using darter::test::StartDarter;
using darter::test::StartRedis;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

struct TempDirs {
  std::vector<fs::path> made;
  ~TempDirs() {
    std::error_code ec;
    for (auto& d : made) fs::remove_all(d, ec);
  }
};
TempDirs g_dirs;

fs::path TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "darter-snap-XXXXXX").string();
  REQUIRE(mkdtemp(tmpl.data()) != nullptr);
  g_dirs.made.push_back(tmpl);
  return tmpl;
}

// One field of INFO persistence, or "" when absent.
std::string InfoField(Client& c, const std::string& field) {
  std::string text = c.Cmd({"INFO", "persistence"}).str;
  size_t p = text.find(field + ":");
  if (p == std::string::npos) return "";
  size_t e = text.find("\r\n", p);
  return text.substr(p + field.size() + 1, e - p - field.size() - 1);
}

// Polls `cond` every 20 ms for at most `limit`.
template <typename Cond>
bool WaitFor(Cond cond, std::chrono::milliseconds limit = 10s) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(20ms);
  }
  return cond();
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Every type, TTLs and several databases; deterministic on both servers.
const std::vector<std::vector<std::string>> kScript = {
    {"SET", "s", "hello"},
    {"SET", "n", "12345"},
    {"SET", "long", std::string(100, 'z')},
    {"SET", "ttl", "v", "EX", "5000"},
    {"RPUSH", "l", "a", "b", "c", "1", "2", "3"},
    {"SADD", "st", "x", "y", "z"},
    {"SADD", "si", "1", "2", "3", "-7", "100000"},
    {"HSET", "h", "f1", "v1", "f2", "v2", "n", "42"},
    {"ZADD", "z", "1.5", "a", "0.1", "b", "-2.25", "c", "1e20", "d", "inf", "e", "3", "f"},
    {"XADD", "x", "1-1", "f", "v", "g", "w"},
    {"XADD", "x", "2-5", "f", "v2"},
    {"XGROUP", "CREATE", "x", "grp", "0"},
    {"PFADD", "hll", "a", "b", "c"},
    {"SETBIT", "bits", "77", "1"},
    {"EXPIRE", "h", "3000"},
    {"INCRBYFLOAT", "fl", "0.1"},
    {"SELECT", "2"},
    {"SET", "db2", "x"},
    {"RPUSH", "db2list", "q"},
    {"SELECT", "5"},
    {"HSET", "db5h", "a", "1"},
    {"SELECT", "0"},
};

void RunScript(Client& c) {
  for (auto& cmd : kScript) {
    Reply r = c.Cmd(cmd);
    INFO(cmd[0] << ": " << Format(r));
    REQUIRE(!r.IsError());
  }
  // Big collections (hashtable / skiplist / quicklist encodings on Redis).
  std::vector<std::string> rpush = {"RPUSH", "bl"}, hset = {"HSET", "bh"}, sadd = {"SADD", "bs"}, zadd = {"ZADD", "bz"};
  for (int i = 0; i < 600; ++i) {
    std::string m = "m" + std::to_string(i);
    rpush.push_back(m);
    hset.push_back(m);
    hset.push_back(std::to_string(i));
    sadd.push_back(m);
    zadd.push_back(std::to_string(i / 3.0));
    zadd.push_back(m);
  }
  for (auto* cmd : {&rpush, &hset, &sadd, &zadd}) REQUIRE(!c.Cmd(*cmd).IsError());
}

std::string Digest(Client& c) {
  Reply r = c.Cmd({"DEBUG", "DIGEST"});
  REQUIRE(r.type == Reply::Type::kStatus);
  return r.str;
}

}  // namespace

TEST_CASE("DEBUG DIGEST and DIGEST-VALUE equal redis-server's for the same commands") {
  auto redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  auto darter = StartDarter(0, {"--threads", "3", "--dir", TempDir().string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client r(redis.port()), d(darter.port());
  CHECK(Digest(r) == std::string(40, '0'));
  CHECK(Digest(d) == std::string(40, '0'));
  RunScript(r);
  RunScript(d);
  CHECK(Digest(r) == Digest(d));
  std::vector<std::string> dv = {"DEBUG", "DIGEST-VALUE", "s", "n", "long", "ttl", "l", "st", "si", "h",
                                 "z",     "x",            "hll", "bits", "fl", "bl", "bh", "bs", "bz", "missing"};
  CHECK(Format(r.Cmd(dv)) == Format(d.Cmd(dv)));
  // A change anywhere changes the digest on both.
  for (Client* c : {&r, &d}) REQUIRE(!c->Cmd({"ZADD", "bz", "0.5", "m1"}).IsError());
  CHECK(Digest(r) == Digest(d));
  // DEBUG RELOAD (save, flush, load back) keeps the dataset on both.
  std::string before = Digest(r);
  CHECK(Format(r.Cmd({"DEBUG", "RELOAD"})) == "+OK");
  CHECK(Format(d.Cmd({"DEBUG", "RELOAD"})) == "+OK");
  CHECK(Digest(r) == before);
  CHECK(Digest(d) == before);
}

TEST_CASE("redis-server loads darter's BGSAVE file with an identical DEBUG DIGEST") {
  fs::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "4", "--dir", dir.string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  RunScript(d);
  REQUIRE(Format(d.Cmd({"DEBUG", "POPULATE", "20000"})) == "+OK");
  std::string want = Digest(d);
  CHECK(Format(d.Cmd({"BGSAVE"})) == "+Background saving started");
  REQUIRE(WaitFor([&] { return InfoField(d, "rdb_bgsave_in_progress") == "0"; }));
  CHECK(InfoField(d, "rdb_last_bgsave_status") == "ok");
  CHECK(InfoField(d, "rdb_saves") == "1");

  auto redis = StartRedis(0, {"--dir", dir.string(), "--dbfilename", "dump.rdb"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client r(redis.port());
  CHECK(Digest(r) == want);
  // And darter itself, with another thread count.
  auto again = StartDarter(0, {"--threads", "3", "--dir", dir.string()});
  REQUIRE_MESSAGE(again.status.ok, again.status.message);
  Client d2(again.port());
  CHECK(Digest(d2) == want);
}

TEST_CASE("BGSAVE under a concurrent writer saves one point in time") {
  // The writer's step i: INCR counter (to i), then SET marker:i, then MSET of two keys
  // on different shards to i. In any consistent cut with counter = c, the markers are
  // exactly 1..m with m in {c-1, c}, and pair:a == pair:b.
  fs::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "4", "--dir", dir.string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  REQUIRE(Format(d.Cmd({"DEBUG", "POPULATE", "300000", "bulk", "64"})) == "+OK");

  std::atomic<bool> stop{false};
  std::atomic<long> steps{0};
  std::atomic<bool> writer_ok{true};
  std::thread writer([&] {
    Client w(darter.port()), ttl(darter.port());
    if (!w.ok() || !ttl.ok() || ttl.Cmd({"SELECT", "1"}).IsError()) {
      writer_ok = false;
      return;
    }
    auto deadline = std::chrono::steady_clock::now() + 60s;
    for (long i = 1; !stop.load() && i < 2000000 && std::chrono::steady_clock::now() < deadline; ++i) {
      std::string v = std::to_string(i);
      // One at a time: each command is applied before the next is sent (a pipelined
      // batch may be spread over shards and run in parallel).
      for (const std::vector<std::string>& cmd : std::vector<std::vector<std::string>>{
               {"INCR", "counter"}, {"SET", "marker:" + v, "1"}, {"MSET", "pair:a", v, "pair:b", v}, {"DEL", "bulk:" + v}}) {
        Reply r = w.Cmd(cmd);
        if (r.IsError() || r.type == Reply::Type::kIoError) writer_ok = false;
      }
      // Keys that expire while the snapshot runs (db 1): expiry emits before deleting.
      if (ttl.Cmd({"SET", "tmp:" + v, "x", "PX", "3"}).IsError()) writer_ok = false;
      if (!writer_ok) return;
      steps = i;
    }
  });
  REQUIRE(WaitFor([&] { return steps.load() >= 50; }));
  long before = steps.load();
  CHECK(Format(d.Cmd({"BGSAVE"})) == "+Background saving started");
  CHECK(Format(d.Cmd({"BGSAVE"})) == "-ERR Background save already in progress");
  bool finished = WaitFor([&] { return InfoField(d, "rdb_bgsave_in_progress") == "0"; }, 60s);
  long after = steps.load();
  stop = true;
  writer.join();
  REQUIRE(finished);
  REQUIRE(writer_ok.load());
  CHECK(InfoField(d, "rdb_last_bgsave_status") == "ok");
  MESSAGE("writer steps before BGSAVE: " << before << ", when it finished: " << after);

  auto loaded = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
  REQUIRE_MESSAGE(loaded.status.ok, loaded.status.message);
  Client l(loaded.port());
  long c = std::stol(l.Cmd({"GET", "counter"}).str);
  CHECK(c >= before);
  long markers = l.Cmd({"KEYS", "marker:*"}).elements.size();
  CHECK((markers == c || markers == c - 1));
  for (long i = 1; i <= markers; i += std::max(1L, markers / 200))
    CHECK(l.Cmd({"EXISTS", "marker:" + std::to_string(i)}).integer == 1);
  CHECK(l.Cmd({"EXISTS", "marker:" + std::to_string(markers + 1)}).integer == 0);
  CHECK(Format(l.Cmd({"GET", "pair:a"})) == Format(l.Cmd({"GET", "pair:b"})));
  // The DELs of bulk:i follow the same cut: bulk:1..m' gone, the rest present.
  long bulk = l.Cmd({"DBSIZE"}).integer;
  long pairs = l.Cmd({"EXISTS", "pair:a", "pair:b"}).integer;
  long deleted = 300000 - (bulk - 1 - markers - pairs);
  CHECK((deleted == markers || deleted == markers - 1 || deleted == markers + 1));
}

TEST_CASE("The save schedule triggers a background save after enough changes") {
  fs::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string(), "--save", "1 3"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  CHECK(Format(d.Cmd({"CONFIG", "GET", "save"})) == "[\"save\", \"1 3\"]");
  REQUIRE(!d.Cmd({"MSET", "a", "1", "b", "2", "c", "3"}).IsError());
  CHECK(InfoField(d, "rdb_changes_since_last_save") == "3");
  CHECK(WaitFor([&] { return InfoField(d, "rdb_saves") == "1"; }, 15s));
  CHECK(WaitFor([&] { return InfoField(d, "rdb_changes_since_last_save") == "0"; }));
  CHECK(fs::exists(dir / "dump.rdb"));
  // CONFIG SET save: validation as Redis, and "" turns the schedule off.
  CHECK(Format(d.Cmd({"CONFIG", "SET", "save", "100"})).find("Invalid save parameters") != std::string::npos);
  CHECK(Format(d.Cmd({"CONFIG", "SET", "save", ""})) == "+OK");
  CHECK(Format(d.Cmd({"CONFIG", "GET", "save"})) == "[\"save\", \"\"]");
}

TEST_CASE("SHUTDOWN SAVE, SHUTDOWN NOSAVE and SIGTERM with a schedule") {
  SUBCASE("SHUTDOWN NOSAVE writes nothing") {
    fs::path dir = TempDir();
    auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string(), "--save", "3600 1"});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    Client d(darter.port());
    REQUIRE(!d.Cmd({"SET", "k", "v"}).IsError());
    d.Cmd({"SHUTDOWN", "NOSAVE"});
    CHECK(WaitFor([&] { return !darter.process->Running(); }));
    CHECK(!fs::exists(dir / "dump.rdb"));
  }
  SUBCASE("SHUTDOWN SAVE without a schedule saves; the restart loads it") {
    fs::path dir = TempDir();
    auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    Client d(darter.port());
    REQUIRE(!d.Cmd({"SET", "k", "saved"}).IsError());
    REQUIRE(Format(d.Cmd({"DEBUG", "POPULATE", "200000"})) == "+OK");
    // A running BGSAVE does not make SHUTDOWN SAVE fail: it waits, then saves.
    CHECK(Format(d.Cmd({"BGSAVE"})) == "+Background saving started");
    d.Cmd({"SHUTDOWN", "SAVE"});
    CHECK(WaitFor([&] { return !darter.process->Running(); }));
    REQUIRE(fs::exists(dir / "dump.rdb"));
    auto again = StartDarter(0, {"--threads", "3", "--dir", dir.string()});
    REQUIRE_MESSAGE(again.status.ok, again.status.message);
    Client d2(again.port());
    CHECK(Format(d2.Cmd({"GET", "k"})) == "\"saved\"");
    CHECK(d2.Cmd({"DBSIZE"}).integer == 200001);
  }
  SUBCASE("SIGTERM saves when a schedule is set") {
    fs::path dir = TempDir();
    auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string(), "--save", "3600 1"});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    {
      Client d(darter.port());
      REQUIRE(!d.Cmd({"SET", "k", "on-sigterm"}).IsError());
    }
    CHECK(darter.process->Stop() == 0);
    REQUIRE(fs::exists(dir / "dump.rdb"));
    auto again = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
    REQUIRE_MESSAGE(again.status.ok, again.status.message);
    Client d2(again.port());
    CHECK(Format(d2.Cmd({"GET", "k"})) == "\"on-sigterm\"");
  }
  SUBCASE("SIGTERM whose save fails keeps the server running, as Redis does") {
    fs::path dir = TempDir();
    auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string(), "--save", "3600 1"});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    Client d(darter.port());
    REQUIRE(!d.Cmd({"SET", "k", "unsaved"}).IsError());
    // The temp file names are temp-<pid>-<n>.rdb: occupied by directories, saves fail.
    for (int n = 1; n <= 20; ++n)
      fs::create_directories(dir / ("temp-" + std::to_string(darter.process->pid()) + "-" + std::to_string(n) + ".rdb"));
    REQUIRE(::kill(darter.process->pid(), SIGTERM) == 0);
    CHECK(WaitFor([&] { return darter.process->LogTail().find("can't exit") != std::string::npos; }));
    CHECK(darter.process->Running());
    CHECK(Format(d.Cmd({"GET", "k"})) == "\"unsaved\"");
    // Once saves work again, SIGTERM saves and exits.
    for (int n = 1; n <= 20; ++n)
      fs::remove(dir / ("temp-" + std::to_string(darter.process->pid()) + "-" + std::to_string(n) + ".rdb"));
    REQUIRE(::kill(darter.process->pid(), SIGTERM) == 0);
    CHECK(WaitFor([&] { return !darter.process->Running(); }));
    CHECK(fs::exists(dir / "dump.rdb"));
  }
  SUBCASE("SHUTDOWN's flags: Redis's syntax errors; FORCE exits even when the save fails") {
    fs::path dir = TempDir();
    auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string(), "--save", "3600 1"});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    Client d(darter.port());
    REQUIRE(!d.Cmd({"SET", "k", "v"}).IsError());
    CHECK(Format(d.Cmd({"SHUTDOWN", "SAVE", "NOSAVE"})) == "-ERR syntax error");
    CHECK(Format(d.Cmd({"SHUTDOWN", "ABORT", "NOW"})) == "-ERR syntax error");
    CHECK(Format(d.Cmd({"SHUTDOWN", "LATER"})) == "-ERR syntax error");
    CHECK(Format(d.Cmd({"SHUTDOWN", "ABORT"})) == "-ERR No shutdown in progress.");
    for (int n = 1; n <= 20; ++n)
      fs::create_directories(dir / ("temp-" + std::to_string(darter.process->pid()) + "-" + std::to_string(n) + ".rdb"));
    CHECK(Format(d.Cmd({"SHUTDOWN", "NOW"})) == "-ERR Errors trying to SHUTDOWN. Check logs.");
    CHECK(darter.process->Running());
    d.Cmd({"SHUTDOWN", "NOW", "FORCE"});
    CHECK(WaitFor([&] { return !darter.process->Running(); }));
    CHECK(!fs::exists(dir / "dump.rdb"));
  }
  SUBCASE("SIGTERM without a schedule does not save") {
    fs::path dir = TempDir();
    auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    {
      Client d(darter.port());
      REQUIRE(!d.Cmd({"SET", "k", "v"}).IsError());
    }
    darter.process->Stop();
    CHECK(!fs::exists(dir / "dump.rdb"));
  }
}

TEST_CASE("A failed save leaves the previous file in place") {
  fs::path dir = TempDir();
  auto darter = StartDarter(0, {"--threads", "2", "--dir", dir.string()});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  REQUIRE(!d.Cmd({"SET", "k", "good"}).IsError());
  REQUIRE(Format(d.Cmd({"SAVE"})) == "+OK");
  std::string good = ReadFile(dir / "dump.rdb");
  REQUIRE(!good.empty());
  REQUIRE(!d.Cmd({"SET", "k", "newer"}).IsError());
  // The temp file names are temp-<pid>-<n>.rdb in --dir: occupy the next ones with
  // directories, so opening the temp file fails (root ignores permission bits).
  for (int n = 1; n <= 20; ++n)
    fs::create_directories(dir / ("temp-" + std::to_string(darter.process->pid()) + "-" + std::to_string(n) + ".rdb"));
  CHECK(Format(d.Cmd({"SAVE"})) == "-ERR");
  CHECK(InfoField(d, "rdb_last_bgsave_status") == "err");
  CHECK(Format(d.Cmd({"BGSAVE"})) == "+Background saving started");
  CHECK(WaitFor([&] { return InfoField(d, "rdb_bgsave_in_progress") == "0"; }));
  CHECK(InfoField(d, "rdb_last_bgsave_status") == "err");
  CHECK(ReadFile(dir / "dump.rdb") == good);
  CHECK(InfoField(d, "rdb_saves") == "3");  // as Redis, attempts count
  CHECK(InfoField(d, "rdb_changes_since_last_save") == "1");
}

TEST_CASE("darter loads redis-server's dump.rdb with an identical DEBUG DIGEST") {
  auto redis = StartRedis();
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client r(redis.port());
  RunScript(r);
  REQUIRE(Format(r.Cmd({"DEBUG", "POPULATE", "5000"})) == "+OK");
  REQUIRE(Format(r.Cmd({"SAVE"})) == "+OK");
  std::string want = Digest(r);
  Reply dir = r.Cmd({"CONFIG", "GET", "dir"});
  REQUIRE(dir.elements.size() == 2);
  auto darter = StartDarter(0, {"--threads", "3", "--dir", dir.elements[1].str});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  CHECK(Digest(d) == want);
}
