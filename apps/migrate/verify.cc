#include "migrate/verify.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <unordered_map>

namespace darter::migrate {

namespace {

constexpr size_t kChunk = 1000;
constexpr long long kWholeFetchLimit = 5000;

std::string Canonical(const redisReply* r) {
  if (!r) return "<io error>";
  switch (r->type) {
    case REDIS_REPLY_ARRAY: {
      std::string out = "[";
      for (size_t i = 0; i < r->elements; ++i) out += (i ? "," : "") + Canonical(r->element[i]);
      return out + "]";
    }
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_INTEGER: return ":" + std::to_string(r->integer);
    case REDIS_REPLY_ERROR: return "-" + std::string(r->str, r->len);
    default: {
      std::string s(r->str, r->len);
      std::string out = "\"";
      for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') out += static_cast<char>(c);
        else {
          char buf[8];
          snprintf(buf, sizeof buf, "\\x%02x", c);
          out += buf;
        }
      }
      return out + "\"";
    }
  }
}

std::string Shorten(std::string s, size_t max = 120) {
  if (s.size() > max) s = s.substr(0, max) + "...";
  return s;
}

std::string Diff(const redisReply* a, const redisReply* b) {
  return "source " + Shorten(Canonical(a)) + " vs target " + Shorten(Canonical(b));
}

std::vector<std::string> Strings(const redisReply* r) {
  std::vector<std::string> out;
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i < r->elements; ++i) out.push_back(ReplyText(r->element[i]));
  return out;
}

bool ScoresEqual(const std::string& a, const std::string& b) {
  if (a == b) return true;
  char* ea = nullptr;
  char* eb = nullptr;
  double x = std::strtod(a.c_str(), &ea), y = std::strtod(b.c_str(), &eb);
  return *ea == 0 && *eb == 0 && (x == y || (std::isnan(x) && std::isnan(y)));
}

// Field → value of a flat [k, v, k, v] or nested [[k, v, ...]] reply, as text.
std::map<std::string, std::string> Fields(const redisReply* r) {
  std::map<std::string, std::string> out;
  if (!r || r->type != REDIS_REPLY_ARRAY) return out;
  for (size_t i = 0; i + 1 < r->elements; i += 2) out[ReplyText(r->element[i])] = Canonical(r->element[i + 1]);
  return out;
}

}  // namespace

Verifier::Verifier(RedisConn& source, RedisConn& target, VerifyOptions options)
    : src_(source), dst_(target), opt_(std::move(options)) {}

// A refusal that no retry or re-check changes: the user lacks the command (ACL), it is
// renamed away, or the connection is not authenticated. It stops the verification with
// that reason instead of turning every key into a "difference".
void Verifier::CheckRefused(const redisReply* r, bool source, const std::vector<std::string>& argv) {
  if (!r || r->type != REDIS_REPLY_ERROR || !result_.error.empty()) return;
  std::string msg(r->str, r->len);
  bool fatal = msg.rfind("NOPERM", 0) == 0 || msg.rfind("NOAUTH", 0) == 0 || msg.rfind("ERR unknown command", 0) == 0;
  if (!fatal) return;
  std::string cmd = argv.empty() ? "?" : argv[0];
  result_.error = std::string(source ? "the source" : "the target") + " refused " + cmd + ": " + msg +
                  (msg.rfind("NOPERM", 0) == 0 ? " (the verifier's user needs +@read, +type, +pttl, +scan, +randomkey)"
                                               : "");
}

ReplyPtr Verifier::SrcCmd(const std::vector<std::string>& argv) {
  ReplyPtr r = src_.Cmd(argv);
  CheckRefused(r.get(), true, argv);
  return r;
}

ReplyPtr Verifier::DstCmd(const std::vector<std::string>& argv) {
  ReplyPtr r = dst_.Cmd(argv);
  CheckRefused(r.get(), false, argv);
  return r;
}

std::vector<ReplyPtr> Verifier::SrcPipe(const std::vector<std::vector<std::string>>& cmds) {
  auto out = src_.Pipeline(cmds);
  for (size_t i = 0; i < out.size(); ++i) CheckRefused(out[i].get(), true, cmds[i]);
  return out;
}

