// darter-migrate over TLS: certificates made with the openssl CLI at test time (a CA,
// a server certificate for 127.0.0.1, a client certificate, an unrelated CA), and a
// redis-server serving TLS on a second port. Covered: RedisConn over TLS (PING, INFO,
// pipelines, client certificates, names checked), the refusals (wrong CA, wrong name,
// plain vs TLS ports, contradictory flags) that must change nothing, --tls-insecure
// said in the report, a cutover the source could not complete over its TLS link,
// and full migrations over TLS (into the embedded server and into a running
// darter-server), which need darter-server's TLS replica link.
#include <doctest/doctest.h>
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "migrate/cutover.h"
#include "migrate/redis_conn.h"
#include "migrate/target.h"
#include "migrate_test_support.h"
#include "replication_support.h"
#include "support/server_health.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace darter::test::migrate;
using namespace std::chrono_literals;
namespace dm = darter::migrate;
namespace fs = std::filesystem;

namespace {

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// Runs a shell command; true on exit status 0.
bool Sh(const std::string& cmd) { return std::system((cmd + " >/dev/null 2>&1").c_str()) == 0; }

// A throw-away PKI: ca.crt signs server.crt (SAN IP:127.0.0.1, DNS:localhost) and
// client.crt; other-ca.crt signs nothing here.
class Pki {
 public:
  Pki() {
    static int seq = 0;
    dir_ = fs::temp_directory_path() / ("darter-tls-" + std::to_string(getpid()) + "-" + std::to_string(seq++));
    fs::create_directories(dir_);
    const std::string d = dir_.string();
    const std::string key = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    ok_ = Sh("openssl req -x509" + key + " -keyout " + d + "/ca.key -out " + d + "/ca.crt -days 2 -subj /CN=darter-test-ca") &&
          Sh("openssl req -x509" + key + " -keyout " + d + "/other-ca.key -out " + d +
             "/other-ca.crt -days 2 -subj /CN=unrelated-ca") &&
          Sign("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth") &&
          Sign("client", "extendedKeyUsage=clientAuth");
  }
  ~Pki() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  bool ok() const { return ok_; }
  std::string operator()(const std::string& file) const { return (dir_ / file).string(); }

 private:
  bool Sign(const std::string& name, const std::string& ext) {
    const std::string d = dir_.string();
    std::ofstream(dir_ / (name + ".ext")) << ext << "\n";
    return Sh("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + d + "/" + name +
              ".key -out " + d + "/" + name + ".csr -subj /CN=" + name) &&
           Sh("openssl x509 -req -in " + d + "/" + name + ".csr -CA " + d + "/ca.crt -CAkey " + d +
              "/ca.key -CAcreateserial -days 2 -out " + d + "/" + name + ".crt -extfile " + d + "/" + name + ".ext");
  }
  fs::path dir_;
  bool ok_ = false;
};

// redis-server with its plain port (for the test's own client) and a TLS port.
struct TlsRedis {
  StartedServer server;
  int tls_port = 0;
};

TlsRedis StartTlsRedis(const Pki& pki, const std::string& auth_clients = "optional",
                       std::vector<std::string> extra = {}) {
  TlsRedis r;
  for (int attempt = 0; attempt < 5 && !r.server.process; ++attempt) {
    r.tls_port = FreePort();
    std::vector<std::string> args = {"--tls-port", std::to_string(r.tls_port), "--tls-cert-file", pki("server.crt"),
                                     "--tls-key-file", pki("server.key"), "--tls-ca-cert-file", pki("ca.crt"),
                                     "--tls-auth-clients", auth_clients, "--tls-replication", "yes",
                                     "--repl-diskless-sync-delay", "0"};
    args.insert(args.end(), extra.begin(), extra.end());
    r.server = StartRedis(0, args);
  }
  return r;
}

dm::TlsSettings Verified(const Pki& pki) {
  dm::TlsSettings t;
  t.enabled = true;
  t.ca_cert_file = pki("ca.crt");
  return t;
}

std::string Rediss(int port) { return "rediss://127.0.0.1:" + std::to_string(port); }

// The target is untouched: a primary, no keys, no replica link attempted.
void CheckUntouched(Client& dst) {
  CHECK(InfoStr(dst, "replication", "role") == "master");
  CHECK(dst.Cmd({"DBSIZE"}).integer == 0);
}

}  // namespace

