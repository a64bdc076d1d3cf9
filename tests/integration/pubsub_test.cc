// Pub/sub across threads: subscribers spread over darter-server's threads,
// compared with redis-server running the same scenario; a publish storm from several
// threads; a RESP3 subscriber whose pushes interleave with its own replies; slow
// subscribers cut off by client-output-buffer-limit; a replica delivering its Redis
// primary's PUBLISH to local subscribers.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "replication_support.h"
#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using repl::InfoInt;
using repl::InfoStr;
using repl::WaitFor;
using Clock = std::chrono::steady_clock;

// Reads replies until one satisfies `last` (included); every reply read is appended to
// `out` in canonical form. Stops early on an I/O error (which is appended too).
void ReadUntil(Client& c, const std::function<bool(const Reply&)>& last, std::vector<std::string>& out) {
  for (int i = 0; i < 100000; ++i) {
    Reply r = c.ReadReply();
    out.push_back(Format(r));
    if (r.IsIoError() || last(r)) return;
  }
}

bool IsPong(const Reply& r) {
  if (r.type == Reply::Type::kStatus) return r.str == "PONG";
  return r.type == Reply::Type::kArray && r.elements.size() == 2 && r.elements[0].str == "pong";
}

// The "key=value" field of a CLIENT LIST line for client `id`.
std::string ClientField(Client& admin, long long id, const std::string& field) {
  Reply r = admin.Cmd({"CLIENT", "LIST", "ID", std::to_string(id)});
  std::string text = r.str;
  size_t at = text.find(" " + field + "=");
  if (at == std::string::npos) return "<no " + field + ">";
  at += field.size() + 2;
  return text.substr(at, text.find(' ', at) - at);
}