std::vector<ReplyPtr> Verifier::DstPipe(const std::vector<std::vector<std::string>>& cmds) {
  auto out = dst_.Pipeline(cmds);
  for (size_t i = 0; i < out.size(); ++i) CheckRefused(out[i].get(), false, cmds[i]);
  return out;
}

bool Verifier::Select(int db) {
  ReplyPtr a = SrcCmd({"SELECT", std::to_string(db)});
  ReplyPtr b = DstCmd({"SELECT", std::to_string(db)});
  if (!a || !b) {
    result_.error = !a ? src_.error() : dst_.error();
    return false;
  }
  if (IsError(a.get()) || IsError(b.get())) {
    result_.error = "SELECT " + std::to_string(db) + " failed: " + Diff(a.get(), b.get());
    return false;
  }
  return true;
}

int Verifier::DatabaseCount() {
  ReplyPtr r = src_.Cmd({"CONFIG", "GET", "databases"});  // refusal: INFO keyspace below
  if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2) {
    int n = std::atoi(ReplyText(r->element[1]).c_str());
    if (n > 0) return n;
  }
  // CONFIG may be renamed or forbidden: the databases INFO keyspace lists are enough.
  int n = 1;
  for (const auto& [k, v] : src_.Info("keyspace"))
    if (k.rfind("db", 0) == 0) n = std::max(n, std::atoi(k.c_str() + 2) + 1);
  return n;
}

void Verifier::Record(int db, const std::string& key, const std::string& what) {
  (void)what;
  if (!result_.error.empty()) return;  // a refusal, not a difference
  if (suspects_.size() < opt_.max_recheck_keys) suspects_.emplace_back(db, key);
  else suspects_dropped_++;
}

std::optional<std::string> Verifier::CompareString(const std::string& key) {
  auto a = SrcPipe({{"GET", key}});
  auto b = DstPipe({{"GET", key}});
  if (a.size() != 1 || b.size() != 1) return "I/O error: " + (a.size() != 1 ? src_.error() : dst_.error());
  if (a[0]->type == REDIS_REPLY_STRING && b[0]->type == REDIS_REPLY_STRING && a[0]->len == b[0]->len &&
      std::equal(a[0]->str, a[0]->str + a[0]->len, b[0]->str)) {
    // A HyperLogLog is a string in Redis's own encoding: equal bytes, and the same count.
    if (a[0]->len >= 4 && std::string(a[0]->str, 4) == "HYLL") {
      ReplyPtr ca = SrcCmd({"PFCOUNT", key});
      ReplyPtr cb = DstCmd({"PFCOUNT", key});
      if (Canonical(ca.get()) != Canonical(cb.get())) return "PFCOUNT " + Diff(ca.get(), cb.get());
    }
    return std::nullopt;
  }
  return "value: " + Diff(a[0].get(), b[0].get());
}

std::optional<std::string> Verifier::CompareList(const std::string& key) {
  ReplyPtr la = SrcCmd({"LLEN", key});
  ReplyPtr lb = DstCmd({"LLEN", key});
  if (Canonical(la.get()) != Canonical(lb.get())) return "LLEN " + Diff(la.get(), lb.get());
  long long n = la ? la->integer : 0;
  for (long long i = 0; i < n; i += kChunk) {
    std::vector<std::string> cmd = {"LRANGE", key, std::to_string(i), std::to_string(i + kChunk - 1)};
    ReplyPtr a = SrcCmd(cmd);
    ReplyPtr b = DstCmd(cmd);
    if (Canonical(a.get()) != Canonical(b.get()))
      return "LRANGE " + std::to_string(i) + " " + std::to_string(i + kChunk - 1) + ": " + Diff(a.get(), b.get());
  }
  return std::nullopt;
}

