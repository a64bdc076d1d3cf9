// darter-migrate end to end against Debian's redis-server: one-shot into the embedded
// Darter with --verify and --json (the report parsed), a cutover into a running
// darter-server under write load, the clear failures (unreachable source, wrong
// password), and what the tool must not do to a target or claim without checking:
// wiping a non-empty target, leaving it a silent read-only replica, stale replica
// errors, verifications that checked nothing or turned NOPERM into differences,
// and sources it can never sync from (PSYNC renamed, module types, newer RDBs).
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cctype>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "migrate_test_support.h"
#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace darter::test::migrate;
using namespace std::chrono_literals;


TEST_CASE("darter-migrate one-shot with --verify --json: every available type, zero differences, snapshot saved") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  // Which families this build has: ask a throw-away darter-server.
  Families f;
  {
    StartedServer probe = StartDarter(0, {"--threads", "1"});
    REQUIRE_MESSAGE(probe.status.ok, probe.status.message);
    Client pc(probe.port());
    f = DetectFamilies(pc);
    CHECK_MESSAGE(AllFamilies(f), f.Describe());
  }
  std::cout << "[migrate] data families on darter: " << f.Describe() << " (- : not registered yet, skipped)" << std::endl;
  Client src(redis.port());
  for (int db : {0, 2, 5}) FillDb(src, f, db, 500);
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "5000", "pop", "8"})) == "+OK");

  auto dir = redis.process->dir() / "migrated";
  RunResult r = RunMigrate({"--source", "redis://127.0.0.1:" + std::to_string(redis.port()), "--port", "0",
                            "--threads", "2", "--dir", dir.string(), "--verify", "--json"});
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE_MESSAGE(ok, "report is not JSON: " << r.out);
  CHECK(j["exit_code"].n == 0);
  CHECK(j["mode"].s == "one-shot");
  CHECK(j["in_sync"].b);
  CHECK(j["full_syncs"].n == 1);
  long long keys = 0;
  for (int db : {0, 2, 5}) {
    src.Cmd({"SELECT", std::to_string(db)});
    keys += src.Cmd({"DBSIZE"}).integer;
  }
  CHECK(j["keys_loaded"].n == static_cast<double>(keys));
  CHECK(j["verify"]["ran"].b);
  CHECK(j["verify"]["mismatches"].n == 0);
  CHECK(j["verify"]["keys_checked"].n == static_cast<double>(keys));
  CHECK(j["verify"]["source_counts"]["2"]["string"].n == j["verify"]["target_counts"]["2"]["string"].n);
  // The snapshot exists and darter-server starts from it with the same keys.
  std::string snap = j["snapshot_path"].s;
  CHECK_MESSAGE(std::filesystem::exists(snap), "snapshot " << snap << " missing: " << j["snapshot_error"].s);
  if (std::filesystem::exists(snap)) {
    StartedServer loaded = StartDarter(0, {"--dir", dir.string(), "--dbfilename", std::filesystem::path(snap).filename().string()});
    REQUIRE_MESSAGE(loaded.status.ok, loaded.status.message);
    Client lc(loaded.port());
    REQUIRE(WaitFor([&] { return Format(lc.Cmd({"PING"})) == "+PONG"; }, 20s));
    auto diffs = CompareServers(src, lc, {0, 2, 5});
    std::string all;
    for (auto& d : diffs) all += d + "\n";
    CHECK_MESSAGE(diffs.empty(), all);
  }
}

TEST_CASE("darter-migrate --target --cutover under write load: offsets equal, target is a primary, no write lost") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  Families f = DetectFamilies(dst);
  CHECK_MESSAGE(AllFamilies(f), f.Describe());
  FillDb(src, f, 0, 300);
  BackgroundWriter writer(redis.port(), "m", f, 1000000, 60s);
  REQUIRE(WaitFor([&] { return writer.acked() > 100; }, 10s));
  RunResult r = RunMigrate({"--source", "redis://127.0.0.1:" + std::to_string(redis.port()), "--target",
                            "127.0.0.1:" + std::to_string(darter.port()), "--cutover", "--json", "--no-save"});
  long long acked_at_exit = writer.acked();
  writer.Stop();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["cutover"]["ok"].b);
  CHECK(j["cutover"]["source_offset"].n == j["cutover"]["target_offset"].n);
  CHECK(j["cutover"]["source_offset_after"].n == j["cutover"]["source_offset"].n);
  CHECK(InfoStr(dst, "replication", "role") == "master");
  // The target holds a gap-free prefix of the writer's sequence: nothing acknowledged
  // before the pause is missing, and it stopped at the cut.
  long long present = 0, first_missing = -1;
  for (long long i = 0; i <= acked_at_exit; ++i) {
    dst.Cmd({"SELECT", std::to_string(i % 3)});
    bool has = dst.Cmd({"EXISTS", "m:seq:" + std::to_string(i)}).integer == 1;
    if (has) {
      present++;
      CHECK_MESSAGE(first_missing < 0, "write " << i << " is on the target but " << first_missing << " is not");
      if (first_missing >= 0) break;
    } else if (first_missing < 0) first_missing = i;
  }
  CHECK(present > 100);
  std::cout << "[migrate] cutover: the target has writes 0.." << present - 1 << " of " << acked_at_exit + 1 << std::endl;
}

