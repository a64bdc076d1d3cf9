// TLS (docs/tls.md): darter-server's --tls-port beside its TCP port, client certificates
// under tls-auth-clients, reloading the certificate with CONFIG SET, and replication over
// TLS with Redis on either side and Darter on both. Certificates are made at test time by
// the openssl CLI in a temp dir: a CA, a server certificate for 127.0.0.1/localhost, a
// client certificate, a second server certificate (the reload), an expired one, and a
// client certificate from an unrelated CA.
#include <doctest/doctest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "replication_support.h"
#include "support/server_health.h"
#include "support/tls_client.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// Runs a shell command; returns its stdout (stderr joined) and sets *status.
std::string Run(const std::string& cmd, int* status = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return "popen failed";
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = ::pclose(p);
  if (status) *status = rc;
  return out;
}

// The certificates, made once per test binary.
struct Certs {
  fs::path dir;
  std::string error;
  std::string ca() const { return (dir / "ca.crt").string(); }
  std::string file(const std::string& name) const { return (dir / name).string(); }

  Certs() {
    dir = fs::temp_directory_path() / ("darter-tls-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const std::string d = dir.string();
    const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    std::string script = "set -e; cd '" + d + "'\n" +
        "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > san.cnf\n"
        "openssl req -x509 -new " + ec + " -keyout ca.key -out ca.crt -days 30 -subj '/CN=Darter Test CA'\n"
        "openssl req -x509 -new " + ec + " -keyout other-ca.key -out other-ca.crt -days 30 -subj '/CN=Unrelated CA'\n"
        // Server: one key, three certificates (the reload test swaps the certificate alone).
        "openssl req -new " + ec + " -keyout server.key -out server.csr -subj '/CN=first'\n"
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 30 -extfile san.cnf\n"
        "openssl req -new -key server.key -out second.csr -subj '/CN=second'\n"
        "openssl x509 -req -in second.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out second.crt -days 30 -extfile san.cnf\n"
        "openssl req -new -key server.key -out expired.csr -subj '/CN=expired'\n"
        "openssl x509 -req -in expired.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out expired.crt -days -1 -extfile san.cnf\n"
        // A third certificate with its own key: CONFIG SET of both in one call.
        "openssl req -new " + ec + " -keyout third.key -out third.csr -subj '/CN=third'\n"
        "openssl x509 -req -in third.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out third.crt -days 30 -extfile san.cnf\n"
        "openssl req -new " + ec + " -keyout client.key -out client.csr -subj '/CN=client'\n"
        "openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 30\n"
        "openssl req -new " + ec + " -keyout stranger.key -out stranger.csr -subj '/CN=stranger'\n"
        "openssl x509 -req -in stranger.csr -CA other-ca.crt -CAkey other-ca.key -CAcreateserial -out stranger.crt -days 30\n"
        // The server key again, under a passphrase.
        "openssl pkey -in server.key -out server-pass.key -aes256 -passout pass:s3cret\n";
    std::ofstream(dir / "make.sh") << script;
    int status = 0;
    std::string out = Run("sh '" + (dir / "make.sh").string() + "'", &status);
    if (status != 0) error = "openssl failed: " + out;
  }
  ~Certs() {
    std::error_code ec;
    if (!std::getenv("DARTER_TEST_KEEP_LOGS")) fs::remove_all(dir, ec);
  }
};

const Certs& TheCerts() {
  static Certs certs;
  return certs;
}

// The server-side flags: certificate, key, CA.
std::vector<std::string> ServerTlsArgs(const Certs& c, const std::string& cert = "server.crt") {
  return {"--tls-cert-file", c.file(cert), "--tls-key-file", c.file("server.key"), "--tls-ca-cert-file", c.ca()};
}

// Darter with its TCP port (for the harness) and a TLS port.
struct TlsDarter {
  StartedServer server;
  int tls_port = 0;
};

TlsDarter StartTlsDarter(std::vector<std::string> extra = {}) {
  const Certs& c = TheCerts();
  TlsDarter d;
  for (int attempt = 0; attempt < 3; ++attempt) {
    d.tls_port = FreePort();
    std::vector<std::string> args = {"--tls-port", std::to_string(d.tls_port)};
    for (auto& a : ServerTlsArgs(c)) args.push_back(a);
    args.insert(args.end(), extra.begin(), extra.end());
    d.server = StartDarter(0, args);
    if (d.server.status.ok) break;
  }
  return d;
}

TlsClientOptions WithClientCert() {
  const Certs& c = TheCerts();
  TlsClientOptions o;
  o.ca_file = c.ca();
  o.cert_file = c.file("client.crt");
  o.key_file = c.file("client.key");
  return o;
}

// A PING over TLS: "+PONG", or why not.
std::string TlsPing(int port, const TlsClientOptions& o) {
  TlsClient c(port, o);
  if (!c.ok()) return "<handshake: " + c.error() + ">";
  return Format(c.Cmd({"PING"}));
}

std::string RedisCli(int port, const std::string& args) {
  const Certs& c = TheCerts();
  return Run("redis-cli --tls --cacert '" + c.ca() + "' --cert '" + c.file("client.crt") + "' --key '" +
             c.file("client.key") + "' -h 127.0.0.1 -p " + std::to_string(port) + " " + args);
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("certificates for the TLS tests") {
  REQUIRE_MESSAGE(TheCerts().error.empty(), TheCerts().error);
}

TEST_CASE("redis-cli --tls and an OpenSSL client get PONG, SET and GET; the TCP port serves the same data") {
  REQUIRE(TheCerts().error.empty());
  TlsDarter d = StartTlsDarter();
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);

  CHECK(Trim(RedisCli(d.tls_port, "PING")) == "PONG");
  CHECK(Trim(RedisCli(d.tls_port, "SET viacli hello")) == "OK");
  CHECK(Trim(RedisCli(d.tls_port, "GET viacli")) == "hello");

  TlsClient t(d.tls_port, WithClientCert());
  REQUIRE_MESSAGE(t.ok(), t.error());
  CHECK(t.PeerSubject().find("CN=first") != std::string::npos);
  CHECK(Format(t.Cmd({"PING"})) == "+PONG");
  CHECK(Format(t.Cmd({"SET", "k", "over-tls"})) == "+OK");
  // A value larger than one TLS record (16 KB) comes back whole.
  std::string big(200000, 'x');
  CHECK(Format(t.Cmd({"SET", "big", big})) == "+OK");
  Reply got = t.Cmd({"GET", "big"});
  CHECK(got.str.size() == big.size());

  Client plain(d.server.port());
  CHECK(Format(plain.Cmd({"GET", "k"})) == "\"over-tls\"");
  CHECK(Format(plain.Cmd({"GET", "viacli"})) == "\"hello\"");
  CHECK(Format(plain.Cmd({"SET", "k2", "over-tcp"})) == "+OK");
  CHECK(Format(t.Cmd({"GET", "k2"})) == "\"over-tcp\"");

  // The parameters read back with Redis's names.
  Reply cfg = plain.Cmd({"CONFIG", "GET", "tls-port"});
  REQUIRE(cfg.elements.size() == 2);
  CHECK(cfg.elements[1].str == std::to_string(d.tls_port));
  CHECK(Format(plain.Cmd({"CONFIG", "GET", "tls-auth-clients"})) == "[\"tls-auth-clients\", \"yes\"]");
  CHECK(Format(plain.Cmd({"CONFIG", "GET", "tls-cert-file"})) ==
        "[\"tls-cert-file\", " + Quote(TheCerts().file("server.crt")) + "]");
}

TEST_CASE("a plaintext client on the TLS port gets nothing, and neither it nor a silent one stalls others") {
  REQUIRE(TheCerts().error.empty());
  TlsDarter d = StartTlsDarter({"--threads", "1"});
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);