std::optional<std::string> Verifier::CompareSetLike(const std::string& key, bool hash) {
  const char* card = hash ? "HLEN" : "SCARD";
  ReplyPtr ca = SrcCmd({card, key});
  ReplyPtr cb = DstCmd({card, key});
  if (Canonical(ca.get()) != Canonical(cb.get())) return std::string(card) + " " + Diff(ca.get(), cb.get());
  long long n = ca ? ca->integer : 0;
  if (n <= kWholeFetchLimit) {
    std::vector<std::string> cmd = {hash ? "HGETALL" : "SMEMBERS", key};
    ReplyPtr a = SrcCmd(cmd);
    ReplyPtr b = DstCmd(cmd);
    auto sa = Strings(a.get()), sb = Strings(b.get());
    if (hash) {
      // Sort field/value pairs, not single strings.
      auto pairs = [](const std::vector<std::string>& v) {
        std::vector<std::pair<std::string, std::string>> p;
        for (size_t i = 0; i + 1 < v.size(); i += 2) p.emplace_back(v[i], v[i + 1]);
        std::sort(p.begin(), p.end());
        return p;
      };
      auto pa = pairs(sa), pb = pairs(sb);
      if (pa == pb) return std::nullopt;
      for (size_t i = 0; i < std::min(pa.size(), pb.size()); ++i)
        if (pa[i] != pb[i])
          return "field '" + Shorten(pa[i].first, 60) + "' = '" + Shorten(pa[i].second, 60) + "' on the source, '" +
                 Shorten(pb[i].first, 60) + "' = '" + Shorten(pb[i].second, 60) + "' on the target";
      return "HGETALL differs in size";
    }
    std::sort(sa.begin(), sa.end());
    std::sort(sb.begin(), sb.end());
    if (sa == sb) return std::nullopt;
    for (size_t i = 0; i < std::min(sa.size(), sb.size()); ++i)
      if (sa[i] != sb[i]) return "member '" + Shorten(sa[i], 60) + "' vs '" + Shorten(sb[i], 60) + "'";
    return "SMEMBERS differs in size";
  }
  // Big: equal cardinality, and every member the source has is on the target with
  // the same value, means equal. SSCAN/HSCAN may repeat members; that is harmless here.
  std::string cursor = "0";
  do {
    ReplyPtr r = SrcCmd({hash ? "HSCAN" : "SSCAN", key, cursor, "COUNT", std::to_string(kChunk)});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return "SSCAN/HSCAN failed on the source";
    cursor = ReplyText(r->element[0]);
    auto items = Strings(r->element[1]);
    if (hash) {
      std::vector<std::string> cmd = {"HMGET", key};
      std::vector<std::string> values;
      for (size_t i = 0; i + 1 < items.size(); i += 2) {
        cmd.push_back(items[i]);
        values.push_back(items[i + 1]);
      }
      if (values.empty()) continue;
      ReplyPtr b = DstCmd(cmd);
      auto got = Strings(b.get());
      for (size_t i = 0; i < values.size(); ++i)
        if (i >= got.size() || got[i] != values[i] || b->element[i]->type == REDIS_REPLY_NIL)
          return "field '" + Shorten(cmd[i + 2], 60) + "': '" + Shorten(values[i], 60) + "' on the source, " +
                 (i < got.size() ? "'" + Shorten(got[i], 60) + "'" : "missing") + " on the target";
    } else {
      std::vector<std::vector<std::string>> cmds;
      for (auto& m : items) cmds.push_back({"SISMEMBER", key, m});
      auto replies = DstPipe(cmds);
      if (replies.size() != cmds.size()) return "I/O error: " + dst_.error();
      for (size_t i = 0; i < replies.size(); ++i)
        if (replies[i]->type != REDIS_REPLY_INTEGER || replies[i]->integer != 1)
          return "member '" + Shorten(items[i], 60) + "' missing on the target";
    }
  } while (cursor != "0");
  return std::nullopt;
}