TEST_CASE("RedisConn over TLS: PING, INFO, pipelines and large values on redis-server's TLS port") {
  signal(SIGPIPE, SIG_IGN);
  Pki pki;
  REQUIRE_MESSAGE(pki.ok(), "openssl could not make the test certificates");
  TlsRedis redis = StartTlsRedis(pki);
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);

  dm::RedisConn c;
  auto err = c.Connect("source 127.0.0.1:" + std::to_string(redis.tls_port), "127.0.0.1", redis.tls_port, "", "",
                       Verified(pki));
  REQUIRE_MESSAGE(!err, *err);
  CHECK(c.tls());
  CHECK(dm::ReplyText(c.Cmd({"PING"}).get()) == "PONG");
  auto info = c.Info("server");
  CHECK(dm::InfoStr(info, "tcp_port") == std::to_string(redis.server.port()));
  // A pipeline far larger than a socket buffer both ways: written while replies are read.
  std::vector<std::vector<std::string>> cmds;
  const std::string big(300000, 'v');
  for (int i = 0; i < 20000; ++i) cmds.push_back({"SET", "k" + std::to_string(i), i % 1000 == 0 ? big : "x"});
  auto replies = c.Pipeline(cmds);
  REQUIRE_MESSAGE(replies.size() == cmds.size(), c.error());
  for (auto& r : replies) CHECK_MESSAGE(dm::ReplyText(r.get()) == "OK", dm::ReplyText(r.get()));
  std::vector<std::vector<std::string>> gets;
  for (int i = 0; i < 20000; i += 1000) gets.push_back({"GET", "k" + std::to_string(i)});
  replies = c.Pipeline(gets);
  REQUIRE(replies.size() == gets.size());
  for (auto& r : replies) CHECK(dm::ReplyText(r.get()) == big);
  CHECK(!c.LocalAddress().empty());
  // The same data seen through the plain port: one server, two transports.
  Client plain(redis.server.port());
  CHECK(plain.Cmd({"DBSIZE"}).integer == 20000);

  // The name is checked: the certificate names 127.0.0.1 and localhost, not this.
  dm::TlsSettings wrong_name = Verified(pki);
  wrong_name.sni = "db.example.com";
  dm::RedisConn n;
  err = n.Connect("source 127.0.0.1:" + std::to_string(redis.tls_port), "127.0.0.1", redis.tls_port, "", "", wrong_name);
  REQUIRE(err);
  CHECK_MESSAGE(Contains(*err, "TLS certificate verify failed: hostname mismatch"), *err);
  // The same name with --tls-insecure connects (nothing is checked).
  wrong_name.insecure = true;
  err = n.Connect("source", "127.0.0.1", redis.tls_port, "", "", wrong_name);
  CHECK_MESSAGE(!err, *err);

  // An unrelated CA, and the system store (which does not hold the test CA).
  dm::TlsSettings other = Verified(pki);
  other.ca_cert_file = pki("other-ca.crt");
  dm::RedisConn o;
  err = o.Connect("source 127.0.0.1:" + std::to_string(redis.tls_port), "127.0.0.1", redis.tls_port, "", "", other);
  REQUIRE(err);
  CHECK_MESSAGE(Contains(*err, "source 127.0.0.1:" + std::to_string(redis.tls_port) + ": TLS certificate verify failed:"),
                *err);
  CHECK_MESSAGE(Contains(*err, "--tls-ca-cert"), *err);
  dm::TlsSettings system;
  system.enabled = true;
  err = o.Connect("source", "127.0.0.1", redis.tls_port, "", "", system);
  REQUIRE(err);
  CHECK_MESSAGE(Contains(*err, "TLS certificate verify failed"), *err);

  // Plain to the TLS port, and TLS to the plain port: both fail and say why.
  dm::RedisConn p;
  err = p.Connect("source", "127.0.0.1", redis.tls_port, "", "", dm::TlsSettings(), 2s);
  REQUIRE(err);
  CHECK_MESSAGE(Contains(*err, "rediss://"), *err);
  err = p.Connect("source", "127.0.0.1", redis.server.port(), "", "", Verified(pki), 2s);
  REQUIRE(err);
  CHECK_MESSAGE(Contains(*err, "TLS handshake"), *err);

  HealthReport h = CheckServerHealthy(*redis.server.process, 512ull << 20);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("RedisConn over TLS presents the client certificate a server requires") {
  signal(SIGPIPE, SIG_IGN);
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki, "yes");
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  dm::RedisConn without;
  auto err = without.Connect("source", "127.0.0.1", redis.tls_port, "", "", Verified(pki), 3s);
  REQUIRE(err);  // TLS 1.3 reports the refusal at the first read, TLS 1.2 in the handshake
  CHECK_MESSAGE(Contains(*err, "client certificate"), *err);
  dm::TlsSettings with = Verified(pki);
  with.cert_file = pki("client.crt");
  with.key_file = pki("client.key");
  dm::RedisConn c;
  err = c.Connect("source", "127.0.0.1", redis.tls_port, "", "", with);
  CHECK_MESSAGE(!err, *err);
  CHECK(dm::ReplyText(c.Cmd({"PING"}).get()) == "PONG");
  // A key that is not the certificate's.
  with.key_file = pki("server.key");
  err = c.Connect("source", "127.0.0.1", redis.tls_port, "", "", with);
  REQUIRE(err);
  CHECK_MESSAGE(Contains(*err, "does not match"), *err);
}