  // One client that says nothing (its handshake never starts) on the only thread.
  int silent = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(d.tls_port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(silent, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);

  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const char kPing[] = "*1\r\n$4\r\nPING\r\n";
  REQUIRE(::send(fd, kPing, sizeof kPing - 1, 0) == static_cast<ssize_t>(sizeof kPing - 1));
  std::string got;
  char buf[512];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) got.append(buf, static_cast<size_t>(n));
  CHECK(got.find("PONG") == std::string::npos);
  CHECK(n == 0);  // closed by the server, not a timeout
  ::close(fd);

  // The TLS port still serves while the silent client waits.
  CHECK(TlsPing(d.tls_port, WithClientCert()) == "+PONG");
  HealthReport h = CheckServerHealthy(*d.server.process, 512ull << 20);
  CHECK_MESSAGE(h.ok, h.message);
  ::close(silent);
  std::string log = d.server.process->LogTail(16384);
  CHECK(log.find("Error accepting a client connection") != std::string::npos);
}

TEST_CASE("tls-auth-clients: yes refuses a client without a certificate, optional and no accept it") {
  REQUIRE(TheCerts().error.empty());
  TlsDarter d = StartTlsDarter();
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);
  Client plain(d.server.port());
  TlsClientOptions anonymous;
  anonymous.ca_file = TheCerts().ca();

  CHECK(TlsPing(d.tls_port, WithClientCert()) == "+PONG");
  CHECK(TlsPing(d.tls_port, anonymous) != "+PONG");

  // A certificate from an unrelated CA is refused whatever it claims.
  TlsClientOptions stranger = anonymous;
  stranger.cert_file = TheCerts().file("stranger.crt");
  stranger.key_file = TheCerts().file("stranger.key");
  CHECK(TlsPing(d.tls_port, stranger) != "+PONG");

  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-auth-clients", "optional"})) == "+OK");
  CHECK(TlsPing(d.tls_port, anonymous) == "+PONG");
  CHECK(TlsPing(d.tls_port, WithClientCert()) == "+PONG");
  CHECK(TlsPing(d.tls_port, stranger) != "+PONG");  // optional still verifies what is sent

  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-auth-clients", "no"})) == "+OK");
  CHECK(TlsPing(d.tls_port, anonymous) == "+PONG");

  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-auth-clients", "maybe"})) ==
        "-ERR CONFIG SET failed (possibly related to argument 'tls-auth-clients') - argument(s) must be one of the "
        "following: no, yes, optional");
  HealthReport h = CheckServerHealthy(*d.server.process, 512ull << 20);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("an expired server certificate fails the client's verification") {
  REQUIRE(TheCerts().error.empty());
  const Certs& c = TheCerts();
  int port = FreePort();
  std::vector<std::string> args = {"--tls-port", std::to_string(port)};
  for (auto& a : ServerTlsArgs(c, "expired.crt")) args.push_back(a);
  StartedServer s = StartDarter(0, args);
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  TlsClient t(port, WithClientCert());
  CHECK_FALSE(t.ok());
  CHECK_MESSAGE(t.error().find("certificate verify failed") != std::string::npos, t.error());
  CHECK_MESSAGE(t.verify_result() == "certificate has expired", t.error());
  CHECK(Trim(RedisCli(port, "PING")).find("PONG") == std::string::npos);
}