std::optional<std::string> Verifier::CompareZset(const std::string& key) {
  ReplyPtr ca = SrcCmd({"ZCARD", key});
  ReplyPtr cb = DstCmd({"ZCARD", key});
  if (Canonical(ca.get()) != Canonical(cb.get())) return "ZCARD " + Diff(ca.get(), cb.get());
  long long n = ca ? ca->integer : 0;
  for (long long i = 0; i < n; i += kChunk) {
    std::vector<std::string> cmd = {"ZRANGE", key, std::to_string(i), std::to_string(i + kChunk - 1), "WITHSCORES"};
    ReplyPtr a = SrcCmd(cmd);
    ReplyPtr b = DstCmd(cmd);
    auto sa = Strings(a.get()), sb = Strings(b.get());
    if (sa.size() != sb.size()) return "ZRANGE " + std::to_string(i) + ": " + Diff(a.get(), b.get());
    for (size_t j = 0; j + 1 < sa.size(); j += 2)
      if (sa[j] != sb[j] || !ScoresEqual(sa[j + 1], sb[j + 1]))
        return "rank " + std::to_string(i + static_cast<long long>(j / 2)) + ": '" + Shorten(sa[j], 60) + "' " +
               sa[j + 1] + " on the source, '" + Shorten(sb[j], 60) + "' " + sb[j + 1] + " on the target";
  }
  return std::nullopt;
}

std::optional<std::string> Verifier::CompareStream(const std::string& key) {
  ReplyPtr la = SrcCmd({"XLEN", key});
  ReplyPtr lb = DstCmd({"XLEN", key});
  if (Canonical(la.get()) != Canonical(lb.get())) return "XLEN " + Diff(la.get(), lb.get());
  std::string start = "-";
  while (true) {
    std::vector<std::string> cmd = {"XRANGE", key, start, "+", "COUNT", std::to_string(kChunk)};
    ReplyPtr a = SrcCmd(cmd);
    ReplyPtr b = DstCmd(cmd);
    if (Canonical(a.get()) != Canonical(b.get())) return "XRANGE from " + start + ": " + Diff(a.get(), b.get());
    if (!a || a->type != REDIS_REPLY_ARRAY || a->elements < kChunk) break;
    const redisReply* last = a->element[a->elements - 1];
    if (last->type != REDIS_REPLY_ARRAY || last->elements < 1) break;
    start = "(" + ReplyText(last->element[0]);
  }
  // Consumer groups: the fields both servers report must agree.
  ReplyPtr ga = SrcCmd({"XINFO", "GROUPS", key});
  ReplyPtr gb = DstCmd({"XINFO", "GROUPS", key});
  if (!ga || !gb || ga->type != REDIS_REPLY_ARRAY || gb->type != REDIS_REPLY_ARRAY)
    return "XINFO GROUPS " + Diff(ga.get(), gb.get());
  if (ga->elements != gb->elements) return "XINFO GROUPS count " + Diff(ga.get(), gb.get());
  std::map<std::string, std::map<std::string, std::string>> groups_a, groups_b;
  for (size_t i = 0; i < ga->elements; ++i) {
    auto f = Fields(ga->element[i]);
    groups_a[f["name"]] = f;
  }
  for (size_t i = 0; i < gb->elements; ++i) {
    auto f = Fields(gb->element[i]);
    groups_b[f["name"]] = f;
  }
  for (auto& [name, fa] : groups_a) {
    auto it = groups_b.find(name);
    if (it == groups_b.end()) return "consumer group " + name + " missing on the target";
    for (const char* field : {"consumers", "pending", "last-delivered-id", "entries-read"}) {
      auto x = fa.find(field), y = it->second.find(field);
      if (x != fa.end() && y != it->second.end() && x->second != y->second)
        return "group " + name + " " + field + ": source " + x->second + " vs target " + y->second;
    }
  }
  // Consumers and their pending counts, per group.
  for (auto& [name, fa] : groups_a) {
    std::string g = name.size() >= 2 && name.front() == '"' ? name.substr(1, name.size() - 2) : name;
    ReplyPtr ca = SrcCmd({"XINFO", "CONSUMERS", key, g});
    ReplyPtr cb = DstCmd({"XINFO", "CONSUMERS", key, g});
    std::map<std::string, std::string> pa, pb;
    if (ca && ca->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i < ca->elements; ++i) {
        auto f = Fields(ca->element[i]);
        pa[f["name"]] = f["pending"];
      }
    if (cb && cb->type == REDIS_REPLY_ARRAY)
      for (size_t i = 0; i < cb->elements; ++i) {
        auto f = Fields(cb->element[i]);
        pb[f["name"]] = f["pending"];
      }
    if (pa != pb) return "group " + g + " consumers differ: " + Diff(ca.get(), cb.get());
  }
  return std::nullopt;
}