TEST_CASE("darter-migrate: unreachable source and wrong password fail clearly") {
  int port = FreePort();
  RunResult r = RunMigrate({"--source", "redis://127.0.0.1:" + std::to_string(port), "--port", "0", "--dir",
                            (std::filesystem::temp_directory_path() / "dm-unreach").string()});
  CHECK(r.exit_code == 3);
  CHECK_MESSAGE(r.out.find("cannot connect to source 127.0.0.1:" + std::to_string(port)) != std::string::npos, r.out);

  StartedServer redis = StartRedis(0, {"--requirepass", "right"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  r = RunMigrate({"--source", "redis://:wrong@127.0.0.1:" + std::to_string(redis.port()), "--port", "0", "--json", "--dir",
                  (std::filesystem::temp_directory_path() / "dm-auth").string()});
  CHECK(r.exit_code == 3);
  CHECK_MESSAGE(r.out.find("refused AUTH") != std::string::npos, r.out);
  r = RunMigrate({"--source", "redis://127.0.0.1:" + std::to_string(redis.port()), "--port", "0", "--dir",
                  (std::filesystem::temp_directory_path() / "dm-noauth").string()});
  CHECK(r.exit_code == 3);
  CHECK_MESSAGE(r.out.find("NOAUTH") != std::string::npos, r.out);
  r = RunMigrate({"--source", "redis://:right@127.0.0.1:" + std::to_string(redis.port()), "--port", "0", "--dir",
                  (std::filesystem::temp_directory_path() / "dm-ok").string()});
  CHECK_MESSAGE(r.exit_code == 0, r.out << r.err);
  r = RunMigrate({"--bogus"});
  CHECK(r.exit_code == 2);
}

namespace {

std::string SourceUri(int port, const std::string& auth = "") {
  return "redis://" + (auth.empty() ? "" : auth + "@") + "127.0.0.1:" + std::to_string(port);
}

std::string TargetAddr(int port) { return "127.0.0.1:" + std::to_string(port); }

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Waits until `text()` contains `needle`.
bool WaitForText(const std::function<std::string()>& text, const std::string& needle, std::chrono::milliseconds timeout) {
  return WaitFor([&] { return Contains(text(), needle); }, timeout);
}

}  // namespace

TEST_CASE("darter-migrate refuses a --target that holds keys unless --flush-target is given") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"SET", "from-source", "1"})) == "+OK");
  REQUIRE(Format(dst.Cmd({"SET", "precious", "yes"})) == "+OK");
  dst.Cmd({"SELECT", "3"});
  REQUIRE(Format(dst.Cmd({"SET", "other", "1"})) == "+OK");
  dst.Cmd({"SELECT", "0"});

  RunResult r = RunMigrate({"--source", SourceUri(redis.port()), "--target", TargetAddr(darter.port()), "--no-save"}, 30s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 7);
  CHECK(Contains(r.out, "already holds 2 keys (db0=1 db3=1)"));
  CHECK(Contains(r.out, "--flush-target"));
  // Untouched: still a primary with its keys.
  CHECK(Format(dst.Cmd({"GET", "precious"})) == "\"yes\"");
  CHECK(InfoStr(dst, "replication", "role") == "master");

  r = RunMigrate({"--source", SourceUri(redis.port()), "--target", TargetAddr(darter.port()), "--flush-target",
                  "--detach", "--no-save", "--json"}, 60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK(Format(dst.Cmd({"GET", "precious"})) == "(nil)");
  CHECK(Format(dst.Cmd({"GET", "from-source"})) == "\"1\"");
}