TEST_CASE("CONFIG SET of the certificate serves new connections; a bad file is refused and the old one kept") {
  REQUIRE(TheCerts().error.empty());
  const Certs& c = TheCerts();
  TlsDarter d = StartTlsDarter();
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);
  Client plain(d.server.port());

  TlsClient before(d.tls_port, WithClientCert());
  REQUIRE(before.ok());
  CHECK(before.PeerSubject().find("CN=first") != std::string::npos);

  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-cert-file", c.file("second.crt")})) == "+OK");
  TlsClient after(d.tls_port, WithClientCert());
  REQUIRE_MESSAGE(after.ok(), after.error());
  CHECK(after.PeerSubject().find("CN=second") != std::string::npos);
  // The connection made before the change is served on as it was.
  CHECK(Format(before.Cmd({"PING"})) == "+PONG");

  // A file that cannot be read: Redis's reply, the value and the context unchanged.
  const std::string refused =
      "-ERR CONFIG SET failed (possibly related to argument 'tls-cert-file') - Unable to update TLS configuration. "
      "Check server logs.";
  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-cert-file", c.file("missing.crt")})) == refused);
  CHECK(plain.Cmd({"CONFIG", "GET", "tls-cert-file"}).elements.at(1).str == c.file("second.crt"));
  TlsClient still(d.tls_port, WithClientCert());
  REQUIRE_MESSAGE(still.ok(), still.error());
  CHECK(still.PeerSubject().find("CN=second") != std::string::npos);
  CHECK(d.server.process->LogTail(16384).find("Failed to load certificate: " + c.file("missing.crt")) !=
        std::string::npos);

  // A certificate whose key is not tls-key-file's alone is refused; with its key in the
  // same call it applies.
  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-cert-file", c.file("third.crt")})) == refused);
  CHECK(Format(plain.Cmd({"CONFIG", "SET", "tls-cert-file", c.file("third.crt"), "tls-key-file",
                          c.file("third.key")})) == "+OK");
  TlsClient third(d.tls_port, WithClientCert());
  REQUIRE_MESSAGE(third.ok(), third.error());
  CHECK(third.PeerSubject().find("CN=third") != std::string::npos);

  // Redis answers the same refusal.
  int redis_tls = FreePort();
  std::vector<std::string> rargs = {"--tls-port", std::to_string(redis_tls)};
  for (auto& a : ServerTlsArgs(c)) rargs.push_back(a);
  StartedServer redis = StartRedis(0, rargs);
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client r(redis.port());
  CHECK(Format(r.Cmd({"CONFIG", "SET", "tls-cert-file", c.file("missing.crt")})) == refused);
}