// One scenario, run unchanged against each server: 8 subscribers (with --threads 4 the
// round-robin acceptor puts two on each thread), channels, a pattern, a RESP3
// subscriber, publishes, unsubscribes and closes. Returns one line per observation.
std::vector<std::string> Scenario(int port) {
  std::vector<std::string> log;
  auto note = [&](const std::string& who, const std::string& what) { log.push_back(who + ": " + what); };
  Client admin(port);
  constexpr int kSubs = 8;
  std::vector<std::unique_ptr<Client>> subs;
  std::vector<long long> ids;
  for (int i = 0; i < kSubs; ++i) {
    subs.push_back(std::make_unique<Client>(port));
    ids.push_back(subs.back()->Cmd({"CLIENT", "ID"}).integer);
  }
  // Subscriber i: channel ch<i%3> and "all"; every third one also the pattern "ch*";
  // subscriber 5 speaks RESP3.
  CHECK(subs[5]->Cmd({"HELLO", "3"}).type == Reply::Type::kMap);
  for (int i = 0; i < kSubs; ++i) {
    std::string who = "sub" + std::to_string(i);
    std::vector<std::string> out;
    subs[i]->Append({"SUBSCRIBE", "ch" + std::to_string(i % 3), "all"});
    if (i % 3 == 0) subs[i]->Append({"PSUBSCRIBE", "ch*"});
    subs[i]->Append({"PING"});
    subs[i]->Flush();
    ReadUntil(*subs[i], IsPong, out);
    for (auto& line : out) note(who, line);
    note(who, "sub=" + ClientField(admin, ids[i], "sub") + " psub=" + ClientField(admin, ids[i], "psub") +
                  " flags=" + ClientField(admin, ids[i], "flags"));
  }
  note("admin", Format(admin.Cmd({"PUBSUB", "NUMSUB", "ch0", "ch1", "ch2", "all", "none"})));
  note("admin", Format(admin.Cmd({"PUBSUB", "NUMPAT"})));
  Reply channels = admin.Cmd({"PUBSUB", "CHANNELS"});
  std::vector<std::string> names;
  for (auto& e : channels.elements) names.push_back(e.str);
  std::sort(names.begin(), names.end());
  std::string joined;
  for (auto& n : names) joined += n + " ";
  note("admin", "channels " + joined);
  note("admin", "channels ch? " + Format(admin.Cmd({"PUBSUB", "CHANNELS", "a*"})));
  note("admin", "info channels=" + std::to_string(InfoInt(admin, "stats", "pubsub_channels")) +
                    " patterns=" + std::to_string(InfoInt(admin, "stats", "pubsub_patterns")));

  // Publishes; PUBLISH's reply counts channel and pattern receivers.
  Client pub(port);
  for (int k = 0; k < 30; ++k) {
    note("pub", Format(pub.Cmd({"PUBLISH", "ch" + std::to_string(k % 4), "m" + std::to_string(k)})));
    if (k % 5 == 0) note("pub", Format(pub.Cmd({"PUBLISH", "all", "a" + std::to_string(k)})));
  }
  // Everything published before a subscriber's PING is in its stream before the PONG.
  for (int i = 0; i < kSubs; ++i) {
    std::vector<std::string> out;
    subs[i]->Append({"PING"});
    subs[i]->Flush();
    ReadUntil(*subs[i], IsPong, out);
    for (auto& line : out) note("sub" + std::to_string(i), line);
  }

  // Unsubscribe counts, then closes: the registry forgets closed subscribers.
  for (int i = 0; i < kSubs; i += 2) {
    std::vector<std::string> out;
    subs[i]->Append({"UNSUBSCRIBE", "all", "never"});
    if (i % 3 == 0) subs[i]->Append({"PUNSUBSCRIBE", "ch*"});
    subs[i]->Append({"PING"});
    subs[i]->Flush();
    ReadUntil(*subs[i], IsPong, out);
    for (auto& line : out) note("sub" + std::to_string(i), line);
  }
  note("admin", Format(admin.Cmd({"PUBSUB", "NUMSUB", "all"})));
  note("pub", Format(pub.Cmd({"PUBLISH", "all", "after-unsubscribe"})));
  for (int i = 1; i < kSubs; i += 2) subs[i].reset();
  bool dropped = WaitFor([&] { return admin.Cmd({"PUBSUB", "NUMSUB", "all"}).elements.at(1).integer == 0; }, 10s);
  note("admin", std::string("closed subscribers dropped: ") + (dropped ? "yes" : "no"));
  note("admin", Format(admin.Cmd({"PUBSUB", "NUMSUB", "ch0", "ch1", "ch2"})));
  note("admin", Format(admin.Cmd({"PUBSUB", "NUMPAT"})));
  note("pub", Format(pub.Cmd({"PUBLISH", "ch1", "late"})));
  for (int i = 0; i < kSubs; i += 2) {
    std::vector<std::string> out;
    subs[i]->Append({"PING"});
    subs[i]->Flush();
    ReadUntil(*subs[i], IsPong, out);
    for (auto& line : out) note("sub" + std::to_string(i), line);
  }
  // Subscribed connections are of type pubsub for CLIENT LIST and CLIENT KILL.
  auto lines = [](const Reply& r) { return std::to_string(std::count(r.str.begin(), r.str.end(), '\n')); };
  note("admin", "pubsub clients: " + lines(admin.Cmd({"CLIENT", "LIST", "TYPE", "pubsub"})));
  note("admin", "normal clients: " + lines(admin.Cmd({"CLIENT", "LIST", "TYPE", "normal"})));
  note("admin", "killed: " + Format(admin.Cmd({"CLIENT", "KILL", "TYPE", "pubsub"})));
  bool gone = WaitFor([&] { return admin.Cmd({"PUBSUB", "CHANNELS"}).elements.empty(); }, 10s);
  note("admin", std::string("killed subscribers dropped: ") + (gone ? "yes" : "no"));
  return log;
}