std::optional<std::string> Verifier::CompareValue(const std::string& key, const std::string& type) {
  if (type == "string") return CompareString(key);
  if (type == "list") return CompareList(key);
  if (type == "set") return CompareSetLike(key, false);
  if (type == "hash") return CompareSetLike(key, true);
  if (type == "zset") return CompareZset(key);
  if (type == "stream") return CompareStream(key);
  return "type '" + type + "' cannot be compared (module type?)";
}

std::optional<std::string> Verifier::CompareKey(const std::string& key) {
  auto a = SrcPipe({{"TYPE", key}, {"PTTL", key}});
  auto b = DstPipe({{"TYPE", key}, {"PTTL", key}});
  if (a.size() != 2 || b.size() != 2) return "I/O error: " + (a.size() != 2 ? src_.error() : dst_.error());
  std::string ta = ReplyText(a[0].get()), tb = ReplyText(b[0].get());
  if (ta == "none" && tb == "none") return std::string();
  if (ta == "none") return "only on the target (type " + tb + ")";
  if (tb == "none") return "missing on the target (type " + ta + ")";
  if (ta != tb) return "type " + ta + " on the source, " + tb + " on the target";
  long long pa = a[1]->integer, pb = b[1]->integer;
  if ((pa < 0) != (pb < 0) || (pa >= 0 && std::llabs(pa - pb) > opt_.ttl_tolerance_ms))
    return "TTL " + std::to_string(pa) + " ms on the source, " + std::to_string(pb) + " ms on the target";
  return CompareValue(key, ta);
}

void Verifier::CheckBatch(int db, const std::vector<std::string>& keys, bool count_types) {
  // One pipeline of TYPE+PTTL per side for the whole batch, one of GET for its
  // strings; only collections are compared key by key (in chunks).
  std::vector<std::vector<std::string>> meta;
  for (const auto& k : keys) {
    meta.push_back({"TYPE", k});
    meta.push_back({"PTTL", k});
  }
  auto a = SrcPipe(meta);
  auto b = DstPipe(meta);
  if (a.size() != meta.size() || b.size() != meta.size()) {
    result_.error = "I/O error during verification: " + (a.size() != meta.size() ? src_.error() : dst_.error());
    return;
  }
  if (!result_.error.empty()) return;
  std::vector<size_t> strings;
  for (size_t i = 0; i < keys.size() && result_.error.empty(); ++i) {
    std::string ta = ReplyText(a[2 * i].get()), tb = ReplyText(b[2 * i].get());
    if (count_types && ta != "none") result_.source_counts[db][ta]++;
    if (ta == "none" && tb == "none") continue;  // gone from both since the scan
    result_.keys_checked++;
    std::string diff;
    long long pa = a[2 * i + 1]->integer, pb = b[2 * i + 1]->integer;
    if (ta == "none") diff = "only on the target (type " + tb + ")";
    else if (tb == "none") diff = "missing on the target (type " + ta + ")";
    else if (ta != tb) diff = "type " + ta + " on the source, " + tb + " on the target";
    else if ((pa < 0) != (pb < 0) || (pa >= 0 && std::llabs(pa - pb) > opt_.ttl_tolerance_ms))
      diff = "TTL " + std::to_string(pa) + " ms on the source, " + std::to_string(pb) + " ms on the target";
    if (!diff.empty()) {
      Record(db, keys[i], diff);
      continue;
    }
    if (ta == "string") {
      strings.push_back(i);
      continue;
    }
    auto d = CompareValue(keys[i], ta);
    if (d) Record(db, keys[i], *d);
  }
  std::vector<std::vector<std::string>> gets;
  if (!result_.error.empty()) return;
  for (size_t i : strings) gets.push_back({"GET", keys[i]});
  auto ga = SrcPipe(gets);
  auto gb = DstPipe(gets);
  if (ga.size() != gets.size() || gb.size() != gets.size()) {
    result_.error = "I/O error during verification: " + (ga.size() != gets.size() ? src_.error() : dst_.error());
    return;
  }
  if (!result_.error.empty()) return;
  for (size_t j = 0; j < strings.size(); ++j) {
    const redisReply* x = ga[j].get();
    const redisReply* y = gb[j].get();
    bool equal = x->type == y->type && (x->type != REDIS_REPLY_STRING ||
                                        (x->len == y->len && std::equal(x->str, x->str + x->len, y->str)));
    if (!equal) Record(db, keys[strings[j]], "value: " + Diff(x, y));
    else if (x->type == REDIS_REPLY_STRING && x->len >= 4 && std::string(x->str, 4) == "HYLL") {
      auto d = CompareString(keys[strings[j]]);  // adds the PFCOUNT comparison
      if (d) Record(db, keys[strings[j]], *d);
    }
  }
  if (opt_.on_progress) opt_.on_progress(result_.keys_checked);
}

