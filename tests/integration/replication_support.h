// Helpers shared by the replication_* and migrate_* integration tests: bounded waits,
// INFO fields, a dataset of every type Darter has registered, a logical dump for
// comparing two servers, a bounded background writer, and a fake primary.
//
// Thread-safety: each helper uses only the Clients it is given; FakePrimary and
// BackgroundWriter run their own thread and are safe to query from the test thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test::repl {

using Clock = std::chrono::steady_clock;

// Polls `pred` every 20 ms until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  while (true) {
    if (pred()) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline std::map<std::string, std::string> Info(Client& c, const std::string& section) {
  std::map<std::string, std::string> out;
  Reply r = c.Cmd({"INFO", section});
  if (r.type != Reply::Type::kString && r.type != Reply::Type::kVerbatim) return out;
  std::string text = r.str;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    size_t colon = line.find(':');
    if (line.empty() || line[0] == '#' || colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

inline long long InfoInt(Client& c, const std::string& section, const std::string& field, long long dflt = -1) {
  auto info = Info(c, section);
  auto it = info.find(field);
  return it == info.end() ? dflt : std::atoll(it->second.c_str());
}

inline std::string InfoStr(Client& c, const std::string& section, const std::string& field) {
  auto info = Info(c, section);
  auto it = info.find(field);
  return it == info.end() ? "" : it->second;
}

// The replica applied everything the primary had when this was called.
inline bool WaitCaughtUp(Client& primary, Client& replica, std::chrono::milliseconds timeout) {
  long long want = InfoInt(primary, "replication", "master_repl_offset");
  return WaitFor(
      [&] {
        return InfoStr(replica, "replication", "master_link_status") == "up" &&
               InfoInt(replica, "replication", "slave_repl_offset") >= want;
      },
      timeout);
}

// Which data families the server registered (COMMAND INFO answers nil for unknown ones).
struct Families {
  bool list = false, set = false, hash = false, zset = false, stream = false, hll = false, bitmap = false;
  std::string Describe() const {
    std::string s = "string";
    for (auto [on, name] : {std::pair{list, "list"}, {set, "set"}, {hash, "hash"}, {zset, "zset"},
                            {stream, "stream"}, {hll, "hyperloglog"}, {bitmap, "bitmap"}})
      s += std::string(on ? " +" : " -") + name;
    return s;
  }
};

// Multi-flow replicas (Darter replicas of a Darter): the sum of the upstream's per-shard
// journal LSNs (DARTER REPLICAOFFSET), which a caught-up replica's slave_repl_offset equals.
inline long long LsnSum(Client& upstream) {
  long long sum = 0;
  for (auto& e : upstream.Cmd({"DARTER", "REPLICAOFFSET"}).elements) sum += e.integer;
  return sum;
}

// The replica applied every shard's journal of `upstream` up to its current LSNs, and
// they are still (nothing in flight).
inline bool FlowsCaughtUp(Client& upstream, Client& replica, std::chrono::milliseconds timeout) {
  return WaitFor(
      [&] {
        long long want = LsnSum(upstream);
        return want > 0 && InfoStr(replica, "replication", "master_link_status") == "up" &&
               InfoStr(replica, "replication", "master_link_state") == "stable_sync" &&
               InfoInt(replica, "replication", "slave_repl_offset") == want && LsnSum(upstream) == want;
      },
      timeout);
}

inline bool HasCommand(Client& c, const std::string& name) {
  Reply r = c.Cmd({"COMMAND", "INFO", name});
  return r.type == Reply::Type::kArray && r.elements.size() == 1 && r.elements[0].type == Reply::Type::kArray;
}

// A family is usable for replication when its commands are registered and a value
// of it survives DUMP + RESTORE (the RDB codec a full sync needs has landed).
inline bool Loadable(Client& c, const std::vector<std::string>& create) {
  const std::string key = create[1];
  c.Cmd({"DEL", key, key + ":copy"});
  if (c.Cmd(create).IsError()) return false;
  Reply dump = c.Cmd({"DUMP", key});
  bool ok = dump.type == Reply::Type::kString &&
            Format(c.Cmd({"RESTORE", key + ":copy", "0", dump.str})) == "+OK";
  c.Cmd({"DEL", key, key + ":copy"});
  return ok;
}

// Every family has landed: a family that stops being usable (its commands gone, or its
// RDB codec broken) must fail the replication tests, not quietly drop out of them.
inline bool AllFamilies(const Families& f) {
  return f.list && f.set && f.hash && f.zset && f.stream && f.hll && f.bitmap;
}

inline Families DetectFamilies(Client& darter) {
  Families f;
  f.list = HasCommand(darter, "rpush") && HasCommand(darter, "lrange") && Loadable(darter, {"RPUSH", "probe:l", "a"});
  f.set = HasCommand(darter, "sadd") && HasCommand(darter, "smembers") && Loadable(darter, {"SADD", "probe:s", "a"});
  f.hash = HasCommand(darter, "hset") && HasCommand(darter, "hgetall") && Loadable(darter, {"HSET", "probe:h", "a", "1"});
  f.zset = HasCommand(darter, "zadd") && HasCommand(darter, "zrange") && Loadable(darter, {"ZADD", "probe:z", "1", "a"});
  f.stream = HasCommand(darter, "xadd") && HasCommand(darter, "xrange") && HasCommand(darter, "xinfo") &&
             Loadable(darter, {"XADD", "probe:x", "1-1", "f", "v"});
  f.hll = HasCommand(darter, "pfadd") && HasCommand(darter, "pfcount");
  f.bitmap = HasCommand(darter, "setbit");
  return f;
}

// Fills `db` of the source with `n` keys of every family in `f`, a third with TTLs;
// a few collections are big enough for non-compact encodings.
inline void FillDb(Client& c, const Families& f, int db, int n, const std::string& prefix = "k") {
  c.Cmd({"SELECT", std::to_string(db)});
  std::vector<std::vector<std::string>> cmds;
  for (int i = 0; i < n; ++i) {
    std::string p = prefix + ":" + std::to_string(db) + ":" + std::to_string(i);
    cmds.push_back({"SET", p + ":str", "value-" + std::to_string(i * 7919)});
    cmds.push_back({"SET", p + ":int", std::to_string(i * 31 - 1000)});
    if (f.list) cmds.push_back({"RPUSH", p + ":list", "a", std::to_string(i), "c", std::string(100, 'x')});
    if (f.set) cmds.push_back({"SADD", p + ":set", "m1", "m2", std::to_string(i), "12345"});
    if (f.hash) cmds.push_back({"HSET", p + ":hash", "f1", "v1", "f2", std::to_string(i), "n", "42"});
    if (f.zset) cmds.push_back({"ZADD", p + ":zset", "1.5", "a", std::to_string(i), "b", "-3", "c", "inf", "d"});
    if (f.stream && i % 4 == 0) {
      cmds.push_back({"XADD", p + ":stream", "1-1", "f", "v"});
      cmds.push_back({"XADD", p + ":stream", "2-1", "f", std::to_string(i), "g", "w"});
      cmds.push_back({"XGROUP", "CREATE", p + ":stream", "grp", "0"});
      cmds.push_back({"XREADGROUP", "GROUP", "grp", "alice", "COUNT", "1", "STREAMS", p + ":stream", ">"});
    }
    if (f.hll && i % 4 == 1) cmds.push_back({"PFADD", p + ":hll", "a", "b", "c", std::to_string(i)});
    if (f.bitmap && i % 4 == 2) cmds.push_back({"SETBIT", p + ":bits", std::to_string(i * 13), "1"});
    if (i % 3 == 0) cmds.push_back({"PEXPIRE", p + ":str", std::to_string(600000 + i)});
    if (i % 3 == 1 && f.hash) cmds.push_back({"EXPIRE", p + ":hash", "3600"});
    if (i % 3 == 2 && f.list) cmds.push_back({"EXPIRE", p + ":list", "7200"});
  }
  // Bigger collections (past the listpack thresholds).
  std::string big = prefix + ":" + std::to_string(db) + ":big";
  for (int i = 0; i < 300; ++i) {
    if (f.list) cmds.push_back({"RPUSH", big + ":list", "item-" + std::to_string(i)});
    if (f.set) cmds.push_back({"SADD", big + ":set", "member-" + std::to_string(i)});
    if (f.set) cmds.push_back({"SADD", big + ":intset", std::to_string(i * 3)});
    if (f.hash) cmds.push_back({"HSET", big + ":hash", "field-" + std::to_string(i), std::to_string(i)});
    if (f.zset) cmds.push_back({"ZADD", big + ":zset", std::to_string(i * 0.25), "m" + std::to_string(i)});
    if (f.stream) cmds.push_back({"XADD", big + ":stream", "*", "i", std::to_string(i)});
  }
  for (size_t i = 0; i < cmds.size(); i += 1000) {
    std::vector<std::vector<std::string>> batch(cmds.begin() + i, cmds.begin() + std::min(cmds.size(), i + 1000));
    c.Pipeline(batch);
  }
  c.Cmd({"SELECT", "0"});
}

inline std::vector<std::string> Strings(const Reply& r) {
  std::vector<std::string> out;
  for (auto& e : r.elements) out.push_back(Format(e));
  return out;
}

// A logical rendering of one key: type, TTL bucket, value independent of encoding.
// The TTL is the absolute deadline (PEXPIRETIME) in buckets: replication carries
// absolute deadlines, so two servers agree however long apart they are read (a relative
// TTL drifts between the two reads and flips a bucket on a loaded machine). Where
// PEXPIRETIME is refused, the TTL left, rounded.
inline std::string DumpKey(Client& c, const std::string& key, long long ttl_bucket_ms) {
  std::string type = c.Cmd({"TYPE", key}).str;
  Reply at = c.Cmd({"PEXPIRETIME", key});
  std::string ttl;
  if (at.type == Reply::Type::kInteger) {
    ttl = at.integer < 0 ? std::to_string(at.integer) : "@" + std::to_string(at.integer / ttl_bucket_ms);
  } else {
    long long pttl = c.Cmd({"PTTL", key}).integer;
    ttl = pttl < 0 ? std::to_string(pttl) : "~" + std::to_string((pttl + ttl_bucket_ms / 2) / ttl_bucket_ms);
  }
  std::string v;
  if (type == "string") v = Format(c.Cmd({"GET", key}));
  else if (type == "list") v = Format(c.Cmd({"LRANGE", key, "0", "-1"}));
  else if (type == "set") {
    auto s = Strings(c.Cmd({"SMEMBERS", key}));
    std::sort(s.begin(), s.end());
    for (auto& x : s) v += x + ",";
  } else if (type == "hash") {
    Reply r = c.Cmd({"HGETALL", key});
    std::vector<std::string> pairs;
    for (size_t i = 0; i + 1 < r.elements.size(); i += 2) pairs.push_back(Format(r.elements[i]) + "=" + Format(r.elements[i + 1]));
    std::sort(pairs.begin(), pairs.end());
    for (auto& x : pairs) v += x + ",";
  } else if (type == "zset") v = Format(c.Cmd({"ZRANGE", key, "0", "-1", "WITHSCORES"}));
  else if (type == "stream") {
    v = Format(c.Cmd({"XRANGE", key, "-", "+"}));
    Reply g = c.Cmd({"XINFO", "GROUPS", key});
    for (auto& grp : g.elements) {
      for (size_t i = 0; i + 1 < grp.elements.size(); i += 2) {
        std::string name = grp.elements[i].str;
        if (name == "name" || name == "consumers" || name == "pending" || name == "last-delivered-id")
          v += "|" + name + "=" + Format(grp.elements[i + 1]);
      }
    }
  }
  return type + " ttl" + ttl + " " + v;
}

// Every key of `db`, rendered by DumpKey (small test datasets only).
inline std::map<std::string, std::string> DumpDb(Client& c, int db, long long ttl_bucket_ms = 60000) {
  std::map<std::string, std::string> out;
  c.Cmd({"SELECT", std::to_string(db)});
  Reply keys = c.Cmd({"KEYS", "*"});
  for (auto& k : keys.elements) out[k.str] = DumpKey(c, k.str, ttl_bucket_ms);
  c.Cmd({"SELECT", "0"});
  return out;
}

// Two DumpKey renderings agree: equal, or equal but for absolute-deadline buckets one
// apart (two deadlines a few ms apart can straddle a bucket boundary).
inline bool SameKeyDump(const std::string& a, const std::string& b) {
  if (a == b) return true;
  size_t sa = a.find(" ttl@"), sb = b.find(" ttl@");
  if (sa == std::string::npos || sa != sb) return false;
  size_t ea = a.find(' ', sa + 5), eb = b.find(' ', sb + 5);
  if (ea == std::string::npos || eb == std::string::npos || a.compare(ea, std::string::npos, b, eb) != 0)
    return false;
  long long ba = std::atoll(a.c_str() + sa + 5), bb = std::atoll(b.c_str() + sb + 5);
  return std::llabs(ba - bb) <= 1;
}

// Differences between two servers over `dbs`, at most `max` lines.
inline std::vector<std::string> CompareServers(Client& a, Client& b, const std::vector<int>& dbs, size_t max = 20) {
  std::vector<std::string> diffs;
  size_t total = 0;
  for (int db : dbs) {
    auto da = DumpDb(a, db), dbb = DumpDb(b, db);
    for (auto& [k, v] : da) {
      auto it = dbb.find(k);
      std::string other = it == dbb.end() ? "(missing)" : it->second;
      if (!SameKeyDump(other, v) && total++ < max) diffs.push_back("db" + std::to_string(db) + " " + k + ": source " + v.substr(0, 200) + " | target " + other.substr(0, 200));
    }
    for (auto& [k, v] : dbb)
      if (!da.count(k) && total++ < max) diffs.push_back("db" + std::to_string(db) + " " + k + ": only on the target: " + v.substr(0, 200));
  }
  if (total > max) diffs.push_back("... " + std::to_string(total - max) + " more");
  return diffs;
}

// A writer that keeps changing keys on `port` until stopped, bounded by `max_ops`
// and `max_time`. It records the last sequence number acknowledged before a moment
// (for the no-lost-write check) and failures (checked on the main thread).
class BackgroundWriter {
 public:
  BackgroundWriter(int port, std::string prefix, const Families& f, int max_ops = 200000,
                   std::chrono::milliseconds max_time = std::chrono::seconds(60))
      : port_(port), prefix_(std::move(prefix)), f_(f), max_ops_(max_ops), max_time_(max_time) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~BackgroundWriter() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  long long acked() const { return acked_.load(); }
  // Sequence numbers acknowledged, with the time of each ack.
  std::vector<std::pair<long long, Clock::time_point>> acks() {
    std::lock_guard lk(mu_);
    return acks_;
  }
  std::string error() {
    std::lock_guard lk(mu_);
    return error_;
  }

 private:
  void Loop() {
    Client c(port_);
    auto deadline = Clock::now() + max_time_;
    for (long long i = 0; i < max_ops_ && !stop_.load() && Clock::now() < deadline; ++i) {
      int db = static_cast<int>(i % 3);
      std::vector<std::vector<std::string>> cmds = {
          {"SELECT", std::to_string(db)},
          {"SET", prefix_ + ":seq:" + std::to_string(i), std::to_string(i)},
          {"INCR", prefix_ + ":counter"},
          {"SET", prefix_ + ":ttl:" + std::to_string(i % 50), std::to_string(i), "PX", std::to_string(300000 + i)}};
      if (f_.list) cmds.push_back({"LPUSH", prefix_ + ":list:" + std::to_string(i % 20), std::to_string(i)});
      if (f_.hash) cmds.push_back({"HSET", prefix_ + ":hash", "f" + std::to_string(i % 100), std::to_string(i)});
      if (f_.set) cmds.push_back({"SADD", prefix_ + ":set", std::to_string(i % 500)});
      if (f_.zset) cmds.push_back({"ZINCRBY", prefix_ + ":zset", "1", "m" + std::to_string(i % 30)});
      if (f_.list && i % 7 == 0) cmds.push_back({"LPOP", prefix_ + ":list:" + std::to_string((i + 3) % 20)});
      if (i % 11 == 0) cmds.push_back({"DEL", prefix_ + ":seq:" + std::to_string(i / 2) + ":none"});
      auto replies = c.Pipeline(cmds);
      if (replies.size() != cmds.size() || replies[1].IsIoError()) {
        std::lock_guard lk(mu_);
        error_ = "writer lost its connection at op " + std::to_string(i);
        return;
      }
      for (auto& r : replies)
        if (r.IsError()) {
          std::lock_guard lk(mu_);
          if (error_.empty()) error_ = "writer got " + Format(r);
        }
      acked_.store(i);
      std::lock_guard lk(mu_);
      acks_.emplace_back(i, Clock::now());
    }
  }

  int port_;
  std::string prefix_;
  Families f_;
  int max_ops_;
  std::chrono::milliseconds max_time_;
  std::atomic<bool> stop_{false};
  std::atomic<long long> acked_{-1};
  std::mutex mu_;
  std::vector<std::pair<long long, Clock::time_point>> acks_;
  std::string error_;
  std::thread thread_;
};

// A listening socket on a free loopback port; *port is 0 when none could be had.
inline int ListenLoopback(int* port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  *port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(fd, 16) == 0) {
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    *port = ntohs(a.sin_port);
  }
  return fd;
}

// Takes the first complete RESP array command off the front of `in`; sets *name to its
// first argument in lower case. False (and `in` unchanged) until one has fully arrived.
// For fake primaries, which see only well-formed replica handshakes.
inline bool TakeCommandName(std::string* in, std::string* name) {
  size_t star = in->find('*');
  if (star == std::string::npos) return false;
  size_t eol = in->find("\r\n", star);
  if (eol == std::string::npos) return false;
  int argc = std::atoi(in->c_str() + star + 1);
  size_t pos = eol + 2;
  std::string first;
  for (int i = 0; i < argc; ++i) {
    size_t e = in->find("\r\n", pos);
    if (e == std::string::npos) return false;
    size_t len = static_cast<size_t>(std::atoi(in->c_str() + pos + 1));
    if (in->size() < e + 2 + len + 2) return false;
    if (i == 0) first = in->substr(e + 2, len);
    pos = e + 2 + len + 2;
  }
  in->erase(0, pos);
  for (auto& ch : first) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  *name = std::move(first);
  return true;
}

// A primary that answers the handshake, then sends +FULLRESYNC and `payload` (the
// RDB transfer: "$<len>\r\n" + bytes, whatever the test wants), then holds the link
// until the replica closes it. Counts connections so a test can see a retry.
class FakePrimary {
 public:
  explicit FakePrimary(std::string payload) : payload_(std::move(payload)) {
    fd_ = ListenLoopback(&port_);
    thread_ = std::thread([this] { Loop(); });
  }
  ~FakePrimary() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }
  int psyncs() const { return psyncs_.load(); }

 private:
  void Loop() {
    while (!stop_.load()) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      connections_++;
      Serve(c);
      close(c);
    }
  }
  void Serve(int c) {
    std::string in;
    char buf[4096];
    auto deadline = Clock::now() + std::chrono::seconds(10);
    bool sent = false;
    while (!stop_.load() && Clock::now() < deadline) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) return;
      in.append(buf, static_cast<size_t>(n));
      if (sent) continue;
      // Answer each complete command in order.
      std::string cmd;
      while (TakeCommandName(&in, &cmd)) {
        std::string out;
        if (cmd == "ping") out = "+PONG\r\n";
        else if (cmd == "psync") {
          psyncs_++;
          out = "+FULLRESYNC 0123456789abcdef0123456789abcdef01234567 100\r\n" + payload_;
          sent = true;
        } else out = "+OK\r\n";
        send(c, out.data(), out.size(), MSG_NOSIGNAL);
        if (sent) break;
      }
    }
  }

  std::string payload_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> psyncs_{0};
  std::thread thread_;
};

}  // namespace darter::test::repl