TEST_CASE("subscribers on every thread see what redis-server's subscribers see") {
  StartedServer redis = StartRedis(0);
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "4"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  std::vector<std::string> want = Scenario(redis.port());
  std::vector<std::string> got = Scenario(darter.port());
  REQUIRE(want.size() > 100);
  std::string diff;
  for (size_t i = 0; i < std::max(want.size(), got.size()); ++i) {
    std::string w = i < want.size() ? want[i] : "<missing>";
    std::string g = i < got.size() ? got[i] : "<missing>";
    if (w != g && diff.size() < 4000) diff += "  #" + std::to_string(i) + " redis:  " + w + "\n     darter: " + g + "\n";
  }
  CHECK_MESSAGE(diff.empty(), "scenario differs:\n" << diff);
}

TEST_CASE("a pipelined RESP2 subscriber is refused every command but the allowed ones, as by redis-server") {
  StartedServer redis = StartRedis(0);
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "4"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  // One pipeline: runs of single-key commands that Darter would otherwise run as one
  // squashed hop per shard, before, during and after subscribed mode.
  const std::vector<std::vector<std::string>> cmds = {
      {"SET", "a", "1"}, {"SET", "b", "2"}, {"SUBSCRIBE", "x"}, {"GET", "a"}, {"GET", "b"}, {"SET", "c", "3"},
      {"INCR", "a"},     {"PING"},          {"GET", "c"},       {"UNSUBSCRIBE", "x"},      {"GET", "a"},
      {"GET", "b"},      {"SET", "c", "4"}, {"GET", "c"}};
  Client r(redis.port()), d(darter.port());
  std::vector<Reply> want = r.Pipeline(cmds), got = d.Pipeline(cmds);
  for (size_t i = 0; i < cmds.size(); ++i)
    CHECK_MESSAGE(Format(got[i]) == Format(want[i]), FormatCommand(cmds[i]) << ": redis " << Format(want[i]));
}

// The text of a (p)message's payload, or "" when `r` is not one.
std::string Payload(const Reply& r) {
  if ((r.type != Reply::Type::kArray && r.type != Reply::Type::kPush) || r.elements.size() < 3) return "";
  if (r.elements[0].str == "message") return r.elements[2].str;
  if (r.elements[0].str == "pmessage" && r.elements.size() == 4) return r.elements[3].str;
  return "";
}

TEST_CASE("a publish storm from several threads reaches every subscriber in per-publisher order") {
  StartedServer darter = StartDarter(0, {"--threads", "4"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  constexpr int kPublishers = 4, kMessages = 2500, kChunk = 50;
  // 4 direct subscribers and 2 pattern subscribers (one RESP3), over all threads.
  struct Sub {
    std::unique_ptr<Client> client;
    std::string error;
    long long received = 0;
  };
  std::vector<Sub> subs(6);
  for (size_t i = 0; i < subs.size(); ++i) {
    subs[i].client = std::make_unique<Client>(darter.port(), 20s);
    if (i == 5) REQUIRE(subs[i].client->Cmd({"HELLO", "3"}).type == Reply::Type::kMap);
    Reply r = i < 4 ? subs[i].client->Cmd({"SUBSCRIBE", "storm"}) : subs[i].client->Cmd({"PSUBSCRIBE", "sto*"});
    REQUIRE(r.elements.size() == 3);
  }
  std::vector<std::thread> readers;
  for (auto& s : subs) {
    readers.emplace_back([&s] {
      std::vector<long long> next(kPublishers, 0);
      for (long long n = 0; n < static_cast<long long>(kPublishers) * kMessages; ++n) {
        Reply r = s.client->ReadReply();
        std::string p = Payload(r);
        size_t colon = p.find(':');
        if (p.empty() || colon == std::string::npos) {
          s.error = "unexpected reply " + Format(r) + " after " + std::to_string(n) + " messages";
          return;
        }
        int who = std::stoi(p.substr(1, colon - 1));
        long long seq = std::stoll(p.substr(colon + 1));
        if (who < 0 || who >= kPublishers || seq != next[who]) {
          s.error = "publisher " + std::to_string(who) + ": got #" + std::to_string(seq) + ", expected #" +
                    std::to_string(who >= 0 && who < kPublishers ? next[who] : -1);
          return;
        }
        ++next[who];
        ++s.received;
      }
    });
  }
  std::vector<std::string> pub_errors(kPublishers);
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      Client c(darter.port(), 20s);
      for (int base = 0; base < kMessages; base += kChunk) {
        std::vector<std::vector<std::string>> cmds;
        for (int k = base; k < base + kChunk; ++k)
          cmds.push_back({"PUBLISH", "storm", "p" + std::to_string(p) + ":" + std::to_string(k)});
        for (const Reply& r : c.Pipeline(cmds)) {
          if (r.type != Reply::Type::kInteger || r.integer != 6) {
            pub_errors[p] = "PUBLISH replied " + Format(r) + " (6 receivers expected)";
            return;
          }
        }
      }
    });
  }
  for (auto& t : publishers) t.join();
  for (auto& t : readers) t.join();
  for (int p = 0; p < kPublishers; ++p) CHECK_MESSAGE(pub_errors[p].empty(), "publisher " << p << ": " << pub_errors[p]);
  for (size_t i = 0; i < subs.size(); ++i) {
    CHECK_MESSAGE(subs[i].error.empty(), "subscriber " << i << ": " << subs[i].error);
    CHECK(subs[i].received == static_cast<long long>(kPublishers) * kMessages);
  }
}