TEST_CASE("darter-migrate rediss:// with the wrong CA fails with a clear error and changes nothing") {
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki);
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "1"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.server.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"SET", "k", "v"})) == "+OK");

  RunResult r = RunMigrate({"--source", Rediss(redis.tls_port), "--tls-ca-cert", pki("other-ca.crt"), "--target",
                            "127.0.0.1:" + std::to_string(darter.port()), "--no-save"},
                           30s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 3);
  CHECK(Contains(r.out, "source 127.0.0.1:" + std::to_string(redis.tls_port) + ": TLS certificate verify failed:"));
  CheckUntouched(dst);
  CHECK(InfoStr(src, "replication", "connected_slaves") == "0");

  // No CA given: the system store, which does not trust the test CA either.
  r = RunMigrate({"--source", Rediss(redis.tls_port), "--target", "127.0.0.1:" + std::to_string(darter.port()),
                  "--no-save", "--json"},
                 30s);
  CHECK(r.exit_code == 3);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(Contains(j["error"].s, "TLS certificate verify failed"));
  CHECK(j["source_tls"]["enabled"].b);
  CHECK(j["source_tls"]["verified"].b);
  CheckUntouched(dst);

  // Flags that cannot apply are refused, not ignored.
  const std::string plain = "redis://127.0.0.1:" + std::to_string(redis.server.port());
  for (std::vector<std::string> args :
       {std::vector<std::string>{"--source", plain, "--tls-ca-cert", pki("ca.crt")},
        {"--source", plain, "--sni", "db.example.com"},
        {"--source", Rediss(redis.tls_port), "--tls-cert", pki("client.crt")},
        {"--source", Rediss(redis.tls_port), "--tls-insecure", "--tls-ca-cert", pki("ca.crt")},
        {"--source", Rediss(redis.tls_port), "--target", "127.0.0.1:1", "--target-tls-insecure"},
        {"--rdb", "x.rdb", "--target-tls-ca-cert", pki("ca.crt")}}) {
    args.push_back("--port");
    args.push_back("0");
    RunResult u = RunMigrate(args, 10s);
    CHECK_MESSAGE(u.exit_code == 2, args[1] << " " << args[2] << ": " << u.err << u.out);
  }
  CheckUntouched(dst);
  HealthReport h = CheckServerHealthy(*redis.server.process, 512ull << 20);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("darter-migrate --tls-insecure passes the connection stage and the report says it was not verified") {
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki);
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  Client src(redis.server.port());
  REQUIRE(Format(src.Cmd({"SET", "k", "v"})) == "+OK");
  auto dir = redis.server.process->dir() / "insecure";
  // The migration itself needs darter's TLS replica link; whatever it does, the source
  // was reached (not exit 3) and the report repeats that nothing was verified.
  RunResult r = RunMigrate({"--source", Rediss(redis.tls_port), "--tls-insecure", "--port", "0", "--threads", "1",
                            "--dir", dir.string(), "--json", "--stall-timeout", "5", "--no-save"},
                           60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code != 3);
  CHECK(r.exit_code != 2);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["source_version"].s == "7.0.15");  // read over TLS
  CHECK(j["source_tls"]["enabled"].b);
  CHECK(!j["source_tls"]["verified"].b);
  bool warned = false;
  for (auto& w : j["warnings"].items) warned |= Contains(w.s, "NOT verified (--tls-insecure)");
  CHECK(warned);
  r = RunMigrate({"--source", Rediss(redis.tls_port), "--tls-insecure", "--port", "0", "--threads", "1", "--dir",
                  dir.string(), "--stall-timeout", "5", "--no-save", "--flush-target"},
                 60s);
  CHECK(r.exit_code != 3);
  CHECK_MESSAGE(Contains(r.out, "source TLS:    certificate NOT verified (--tls-insecure)"), r.out);
  CHECK_MESSAGE(Contains(r.out, "warning:       the source's TLS certificate was NOT verified"), r.out);
}

