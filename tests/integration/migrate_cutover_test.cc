// darter-migrate --cutover against Debian's redis-server: nothing acknowledged is lost,
// even to clients that stay pointed at the source, because the source ends as a
// replica of Darter (its clients get -READONLY) and catches up from it; and the
// equal-offset check survives the PINGs a write-paused source still sends.
#include <doctest/doctest.h>
#include <poll.h>
#include <signal.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "migrate_test_support.h"
#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace darter::test::migrate;
using namespace std::chrono_literals;

namespace {

std::string SourceUri(int port) { return "redis://127.0.0.1:" + std::to_string(port); }

// Writers that stay pointed at the source: each INCRs its own counter and SETs a key,
// counting the INCRs the source acknowledged (an integer reply) and the -READONLY
// refusals it gets once the source follows Darter.
class SourceWriters {
 public:
  SourceWriters(int port, int n) : acked_(n), readonly_(n) {
    for (int i = 0; i < n; ++i) {
      acked_[i] = 0;
      readonly_[i] = 0;
      threads_.emplace_back([this, port, i] { Loop(port, i); });
    }
  }
  ~SourceWriters() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  int size() const { return static_cast<int>(acked_.size()); }
  long long acked(int i) const { return acked_[i].load(); }
  long long readonly(int i) const { return readonly_[i].load(); }
  long long total_acked() const {
    long long t = 0;
    for (auto& a : acked_) t += a.load();
    return t;
  }
  std::string error() {
    std::lock_guard lk(mu_);
    return error_;
  }
  static std::string Counter(int i) { return "w" + std::to_string(i) + ":counter"; }

 private:
  void Loop(int port, int i) {
    Client c(port);
    long long n = 0;
    auto deadline = std::chrono::steady_clock::now() + 120s;
    while (!stop_.load() && std::chrono::steady_clock::now() < deadline) {
      ++n;
      Reply r = c.Cmd({"INCR", Counter(i)});
      if (r.type == Reply::Type::kInteger) {
        acked_[i].store(r.integer);
      } else if (r.IsError() && Format(r).find("READONLY") != std::string::npos) {
        readonly_[i]++;
        std::this_thread::sleep_for(5ms);
        continue;
      } else if (r.IsError() && Format(r).find("UNBLOCKED") != std::string::npos) {
        continue;  // a paused write unblocked as the source became a replica: not executed
      } else {
        std::lock_guard lk(mu_);
        if (error_.empty()) error_ = "writer " + std::to_string(i) + " got " + Format(r);
        if (r.IsIoError()) return;
        continue;
      }
      c.Cmd({"SET", "w" + std::to_string(i) + ":key:" + std::to_string(n % 1000), std::to_string(n)});
    }
  }