TEST_CASE("no message arrives between an UNSUBSCRIBE confirmation and the next SUBSCRIBE's") {
  StartedServer darter = StartDarter(0, {"--threads", "4"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client sub(darter.port(), 20s);
  std::atomic<bool> stop{false};
  std::vector<std::thread> publishers;
  for (int p = 0; p < 2; ++p) {
    publishers.emplace_back([&] {
      Client c(darter.port(), 20s);
      auto deadline = Clock::now() + 30s;
      while (!stop.load() && Clock::now() < deadline) {
        std::vector<std::vector<std::string>> cmds(20, {"PUBLISH", "flip", "m"});
        for (const Reply& r : c.Pipeline(cmds))
          if (r.IsIoError()) return;
      }
    });
  }
  // 300 rounds: SUBSCRIBE, take a few messages, UNSUBSCRIBE while messages are in flight
  // from the publishers' threads, then PING: nothing may come between the UNSUBSCRIBE
  // confirmation and +PONG.
  std::string error;
  long long delivered = 0;
  for (int round = 0; round < 300 && error.empty(); ++round) {
    Reply r = sub.Cmd({"SUBSCRIBE", "flip"});
    if (Format(r) != "[\"subscribe\", \"flip\", :1]") error = "SUBSCRIBE replied " + Format(r);
    for (int k = 0; k < 3 && error.empty(); ++k, ++delivered) {
      r = sub.ReadReply();
      if (r.elements.empty() || r.elements[0].str != "message") error = "expected a message, got " + Format(r);
    }
    sub.Append({"UNSUBSCRIBE", "flip"});
    sub.Append({"PING"});
    sub.Flush();
    while (error.empty()) {  // messages published before the UNSUBSCRIBE ran may precede it
      r = sub.ReadReply();
      if (!r.elements.empty() && r.elements[0].str == "message") continue;
      if (Format(r) != "[\"unsubscribe\", \"flip\", :0]") error = "UNSUBSCRIBE replied " + Format(r);
      break;
    }
    if (error.empty() && Format(r = sub.ReadReply()) != "+PONG")
      error = "round " + std::to_string(round) + ": after the UNSUBSCRIBE confirmation: " + Format(r);
  }
  stop.store(true);
  for (auto& t : publishers) t.join();
  CHECK_MESSAGE(error.empty(), error);
  MESSAGE("messages delivered while subscribed: " << delivered);
}

TEST_CASE("a RESP3 subscriber's replies stay in order while pushes interleave with them") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client sub(darter.port(), 20s);
  REQUIRE(sub.Cmd({"HELLO", "3"}).type == Reply::Type::kMap);
  REQUIRE(sub.Cmd({"SUBSCRIBE", "mix"}).type == Reply::Type::kPush);
  constexpr int kMessages = 4000, kIncrs = 2000, kChunk = 50;
  std::string pub_error;
  std::thread publisher([&] {
    Client c(darter.port(), 20s);
    for (int base = 0; base < kMessages; base += kChunk) {
      std::vector<std::vector<std::string>> cmds;
      for (int k = base; k < base + kChunk; ++k) cmds.push_back({"PUBLISH", "mix", std::to_string(k)});
      for (const Reply& r : c.Pipeline(cmds))
        if (r.type != Reply::Type::kInteger || r.integer != 1) pub_error = "PUBLISH replied " + Format(r);
    }
  });
  long long next_msg = 0, next_incr = 1;
  std::string error;
  auto take = [&](const Reply& r) {
    if (r.type == Reply::Type::kPush) {
      if (Payload(r) != std::to_string(next_msg)) error = "message " + Format(r) + ", expected #" + std::to_string(next_msg);
      ++next_msg;
      return false;
    }
    return true;
  };
  // INCRs on several keys (so, on several shards: some hop to the other thread while
  // messages arrive); each reply must be the next value of its key, in request order.
  for (int base = 0; base < kIncrs && error.empty(); base += kChunk) {
    for (int k = base; k < base + kChunk; ++k) sub.Append({"INCR", "key" + std::to_string(k % 7)});
    sub.Flush();
    for (int k = base; k < base + kChunk && error.empty(); ++k) {
      Reply r = sub.ReadReply();
      while (error.empty() && !r.IsIoError() && !take(r)) r = sub.ReadReply();
      long long want = k / 7 + 1;
      if (r.type != Reply::Type::kInteger || r.integer != want)
        error = "INCR #" + std::to_string(k) + " replied " + Format(r) + ", expected :" + std::to_string(want);
    }
  }
  publisher.join();
  sub.Append({"PING"});
  sub.Flush();
  while (error.empty()) {
    Reply r = sub.ReadReply();
    if (r.IsIoError()) error = Format(r);
    if (take(r)) {
      if (Format(r) != "+PONG") error = "expected +PONG, got " + Format(r);
      break;
    }
  }
  (void)next_incr;
  CHECK_MESSAGE(error.empty(), error);
  CHECK_MESSAGE(pub_error.empty(), pub_error);
  CHECK(next_msg == kMessages);
}

// Publishes `payload` to "flood" in pipelined chunks until nobody receives it (the
// subscriber was cut off) or `max_messages` went out; returns how many were sent.
long long FloodUntilCut(Client& pub, const std::string& payload, long long max_messages,
                        std::chrono::milliseconds pause = 0ms) {
  long long sent = 0;
  while (sent < max_messages) {
    std::vector<std::vector<std::string>> cmds(8, {"PUBLISH", "flood", payload});
    bool cut = false;
    for (const Reply& r : pub.Pipeline(cmds)) {
      ++sent;
      if (r.type == Reply::Type::kInteger && r.integer == 0) cut = true;
      if (r.IsIoError()) return -1;
    }
    if (cut) return sent;
    if (pause.count()) std::this_thread::sleep_for(pause);
  }
  return sent;
}

// Resident set size of process `pid` (from /proc), 0 if unreadable.
long long RssBytes(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/statm");
  long long pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * 4096;
}

// Samples a process's RSS every few milliseconds on its own thread; max() is the peak.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid) : thread_([this, pid] {
      while (!stop_.load()) {
        long long v = RssBytes(pid);
        if (v > max_.load()) max_.store(v);
        std::this_thread::sleep_for(2ms);
      }
    }) {}
  ~RssSampler() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  long long max() const { return max_.load(); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<long long> max_{0};
  std::thread thread_;
};