TEST_CASE("a passphrase-protected key loads with tls-key-file-pass; a tls-port without a certificate is a start error") {
  REQUIRE(TheCerts().error.empty());
  const Certs& c = TheCerts();
  int port = FreePort();
  StartedServer s = StartDarter(0, {"--tls-port", std::to_string(port), "--tls-cert-file", c.file("server.crt"),
                                    "--tls-key-file", c.file("server-pass.key"), "--tls-key-file-pass", "s3cret",
                                    "--tls-ca-cert-file", c.ca()});
  REQUIRE_MESSAGE(s.status.ok, s.status.message);
  CHECK(TlsPing(port, WithClientCert()) == "+PONG");

  ServerProcess bad(DarterServerBinary(), {"--port", std::to_string(FreePort()), "--tls-port", std::to_string(FreePort())},
                    0);
  CHECK_FALSE(bad.WaitUntilReady(5s).ok);
  CHECK(bad.LogTail().find("tls-port needs tls-cert-file and tls-key-file") != std::string::npos);

  ServerProcess wrong_pass(DarterServerBinary(),
                           {"--port", std::to_string(FreePort()), "--tls-port", std::to_string(FreePort()),
                            "--tls-cert-file", c.file("server.crt"), "--tls-key-file", c.file("server-pass.key"),
                            "--tls-key-file-pass", "wrong", "--tls-ca-cert-file", c.ca()},
                           0);
  CHECK_FALSE(wrong_pass.WaitUntilReady(5s).ok);
  CHECK(wrong_pass.LogTail().find("Failed to load private key: " + c.file("server-pass.key")) != std::string::npos);
}

TEST_CASE("replication over TLS: a Redis TLS primary to a Darter replica") {
  REQUIRE(TheCerts().error.empty());
  const Certs& c = TheCerts();
  int redis_tls = FreePort();
  std::vector<std::string> rargs = {"--tls-port", std::to_string(redis_tls)};
  for (auto& a : ServerTlsArgs(c)) rargs.push_back(a);
  StartedServer primary = StartRedis(0, rargs);
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  Client p(primary.port());
  for (int i = 0; i < 500; ++i) p.Cmd({"SET", "before:" + std::to_string(i), std::to_string(i)});

  std::vector<std::string> args = {"--replicaof", "127.0.0.1:" + std::to_string(redis_tls), "--tls-replication", "yes"};
  for (auto& a : ServerTlsArgs(c)) args.push_back(a);
  StartedServer replica = StartDarter(0, args);
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client r(replica.port());
  for (int i = 0; i < 500; ++i) p.Cmd({"SET", "after:" + std::to_string(i), std::to_string(i)});
  REQUIRE_MESSAGE(WaitCaughtUp(p, r, 20s), replica.process->LogTail());
  CHECK(Format(r.Cmd({"DEBUG", "DIGEST"})) == Format(p.Cmd({"DEBUG", "DIGEST"})));
  CHECK(Format(r.Cmd({"GET", "after:499"})) == "\"499\"");
  // The primary saw a TLS client: the replica's REPLCONF ACKs arrive through the same stream.
  CHECK(WaitFor([&] { return InfoStr(p, "replication", "slave0").find("state=online") != std::string::npos; }, 10s));
}