  std::vector<std::atomic<long long>> acked_;
  std::vector<std::atomic<long long>> readonly_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::string error_;
  std::vector<std::thread> threads_;
};

// Clients reading from Darter all along: the target is busy while it catches up and
// while the cutover waits for it.
class TargetReaders {
 public:
  TargetReaders(int port, int n) {
    for (int i = 0; i < n; ++i)
      threads_.emplace_back([this, port, i] {
        Client c(port);
        long long k = 0;
        while (!stop_.load()) {
          c.Pipeline({{"GET", "key:" + std::to_string(k++ % 20000)},
                      {"SCAN", "0", "COUNT", "200"},
                      {"DBSIZE"},
                      {"GET", "w" + std::to_string(i % 3) + ":counter"}});
        }
      });
  }
  ~TargetReaders() {
    stop_.store(true);
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// The source as the replica should see it after the cutover: following Darter, link up.
bool SourceFollows(Client& src, int darter_port) {
  auto info = Info(src, "replication");
  return info["role"] == "slave" && info["master_host"] == "127.0.0.1" &&
         info["master_port"] == std::to_string(darter_port) && info["master_link_status"] == "up";
}

// Every writer's acknowledged INCRs are on Darter; the source, now Darter's replica,
// reaches the same values. Returns how many acknowledged writes there were.
long long CheckNothingLost(SourceWriters& w, Client& src, Client& dst, int darter_port) {
  long long total = 0;
  for (int i = 0; i < w.size(); ++i) {
    long long on_darter = std::atoll(dst.Cmd({"GET", SourceWriters::Counter(i)}).str.c_str());
    INFO("writer " << i << ": acked " << w.acked(i) << ", on darter " << on_darter);
    CHECK(on_darter >= w.acked(i));
    CHECK(on_darter == w.acked(i));  // nothing the source executed went unacknowledged
    CHECK(w.readonly(i) > 0);        // it kept writing to the source, which refused
    total += w.acked(i);
  }
  CHECK_MESSAGE(WaitFor([&] { return SourceFollows(src, darter_port); }, 30s), Format(src.Cmd({"INFO", "replication"})));
  // The source catches up with what Darter takes after the cutover.
  REQUIRE(Format(dst.Cmd({"SET", "after-cutover", "yes"})) == "+OK");
  CHECK(WaitFor([&] { return Format(src.Cmd({"GET", "after-cutover"})) == "\"yes\""; }, 20s));
  for (int i = 0; i < w.size(); ++i)
    CHECK(Format(src.Cmd({"GET", SourceWriters::Counter(i)})) == Format(dst.Cmd({"GET", SourceWriters::Counter(i)})));
  return total;
}

}  // namespace

TEST_CASE("cutover: writers still pointed at the source lose nothing; the source follows Darter (busy target)") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client src(redis.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "20000", "key", "32"})) == "+OK");
  // A target that held keys before (replaced, as --flush-target allows) and serves readers.
  REQUIRE(Format(dst.Cmd({"SET", "leftover", "1"})) == "+OK");
  TargetReaders readers(darter.port(), 2);
  SourceWriters writers(redis.port(), 3);
  REQUIRE(WaitFor([&] { return writers.total_acked() > 300; }, 10s));

  RunResult r = RunMigrate({"--source", SourceUri(redis.port()), "--target", LoopbackAddr(darter.port()), "--cutover",
                            "--flush-target", "--json", "--no-save"}, 90s);
  std::this_thread::sleep_for(300ms);  // the writers meet the read-only source
  writers.Stop();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  CHECK(writers.error() == "");
  REQUIRE(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["cutover"]["ok"].b);
  CHECK(j["cutover"]["source_offset"].n == j["cutover"]["target_offset"].n);
  CHECK(j["cutover"]["source_role"].s == "replica of " + LoopbackAddr(darter.port()));
  CHECK(j["cutover"]["source_following"].b);
  CHECK(j["target_offset"].n == j["cutover"]["target_offset"].n);
  CHECK(j["target_offset"].n > 0);
  CHECK(j["target_state"].s == "primary: accepts writes");
  CHECK(InfoStr(dst, "replication", "role") == "master");
  CHECK(Format(dst.Cmd({"GET", "leftover"})) == "(nil)");
  long long total = CheckNothingLost(writers, src, dst, darter.port());
  std::cout << "[migrate-cutover] " << total << " acknowledged writes, all on Darter; pause "
            << j["cutover"]["pause_ms"].n << " ms" << std::endl;
}

namespace {

// A TCP proxy in front of the source. The connection that sent PSYNC (the replica
// link) can be held: bytes from the source to the replica wait in the proxy until
// released, so the replica lags by as long as the test wants while every other
// connection (the tool's) flows.
class HoldingProxy {
 public:
  explicit HoldingProxy(int upstream_port) : upstream_(upstream_port) {
    fd_ = ListenLoopback(&port_);
    accept_thread_ = std::thread([this] { Accept(); });
  }
  ~HoldingProxy() {
    stop_.store(true);
    if (accept_thread_.joinable()) accept_thread_.join();
    std::lock_guard lk(mu_);
    for (auto& t : pairs_)
      if (t.joinable()) t.join();
    close(fd_);
  }
  int port() const { return port_; }
  void Hold(bool on) { hold_.store(on); }