TEST_CASE("cutover with a TLS source refuses, before pausing, a target address the source's link cannot speak to") {
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki);
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "1"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  dm::RedisConn source;
  auto err = source.Connect("source", "127.0.0.1", redis.tls_port, "", "", Verified(pki));
  REQUIRE_MESSAGE(!err, *err);
  dm::SourceUri addr;
  addr.host = "127.0.0.1";
  addr.port = darter.port();
  std::string e;
  auto target = dm::Target::ConnectRemote(addr, &e);
  REQUIRE_MESSAGE(target, e);
  dm::CutoverOptions co;
  co.target_host = "127.0.0.1";
  co.target_port = darter.port();
  co.source_tls = true;  // its tls-replication is yes; the darter target is plain
  dm::CutoverResult r = dm::Cutover(source, *target, co);
  CHECK(!r.ok);
  CHECK_MESSAGE(Contains(r.error, "tls-replication is yes"), r.error);
  CHECK_MESSAGE(Contains(r.error, "nothing was paused"), r.error);
  CHECK(!r.target_detached);
  Client src(redis.server.port());
  CHECK(InfoStr(src, "replication", "role") == "master");
  // Writes are not paused: a SET answers at once.
  auto t0 = std::chrono::steady_clock::now();
  CHECK(Format(src.Cmd({"SET", "after", "1"})) == "+OK");
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