TEST_CASE("darter-migrate --target one-shot: real key count, says the target is left a read-only replica; --detach") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "5000", "k", "16"})) == "+OK");
  src.Cmd({"SELECT", "4"});
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "207", "d4", "16"})) == "+OK");
  src.Cmd({"SELECT", "0"});

  RunResult r = RunMigrate({"--source", SourceUri(redis.port()), "--target", TargetAddr(darter.port()), "--json",
                            "--no-save"}, 60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["keys_loaded"].n == 5207);
  CHECK(j["target_is_replica"].b);
  CHECK(Contains(j["target_state"].s, "still a replica of 127.0.0.1:" + std::to_string(redis.port())));
  CHECK(Contains(j["target_state"].s, "--detach"));
  CHECK(InfoStr(dst, "replication", "role") == "slave");
  CHECK(Contains(Format(dst.Cmd({"SET", "x", "1"})), "READONLY"));

  // The same in text form.
  r = RunMigrate({"--source", SourceUri(redis.port()), "--target", TargetAddr(darter.port()), "--no-save"}, 60s);
  CHECK(r.exit_code == 0);
  CHECK_MESSAGE(Contains(r.out, "target state:  still a replica of"), r.out);

  // Following, stopped with SIGTERM: with --detach the target ends a writable primary.
  MigrateProcess p({"--source", SourceUri(redis.port()), "--target", TargetAddr(darter.port()), "--follow", "--detach",
                    "--json", "--no-save", "--verify-every", "off"});
  REQUIRE_MESSAGE(WaitForText([&] { return p.err(); }, "following the source", 30s), p.err());
  p.Signal(SIGTERM);
  r = p.Wait(30s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["detached"].b);
  CHECK_FALSE(j["target_is_replica"].b);
  CHECK(Contains(j["target_state"].s, "primary"));
  CHECK(InfoStr(dst, "replication", "role") == "master");
  CHECK(Format(dst.Cmd({"SET", "x", "1"})) == "+OK");
}

TEST_CASE("darter-migrate ignores a replica error left on the target by an earlier REPLICAOF") {
  StartedServer redis = StartRedis(0, {"--requirepass", "pw", "--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"AUTH", "pw"})) == "+OK");
  REQUIRE(Format(src.Cmd({"SET", "k", "v"})) == "+OK");
  // An earlier attempt with a wrong password leaves master_last_error behind.
  REQUIRE(Format(dst.Cmd({"CONFIG", "SET", "masterauth", "wrong"})) == "+OK");
  REQUIRE(Format(dst.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis.port())})) == "+OK");
  REQUIRE(WaitFor([&] { return Contains(InfoStr(dst, "replication", "master_last_error"), "AUTH"); }, 10s));
  REQUIRE(Format(dst.Cmd({"REPLICAOF", "NO", "ONE"})) == "+OK");

  RunResult r = RunMigrate({"--source", SourceUri(redis.port(), ":pw"), "--target", TargetAddr(darter.port()),
                            "--json", "--no-save", "--detach"}, 60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(Contains(r.err, "AUTH refused"));
  CHECK(Format(dst.Cmd({"GET", "k"})) == "\"v\"");
}

TEST_CASE("darter-migrate --verify with a source user lacking RANDOMKEY, LLEN, HLEN: NOPERM, not differences") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client src(redis.port());
  std::vector<std::vector<std::string>> fill;
  for (int i = 0; i < 200; ++i) {
    std::string n = std::to_string(i);
    fill.push_back({"SET", "s:" + n, n});
    fill.push_back({"RPUSH", "l:" + n, "a", n});
    fill.push_back({"HSET", "h:" + n, "f", n});
  }
  src.Pipeline(fill);
  REQUIRE(Format(src.Cmd({"ACL", "SETUSER", "norandom", "on", ">pw", "~*", "&*", "+@all", "-randomkey"})) == "+OK");
  REQUIRE(Format(src.Cmd({"ACL", "SETUSER", "nolen", "on", ">pw", "~*", "&*", "+@all", "-llen", "-hlen"})) == "+OK");
  auto dir = redis.process->dir();

  RunResult r = RunMigrate({"--source", SourceUri(redis.port(), "norandom:pw"), "--port", "0", "--dir",
                            (dir / "a").string(), "--verify-sample", "50", "--json", "--no-save"}, 60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(Contains(j["verify"]["error"].s, "NOPERM"));
  CHECK(Contains(j["verify"]["error"].s, "RANDOMKEY"));
  CHECK(j["verify"]["mismatches"].n == 0);
  CHECK(Contains(j["error"].s, "verification failed"));

  r = RunMigrate({"--source", SourceUri(redis.port(), "nolen:pw"), "--port", "0", "--dir", (dir / "b").string(),
                  "--verify", "--json", "--no-save"}, 60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(Contains(j["verify"]["error"].s, "NOPERM"));
  CHECK((Contains(j["verify"]["error"].s, "LLEN") || Contains(j["verify"]["error"].s, "HLEN")));
  CHECK(j["verify"]["mismatches"].n == 0);
  CHECK(j["verify"]["first_mismatches"].items.empty());
}

TEST_CASE("darter-migrate --follow re-checks a sample every --verify-every and shows each difference once") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  std::vector<std::vector<std::string>> fill;
  for (int i = 0; i < 40; ++i) fill.push_back({"SET", "s:" + std::to_string(i), std::to_string(i)});
  src.Pipeline(fill);

  MigrateProcess p({"--source", SourceUri(redis.port()), "--target", TargetAddr(darter.port()), "--follow", "--json",
                    "--no-save", "--verify-every", "1s", "--verify-every-sample", "1000"});
  REQUIRE_MESSAGE(WaitForText([&] { return p.err(); }, "following the source", 30s), p.err());
  // The replica accepts writes from clients only when told to: a stand-in for a copy gone wrong.
  REQUIRE(Format(dst.Cmd({"CONFIG", "SET", "replica-read-only", "no"})) == "+OK");
  REQUIRE(Format(dst.Cmd({"SET", "s:7", "tampered"})) == "+OK");
  REQUIRE(Format(dst.Cmd({"SET", "s:8", "tampered"})) == "+OK");
  CHECK_MESSAGE(WaitForText([&] { return p.err(); }, "'s:8'", 20s), p.err());
  CHECK(Contains(p.err(), "sample check: 2 difference(s)"));
  p.Signal(SIGTERM);
  RunResult r = p.Wait(30s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 1);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["follow_checks"]["runs"].n >= 1);
  CHECK(j["follow_checks"]["mismatches"].n >= 2);
  std::map<std::string, int> seen;
  for (auto& m : j["follow_checks"]["first_mismatches"].items) seen[m["key"].s]++;
  CHECK(seen["s:7"] >= 1);
  CHECK(seen["s:8"] >= 1);
  // Each run lists a difference once.
  size_t pos = r.err.find("sample check: 2 difference(s)");
  REQUIRE(pos != std::string::npos);
  std::string first_run = r.err.substr(pos, r.err.find("sample check", pos + 10) - pos);
  size_t count7 = 0;
  for (size_t at = first_run.find("'s:7'"); at != std::string::npos; at = first_run.find("'s:7'", at + 1)) count7++;
  CHECK(count7 == 1);
}