void Verifier::ScanTargetForExtras(int db) {
  std::string cursor = "0";
  do {
    ReplyPtr r = DstCmd({"SCAN", cursor, "COUNT", std::to_string(opt_.scan_count)});
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      result_.error = "SCAN on the target failed: " + (r ? Canonical(r.get()) : dst_.error());
      return;
    }
    cursor = ReplyText(r->element[0]);
    auto keys = Strings(r->element[1]);
    std::vector<std::vector<std::string>> types, exists;
    for (auto& k : keys) {
      types.push_back({"TYPE", k});
      exists.push_back({"EXISTS", k});
    }
    auto t = DstPipe(types);
    auto e = SrcPipe(exists);
    if (t.size() != keys.size() || e.size() != keys.size()) {
      result_.error = "I/O error while scanning the target";
      return;
    }
    if (!result_.error.empty()) return;
    for (size_t i = 0; i < keys.size(); ++i) {
      std::string type = ReplyText(t[i].get());
      if (type != "none") result_.target_counts[db][type]++;
      if (type != "none" && e[i]->integer == 0) Record(db, keys[i], "only on the target");
    }
  } while (cursor != "0");
}

VerifyResult Verifier::Run() {
  auto t0 = std::chrono::steady_clock::now();
  result_ = VerifyResult{};
  result_.ran = true;
  result_.sampled = opt_.sample > 0;
  // Redis 7.2+: reads on these connections leave the keys' LRU/LFU clock alone. Older
  // servers (and Darter) refuse it; their value reads touch keys like any client's.
  ReplyPtr nt = src_.Cmd({"CLIENT", "NO-TOUCH", "ON"});
  result_.no_touch = nt && nt->type == REDIS_REPLY_STATUS;
  dst_.Cmd({"CLIENT", "NO-TOUCH", "ON"});
  int dbs = DatabaseCount();
  // Keys per database on the source, for sampling in proportion.
  std::vector<long long> sizes(dbs, 0);
  long long total = 0;
  for (int db = 0; db < dbs && result_.error.empty(); ++db) {
    if (!Select(db)) break;
    ReplyPtr a = SrcCmd({"DBSIZE"});
    ReplyPtr b = DstCmd({"DBSIZE"});
    sizes[db] = a && a->type == REDIS_REPLY_INTEGER ? a->integer : 0;
    long long tsize = b && b->type == REDIS_REPLY_INTEGER ? b->integer : 0;
    total += sizes[db];
    if (sizes[db] == 0 && tsize == 0) continue;
    if (opt_.sample == 0) {
      std::string cursor = "0";
      do {
        ReplyPtr r = SrcCmd({"SCAN", cursor, "COUNT", std::to_string(opt_.scan_count)});
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
          result_.error = "SCAN on the source failed: " + (r ? Canonical(r.get()) : src_.error());
          break;
        }
        cursor = ReplyText(r->element[0]);
        auto keys = Strings(r->element[1]);
        CheckBatch(db, keys, true);
      } while (cursor != "0" && result_.error.empty());
      if (result_.error.empty()) ScanTargetForExtras(db);
    }
  }
  if (opt_.sample > 0 && result_.error.empty()) {
    for (int db = 0; db < dbs && result_.error.empty(); ++db) {
      if (sizes[db] == 0) continue;
      uint64_t n = std::max<uint64_t>(1, opt_.sample * sizes[db] / std::max<long long>(total, 1));
      if (!Select(db)) break;
      std::vector<std::vector<std::string>> cmds(n, std::vector<std::string>{"RANDOMKEY"});
      auto keys_r = SrcPipe(cmds);
      if (keys_r.size() != cmds.size() && result_.error.empty())
        result_.error = "I/O error during verification: " + src_.error();
      if (!result_.error.empty()) break;
      std::vector<std::string> keys;
      for (auto& r : keys_r)
        if (r && r->type == REDIS_REPLY_STRING) keys.push_back(ReplyText(r.get()));
      std::sort(keys.begin(), keys.end());
      keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
      std::vector<std::vector<std::string>> types;
      for (auto& k : keys) types.push_back({"TYPE", k});
      auto tt = DstPipe(types);
      for (size_t i = 0; i < tt.size(); ++i) {
        std::string type = ReplyText(tt[i].get());
        if (type != "none") result_.target_counts[db][type]++;
      }
      CheckBatch(db, keys, true);
    }
  }
  // Re-check what differed, after the target caught up with the writes made meanwhile.
  for (size_t round = 0; round < opt_.recheck_rounds && !suspects_.empty() && result_.error.empty(); ++round) {
    if (opt_.wait_caught_up && !opt_.wait_caught_up()) break;
    std::vector<std::pair<int, std::string>> again;
    std::vector<Mismatch> found;
    // SCAN may return a key twice (rehashing), and a key can be suspected by both scans:
    // each difference counts and is listed once.
    std::sort(suspects_.begin(), suspects_.end());
    suspects_.erase(std::unique(suspects_.begin(), suspects_.end()), suspects_.end());
    int current = -1;
    for (auto& [db, key] : suspects_) {
      if (db != current) {
        if (!Select(db)) break;
        current = db;
      }
      if (!result_.error.empty()) break;
      result_.keys_rechecked++;
      auto diff = CompareKey(key);
      if (diff && !diff->empty()) {
        again.emplace_back(db, key);
        found.push_back({db, key, *diff});
      }
    }
    suspects_ = std::move(again);
    if (round + 1 == opt_.recheck_rounds || suspects_.empty() || !opt_.wait_caught_up) {
      result_.mismatches = found.size() + suspects_dropped_;
      for (size_t i = 0; i < found.size() && i < opt_.show; ++i) result_.first.push_back(found[i]);
      break;
    }
  }
  if (!suspects_.empty() && result_.mismatches == 0 && result_.error.empty()) {
    // Rechecks could not run (no catch-up function or it failed): report as found.
    std::sort(suspects_.begin(), suspects_.end());
    suspects_.erase(std::unique(suspects_.begin(), suspects_.end()), suspects_.end());
    result_.mismatches = suspects_.size() + suspects_dropped_;
    for (size_t i = 0; i < suspects_.size() && i < opt_.show; ++i) {
      Select(suspects_[i].first);
      auto diff = CompareKey(suspects_[i].second);
      result_.first.push_back({suspects_[i].first, suspects_[i].second, diff ? *diff : "differed during the scan"});
    }
  }
  if (!result_.error.empty()) {
    // A refusal: the differences seen so far may be the refusal's echoes, not data.
    result_.mismatches = 0;
    result_.first.clear();
  } else if (result_.keys_checked == 0 && total > 0) {
    result_.error = "no key was checked although the source has " + std::to_string(total) +
                    " (keys vanished, or the source answered nothing usable): verification did not happen";
  }
  Select(0);
  result_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result_;
}

}  // namespace darter::migrate