 private:
  void Accept() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      int u = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      a.sin_port = htons(static_cast<uint16_t>(upstream_));
      if (connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        close(c);
        close(u);
        continue;
      }
      std::lock_guard lk(mu_);
      pairs_.emplace_back([this, c, u] {
        Pump(c, u);
        close(c);
        close(u);
      });
    }
  }
  static bool SendAll(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  void Pump(int client, int upstream) {
    bool replica = false;
    std::string held;  // source → replica bytes waiting for the release
    std::string seen;
    char buf[65536];
    while (!stop_.load()) {
      if (!hold_.load() && !held.empty()) {
        if (!SendAll(client, held.data(), held.size())) return;
        held.clear();
      }
      pollfd p[2] = {{client, POLLIN, 0}, {upstream, POLLIN, 0}};
      if (poll(p, 2, 20) <= 0) continue;
      if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(client, buf, sizeof buf, 0);
        if (n <= 0) return;
        if (!replica) {
          seen.append(buf, static_cast<size_t>(n));
          // The replica's own PSYNC command, not a mention of it (COMMAND INFO psync).
          if (seen.find("*3\r\n$5\r\nPSYNC\r\n") != std::string::npos) replica = true;
          if (seen.size() > 4096) seen.erase(0, seen.size() - 16);
        }
        if (!SendAll(upstream, buf, static_cast<size_t>(n))) return;
      }
      if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = recv(upstream, buf, sizeof buf, 0);
        if (n <= 0) return;
        if (replica && (hold_.load() || !held.empty())) held.append(buf, static_cast<size_t>(n));
        else if (!SendAll(client, buf, static_cast<size_t>(n))) return;
      }
    }
  }

  int upstream_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> hold_{false};
  std::mutex mu_;
  std::vector<std::thread> pairs_;
  std::thread accept_thread_;
};

}  // namespace

TEST_CASE("cutover: PINGs the write-paused source sends while Darter catches up do not break the offset check") {
  // The source PINGs its replicas every second, pauses included.
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0", "--repl-ping-replica-period", "1"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  HoldingProxy proxy(redis.port());
  Client src(redis.port()), dst(darter.port());
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "2000", "key", "16"})) == "+OK");
  SourceWriters writers(redis.port(), 2);
  REQUIRE(WaitFor([&] { return writers.total_acked() > 100; }, 10s));

  MigrateProcess p({"--source", SourceUri(proxy.port()), "--target", LoopbackAddr(darter.port()), "--follow", "--json",
                    "--no-save", "--verify-every", "off", "--target-address", LoopbackAddr(darter.port())});
  REQUIRE_MESSAGE(WaitFor([&] { return p.err().find("following the source") != std::string::npos; }, 30s), p.err());
  // Darter stops receiving the stream; the cutover pauses the source and waits for
  // Darter to reach the paused offset, which the PINGs of the next 2.5 s move on.
  proxy.Hold(true);
  p.Signal(SIGUSR1);
  REQUIRE_MESSAGE(WaitFor([&] { return p.err().find("cutover: pausing") != std::string::npos; }, 10s), p.err());
  std::this_thread::sleep_for(2500ms);
  proxy.Hold(false);
  RunResult r = p.Wait(60s);
  std::this_thread::sleep_for(300ms);
  writers.Stop();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["cutover"]["ok"].b);
  CHECK(j["cutover"]["check_rounds"].n >= 2);  // the first S moved under the PINGs
  CHECK(j["cutover"]["source_offset"].n == j["cutover"]["target_offset"].n);
  CHECK(j["cutover"]["pause_ms"].n >= 2000);
  CHECK(j["target_offset"].n == j["cutover"]["target_offset"].n);
  CHECK(j["source_offset"].n == j["cutover"]["source_offset"].n);
  CHECK(j["target_offset"].n > 0);
  CHECK(j["cutover"]["source_following"].b);
  CheckNothingLost(writers, src, dst, darter.port());
}