// A subscriber that stops reading: with "pubsub 4mb 1mb 60" it is disconnected once 4 MB
// are pending (plus what the kernel's socket buffers hold), long before the 200 MB the
// publisher would otherwise push; the server's memory stays bounded. Run against
// redis-server too, to show the test expects what Redis does.
void CheckHardLimit(StartedServer& server, bool darter) {
  Client admin(server.port());
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 4mb 1mb 60"})) == "+OK");
  CHECK(Format(admin.Cmd({"CONFIG", "GET", "client-output-buffer-limit"})) ==
        "[\"client-output-buffer-limit\", \"normal 0 0 0 slave 268435456 67108864 60 pubsub 4194304 1048576 60\"]");
  Client slow(server.port(), 20s);
  REQUIRE(slow.Cmd({"SUBSCRIBE", "flood"}).elements.size() == 3);
  Client reader(server.port());  // a subscriber that keeps reading is not affected
  REQUIRE(reader.Cmd({"SUBSCRIBE", "other"}).elements.size() == 3);
  long long rss_before = RssBytes(server.process->pid());
  Client pub(server.port(), 20s);
  const std::string payload(64 * 1024, 'x');
  RssSampler sampler(server.process->pid());
  long long sent = FloodUntilCut(pub, payload, 3200);  // at most 200 MB
  sampler.Stop();
  REQUIRE_MESSAGE(sent > 0, "the publisher's connection failed");
  CHECK_MESSAGE(sent < 3200, "the slow subscriber was never disconnected");
  MESSAGE(std::string(darter ? "darter" : "redis") << ": cut off after " << sent << " messages of 64 KB; RSS "
                                                   << rss_before / 1024 << " KB, peak " << sampler.max() / 1024
                                                   << " KB");
  // Without the limit the server would hold ~200 MB; ASan builds add ~40 MB of quarantine.
  CHECK(sampler.max() - rss_before < 80ll * 1024 * 1024);
  CHECK(Format(admin.Cmd({"PUBSUB", "NUMSUB", "flood", "other"})) == "[\"flood\", :0, \"other\", :1]");
  CHECK(Format(pub.Cmd({"PUBLISH", "other", "still here"})) == ":1");
  Reply r = reader.ReadReply();
  CHECK(Format(r) == "[\"message\", \"other\", \"still here\"]");
  // The slow client reads what reached its socket, then finds the connection closed.
  bool closed = false;
  for (int i = 0; i < 10000 && !closed; ++i) closed = slow.ReadReply().IsIoError();
  CHECK(closed);
  if (darter) {
    std::ifstream log(server.process->log_path());
    std::stringstream text;
    text << log.rdbuf();
    CHECK(text.str().find("for overcoming of output buffer limits") != std::string::npos);
  }
}

