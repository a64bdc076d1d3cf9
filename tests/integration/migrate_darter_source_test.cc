// darter-migrate --cutover from a Darter source to a Darter target: the target attaches
// to the source with PSYNC (started with --repl-multi-flow no: the multi-flow link's
// offsets are per shard and never equal the source's master_repl_offset, which the
// tool compares), the cutover pauses writes on the source with CLIENT PAUSE WRITE, and
// no acknowledged write is lost: every INCR a writer pointed at the source saw
// acknowledged is on the target, and the writes held back by the pause end refused
// (-READONLY, or -LOADING while the source loads the target's data as its new replica),
// never applied behind its back.
#include <doctest/doctest.h>

#include <atomic>
#include <iostream>
#include <thread>

#include "migrate_test_support.h"
#include "replication_support.h"

using namespace darter::test;
using namespace darter::test::repl;
using namespace darter::test::migrate;
using namespace std::chrono_literals;

namespace {

// A writer INCRing its own counter on the source, counting what was acknowledged.
class Writer {
 public:
  Writer(int port, int i) : key_("w" + std::to_string(i) + ":counter") {
    thread_ = std::thread([this, port] {
      Client c(port);
      while (!stop_.load()) {
        Reply r = c.Cmd({"INCR", key_});
        if (r.type == Reply::Type::kInteger) acked_.store(r.integer);
        else if (r.IsError() && (Format(r).find("READONLY") != std::string::npos ||
                                 Format(r).find("LOADING") != std::string::npos))  // refused, not run
          readonly_++, std::this_thread::sleep_for(5ms);
        else if (r.IsIoError()) return;
        else other_ = Format(r);
      }
    });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  const std::string& key() const { return key_; }
  long long acked() const { return acked_.load(); }
  long long readonly() const { return readonly_.load(); }
  std::string other() const { return other_; }

 private:
  std::string key_;
  std::atomic<long long> acked_{0};
  std::atomic<long long> readonly_{0};
  std::atomic<bool> stop_{false};
  std::string other_;
  std::thread thread_;
};

}  // namespace

TEST_CASE("cutover from a Darter source: writes paused by CLIENT PAUSE, none lost") {
  StartedServer source = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(source.status.ok, source.status.message);
  StartedServer target = StartDarter(0, {"--threads", "2", "--repl-multi-flow", "no"});
  REQUIRE_MESSAGE(target.status.ok, target.status.message);
  Client src(source.port()), dst(target.port());
  REQUIRE(Format(src.Cmd({"DEBUG", "POPULATE", "5000", "key", "16"})) == "+OK");
  std::vector<std::unique_ptr<Writer>> writers;
  for (int i = 0; i < 3; ++i) writers.push_back(std::make_unique<Writer>(source.port(), i));
  REQUIRE(WaitFor([&] { return writers[0]->acked() > 100; }, 10s));

  RunResult r = RunMigrate({"--source", "redis://" + LoopbackAddr(source.port()), "--target", LoopbackAddr(target.port()),
                            "--cutover", "--json", "--no-save"},
                           60s);
  std::this_thread::sleep_for(300ms);  // the writers meet the source, now a replica
  for (auto& w : writers) w->Stop();
  INFO("stdout: " << r.out << "\nstderr: " << r.err);
  REQUIRE(r.exit_code == 0);
  bool ok = false;
  Json j = ParseJson(r.out, &ok);
  REQUIRE(ok);
  CHECK(j["cutover"]["ok"].b);
  CHECK(j["cutover"]["source_offset"].n == j["cutover"]["target_offset"].n);
  CHECK(j["cutover"]["source_role"].s == "replica of " + LoopbackAddr(target.port()));
  CHECK(j["target_state"].s == "primary: accepts writes");
  CHECK(InfoStr(dst, "replication", "role") == "master");
  for (auto& w : writers) {
    long long on_target = std::atoll(dst.Cmd({"GET", w->key()}).str.c_str());
    INFO(w->key() << ": acked " << w->acked() << ", on target " << on_target);
    CHECK(w->other() == "");
    CHECK(on_target == w->acked());  // every acknowledged INCR, and nothing unacknowledged
    CHECK(w->readonly() > 0);        // it kept writing to the source, which refused
  }
  // The source follows the target and catches up with it.
  REQUIRE(Format(dst.Cmd({"SET", "after-cutover", "yes"})) == "+OK");
  CHECK(WaitFor([&] { return Format(src.Cmd({"GET", "after-cutover"})) == "\"yes\""; }, 20s));
  std::cout << "[migrate-darter-source] pause " << j["cutover"]["pause_ms"].n << " ms" << std::endl;
}