TEST_CASE("replication over TLS: a Darter TLS primary to a redis-server replica, and a refused untrusted replica") {
  REQUIRE(TheCerts().error.empty());
  const Certs& c = TheCerts();
  TlsDarter d = StartTlsDarter({"--threads", "2"});
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);
  Client p(d.server.port());
  for (int i = 0; i < 500; ++i) p.Cmd({"SET", "before:" + std::to_string(i), std::to_string(i)});

  std::vector<std::string> rargs = {"--replicaof", "127.0.0.1", std::to_string(d.tls_port), "--tls-replication", "yes"};
  for (auto& a : ServerTlsArgs(c)) rargs.push_back(a);
  StartedServer replica = StartRedis(0, rargs);
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client r(replica.port());
  {
    BackgroundWriter w(d.server.port(), "w", Families{}, 3000, 5s);
    std::this_thread::sleep_for(300ms);
    w.Stop();
    CHECK_MESSAGE(w.error().empty(), w.error());
  }
  REQUIRE_MESSAGE(WaitFor([&] { return InfoStr(r, "replication", "master_link_status") == "up"; }, 20s),
                  replica.process->LogTail());
  CHECK(WaitFor([&] { return Format(r.Cmd({"DEBUG", "DIGEST"})) == Format(p.Cmd({"DEBUG", "DIGEST"})); }, 20s));

  // A Darter replica without the CA's trust in its certificate is refused by the primary's
  // tls-auth-clients yes: it never syncs, and the primary serves on.
  std::vector<std::string> sargs = {"--replicaof", "127.0.0.1:" + std::to_string(d.tls_port), "--tls-replication",
                                    "yes", "--tls-cert-file", c.file("stranger.crt"), "--tls-key-file",
                                    c.file("stranger.key"), "--tls-ca-cert-file", c.ca()};
  StartedServer untrusted = StartDarter(0, sargs);
  REQUIRE_MESSAGE(untrusted.status.ok, untrusted.status.message);
  Client u(untrusted.port());
  std::this_thread::sleep_for(1500ms);
  CHECK(InfoStr(u, "replication", "master_link_status") == "down");
  CHECK(Format(u.Cmd({"GET", "before:1"})) == "(nil)");
  HealthReport h = CheckServerHealthy(*d.server.process, 512ull << 20);
  CHECK_MESSAGE(h.ok, h.message);
}

TEST_CASE("replication over TLS: Darter to Darter, multi-flow, under a write load") {
  REQUIRE(TheCerts().error.empty());
  const Certs& c = TheCerts();
  TlsDarter d = StartTlsDarter({"--threads", "3"});
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);
  Client p(d.server.port());
  for (int i = 0; i < 2000; ++i) p.Cmd({"SET", "before:" + std::to_string(i), std::string(100, 'v')});

  std::vector<std::string> args = {"--threads", "2", "--replicaof", "127.0.0.1:" + std::to_string(d.tls_port),
                                   "--tls-replication", "yes", "--tls-replication-sni", "localhost"};
  for (auto& a : ServerTlsArgs(c)) args.push_back(a);
  StartedServer replica = StartDarter(0, args);
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client r(replica.port());
  {
    BackgroundWriter w(d.server.port(), "w", DetectFamilies(p), 20000, 3s);
    std::this_thread::sleep_for(1500ms);
    w.Stop();
    CHECK_MESSAGE(w.error().empty(), w.error());
  }
  REQUIRE_MESSAGE(FlowsCaughtUp(p, r, 30s), replica.process->LogTail());
  CHECK(InfoStr(r, "replication", "master_link_state") == "stable_sync");
  CHECK(Format(r.Cmd({"DEBUG", "DIGEST"})) == Format(p.Cmd({"DEBUG", "DIGEST"})));
  // The flows really are TLS: the primary's TLS port holds the replica's links.
  Reply clients = p.Cmd({"CLIENT", "LIST"});
  CHECK(clients.str.find("laddr=127.0.0.1:" + std::to_string(d.tls_port)) != std::string::npos);
}

TEST_CASE("a blocked command over TLS is woken, and the connection reads on after the cancelled wait-read") {
  REQUIRE(TheCerts().error.empty());
  TlsDarter d = StartTlsDarter({"--threads", "2"});
  REQUIRE_MESSAGE(d.server.status.ok, d.server.status.message);
  TlsClient t(d.tls_port, WithClientCert());
  REQUIRE_MESSAGE(t.ok(), t.error());
  for (int round = 0; round < 3; ++round) {
    std::thread pusher([&] {
      std::this_thread::sleep_for(200ms);
      Client c(d.server.port());
      c.Cmd({"RPUSH", "queue", "job" + std::to_string(round)});
    });
    Reply r = t.Cmd({"BLPOP", "queue", "5"});
    pusher.join();
    CHECK(Format(r) == "[\"queue\", \"job" + std::to_string(round) + "\"]");
    // The read started while blocked was cancelled; the stream serves the next command.
    CHECK(Format(t.Cmd({"PING"})) == "+PONG");
  }
  // A BLPOP that times out, then more traffic on the same stream.
  CHECK(Format(t.Cmd({"BLPOP", "empty", "0.2"})) == "(nil-array)");
  CHECK(Format(t.Cmd({"SET", "after", "blocking"})) == "+OK");
  CHECK(Format(t.Cmd({"GET", "after"})) == "\"blocking\"");
}