TEST_CASE("a subscriber that stops reading is disconnected at the pubsub hard limit") {
  SUBCASE("darter-server") {
    StartedServer darter = StartDarter(0, {"--threads", "2"});
    REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
    CheckHardLimit(darter, true);
  }
  SUBCASE("redis-server (the reference)") {
    StartedServer redis = StartRedis(0);
    REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
    CheckHardLimit(redis, false);
  }
}

TEST_CASE("a subscriber above the pubsub soft limit for longer than its seconds is disconnected") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client admin(darter.port());
  REQUIRE(Format(admin.Cmd({"CONFIG", "SET", "client-output-buffer-limit", "pubsub 0 512kb 1"})) == "+OK");
  Client slow(darter.port(), 20s);
  REQUIRE(slow.Cmd({"SUBSCRIBE", "flood"}).elements.size() == 3);
  Client pub(darter.port(), 20s);
  const std::string payload(16 * 1024, 'y');
  // 8 x 16 KB every 50 ms: 2.5 MB/s, so above 512 KB (beyond the socket buffers) within a
  // few seconds; the soft limit then needs more than one second. Bounded at 60 s.
  long long sent = FloodUntilCut(pub, payload, 8 * 1200, 50ms);
  CHECK_MESSAGE(sent > 0, "the publisher's connection failed");
  CHECK_MESSAGE(sent < 8 * 1200, "the slow subscriber was never disconnected");
  CHECK(Format(admin.Cmd({"PUBSUB", "NUMSUB", "flood"})) == "[\"flood\", :0]");
}