// The migration cases below need darter-server's TLS replica link (tls-replication):
// without it the replica cannot reach the source's TLS port and they fail.
TEST_CASE("darter-migrate rediss:// into the embedded Darter under writes: every type, verify finds no difference") {
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki, "yes");  // client certificates required, on the replica link too
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  Families f;
  {
    StartedServer probe = StartDarter(0, {"--threads", "1"});
    REQUIRE_MESSAGE(probe.status.ok, probe.status.message);
    Client pc(probe.port());
    f = DetectFamilies(pc);
  }
  Client src(redis.server.port());
  for (int db : {0, 3}) FillDb(src, f, db, 500);
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "3000", "pop", "8"})) == "+OK");
  // The writer runs through the full sync, whose writes must all arrive by the stream,
  // and stops once the sync is done: a key written without pause (the counter) compares
  // equal only once the source stands still, and verification starts after the sync.
  BackgroundWriter writer(redis.server.port(), "w", f, 1000000, 60s);
  REQUIRE(WaitFor([&] { return writer.acked() > 50; }, 10s));
  auto dir = redis.server.process->dir() / "migrated";
  MigrateProcess migrate({"--source", Rediss(redis.tls_port), "--tls-ca-cert", pki("ca.crt"), "--tls-cert",
                          pki("client.crt"), "--tls-key", pki("client.key"), "--port", "0", "--threads", "2", "--dir",
                          dir.string(), "--verify", "--json", "--stall-timeout", "20"});
  WaitFor([&] { return migrate.err().find("full sync done") != std::string::npos; }, 60s);
  writer.Stop();
  RunResult r = migrate.Wait(120s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(writer.error().empty());
  CHECK(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["source_tls"]["verified"].b);
  CHECK(j["full_syncs"].n == 1);
  CHECK(j["verify"]["ran"].b);
  CHECK(j["verify"]["mismatches"].n == 0);
  CHECK(j["verify"]["keys_checked"].n > 3000);
}

TEST_CASE("darter-migrate rediss:// into a running darter-server: CONFIG SET of the TLS settings, then in sync") {
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki, "yes");
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.server.port()), dst(darter.port());
  Families f = DetectFamilies(dst);
  FillDb(src, f, 0, 400);
  RunResult r = RunMigrate({"--source", Rediss(redis.tls_port), "--tls-ca-cert", pki("ca.crt"), "--tls-cert",
                            pki("client.crt"), "--tls-key", pki("client.key"), "--sni", "localhost", "--target",
                            "127.0.0.1:" + std::to_string(darter.port()), "--verify", "--detach", "--no-save", "--json",
                            "--stall-timeout", "20"},
                           120s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["verify"]["mismatches"].n == 0);
  auto get = [&](const std::string& name) {
    auto rep = dst.Cmd({"CONFIG", "GET", name});
    return rep.elements.size() == 2 ? rep.elements[1].str : std::string("(refused: ") + Format(rep) + ")";
  };
  CHECK(get("tls-replication") == "yes");
  CHECK(get("tls-ca-cert-file") == pki("ca.crt"));
  CHECK(get("tls-client-cert-file") == pki("client.crt"));
  CHECK(get("tls-replication-sni") == "localhost");
  CHECK(get("tls-replication-insecure") == "no");
}

TEST_CASE("darter-migrate --cutover from a TLS source into the (plain) embedded Darter is refused before pausing") {
  Pki pki;
  REQUIRE(pki.ok());
  TlsRedis redis = StartTlsRedis(pki);  // tls-replication yes: as a replica it would speak TLS
  REQUIRE_MESSAGE(redis.server.status.ok, redis.server.status.message);
  Client src(redis.server.port());
  REQUIRE(Format(src.Cmd({"SET", "k", "v"})) == "+OK");
  auto dir = redis.server.process->dir() / "cutover";
  RunResult r = RunMigrate({"--source", Rediss(redis.tls_port), "--tls-ca-cert", pki("ca.crt"), "--port", "0",
                            "--threads", "1", "--dir", dir.string(), "--cutover", "--no-save", "--json",
                            "--stall-timeout", "20"},
                           60s);
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(r.exit_code == 6);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["cutover"]["ran"].b);
  CHECK(!j["cutover"]["target_detached"].b);
  CHECK(Contains(j["cutover"]["error"].s, "tls-replication is yes"));
  CHECK(InfoStr(src, "replication", "role") == "master");
  CHECK(Format(src.Cmd({"SET", "k2", "v"})) == "+OK");
}