namespace {

// An RDB transfer as a primary sends it: "$<len>\r\n" + bytes.
std::string Transfer(const std::string& rdb) { return "$" + std::to_string(rdb.size()) + "\r\n" + rdb; }

std::string TrailerEof() { return std::string("\xff", 1) + std::string(8, '\0'); }

}  // namespace

TEST_CASE("darter-migrate fails fast, saying why, on a source it can never sync from") {
  auto dir = std::filesystem::temp_directory_path() / ("dm-fast-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);

  SUBCASE("PSYNC and SYNC renamed away, as on managed services") {
    std::ofstream(dir / "redis.conf") << "rename-command PSYNC \"\"\nrename-command SYNC \"\"\n";
    int port = FreePort();
    ServerProcess redis(RedisServerBinary(),
                        {(dir / "redis.conf").string(), "--port", std::to_string(port), "--bind", "127.0.0.1", "--save",
                         "", "--appendonly", "no", "--dir", dir.string()},
                        port);
    Status st = redis.WaitUntilReady();
    REQUIRE_MESSAGE(st.ok, st.message);
    Client c(port);
    REQUIRE(Format(c.Cmd({"SET", "k", "v"})) == "+OK");
    RunResult r = RunMigrate({"--source", SourceUri(port), "--port", "0", "--dir", (dir / "t1").string()}, 60s);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.seconds < 10);
    CHECK(Contains(r.out, "source refuses PSYNC and SYNC (renamed or disabled, as on managed services)"));
    CHECK(Contains(r.out, "--rdb"));
  }
  SUBCASE("a module type in the RDB") {
    std::string rdb = "REDIS0009";
    rdb += std::string("\xfe\x00", 2);                       // SELECTDB 0
    rdb += std::string("\x07\x01k", 3);                      // module value, key "k"
    rdb += std::string("\x81", 1) + std::string("\x12\x34\x56\x78\x9a\xbc\xde\x01", 8);  // 64-bit module id
    rdb += TrailerEof();
    ScriptedPrimary primary(Transfer(rdb));
    RunResult r = RunMigrate({"--source", SourceUri(primary.port()), "--port", "0", "--dir", (dir / "t2").string()}, 60s);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.seconds < 10);
    CHECK(Contains(r.out, "the source holds a module data type, which Darter cannot load"));
  }
  SUBCASE("an RDB version newer than this build reads") {
    ScriptedPrimary primary(Transfer("REDIS0099" + TrailerEof()));
    RunResult r = RunMigrate({"--source", SourceUri(primary.port()), "--port", "0", "--dir", (dir / "t3").string()}, 60s);
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    CHECK(r.exit_code == 4);
    CHECK(r.seconds < 10);
    CHECK(Contains(r.out, "the source's RDB format is newer than this build of Darter reads"));
    CHECK(Contains(r.out, "unsupported RDB version 99"));
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}