TEST_CASE("CONFIG SET client-output-buffer-limit validates like Redis") {
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  StartedServer redis = StartRedis(0);
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client d(darter.port()), r(redis.port());
  const std::vector<std::vector<std::string>> cmds = {
      {"CONFIG", "GET", "client-output-buffer-limit"},
      {"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 100kb 10"},
      {"CONFIG", "GET", "client-output-buffer-limit"},
      {"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 100kb"},
      {"CONFIG", "SET", "client-output-buffer-limit", "foo 1mb 100kb 1"},
      {"CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 100kb 1 replica 1 2 3"},
      {"CONFIG", "GET", "client-output-buffer-limit"},
      {"CONFIG", "SET", "client-output-buffer-limit", "pubsub x 100kb 1"},
      {"CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 100kb -1"},
      {"CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60"},
      {"CONFIG", "GET", "client-output-buffer-limit"},
  };
  for (const auto& cmd : cmds) CHECK_MESSAGE(Format(d.Cmd(cmd)) == Format(r.Cmd(cmd)), FormatCommand(cmd));
}

TEST_CASE("a replica delivers its Redis primary's PUBLISH to local subscribers") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0"});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  StartedServer darter = StartDarter(0, {"--threads", "2"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client primary(redis.port()), replica(darter.port());
  REQUIRE(Format(replica.Cmd({"REPLICAOF", "127.0.0.1", std::to_string(redis.port())})) == "+OK");
  REQUIRE_MESSAGE(WaitFor([&] { return InfoStr(replica, "replication", "master_link_status") == "up"; }, 30s),
                  "link not up: " << InfoStr(replica, "replication", "master_last_error"));
  // Two subscribers on the replica (different threads), one by pattern.
  Client s1(darter.port()), s2(darter.port());
  REQUIRE(s1.Cmd({"SUBSCRIBE", "news"}).elements.size() == 3);
  REQUIRE(s2.Cmd({"PSUBSCRIBE", "n*"}).elements.size() == 3);
  // Nobody listens on the primary itself; Redis still propagates PUBLISH to replicas.
  CHECK(Format(primary.Cmd({"PUBLISH", "news", "from the primary"})) == ":0");
  CHECK(Format(s1.ReadReply()) == "[\"message\", \"news\", \"from the primary\"]");
  CHECK(Format(s2.ReadReply()) == "[\"pmessage\", \"n*\", \"news\", \"from the primary\"]");
  // Inside MULTI/EXEC the block's writes apply, then its messages are delivered in order.
  std::vector<Reply> block = primary.Pipeline({{"MULTI"},
                                               {"SET", "k", "1"},
                                               {"PUBLISH", "news", "in a block"},
                                               {"PUBLISH", "nope", "pattern only"},
                                               {"EXEC"}});
  CHECK(Format(block.back()) == "[+OK, :0, :0]");
  CHECK(Format(s1.ReadReply()) == "[\"message\", \"news\", \"in a block\"]");
  CHECK(Format(s2.ReadReply()) == "[\"pmessage\", \"n*\", \"news\", \"in a block\"]");
  CHECK(Format(s2.ReadReply()) == "[\"pmessage\", \"n*\", \"nope\", \"pattern only\"]");
  CHECK(Format(replica.Cmd({"GET", "k"})) == "\"1\"");
  CHECK(InfoStr(replica, "replication", "master_last_error").empty());
  // A client of the replica may publish too (PUBLISH is not a write).
  CHECK(Format(replica.Cmd({"PUBLISH", "news", "local"})) == ":2");
}

}  // namespace
}  // namespace darter::test
