// Rows of the blocking commands and their non-blocking forms (see blocking_forms.h).
//
// A blocking command's op wraps the op of the command it is a form of (BLPOP k1 k2 t is
// LMPOP 2 k1 k2 LEFT, BZPOPMIN is ZMPOP ... MIN, BLMOVE is LMOVE): the wrapper checks the
// timeout in Redis's order, maps key positions between the two argument lists, lets the
// inner op do the work and reshapes the reply. The inner op's effects are journaled as the
// inner command when it did not rewrite them itself (LMPOP 1 k LEFT, never BLPOP).
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/blocking_forms.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::store {
namespace blocking {

std::string ParseTimeoutSeconds(std::string_view arg, int64_t* ms) {
  constexpr std::string_view kNotFloat = "ERR timeout is not a float or out of range";
  constexpr std::string_view kNegative = "ERR timeout is negative";
  // Redis's string2ld: no surrounding spaces, the whole argument, no NaN, no overflow.
  if (arg.empty() || arg.size() > 5 * 1024 || std::isspace(static_cast<unsigned char>(arg.front())) ||
      std::isspace(static_cast<unsigned char>(arg.back())))
    return std::string(kNotFloat);
  std::string buf(arg);
  errno = 0;
  char* end = nullptr;
  long double v = std::strtold(buf.c_str(), &end);
  if (end != buf.c_str() + buf.size() || std::isnan(v) ||
      (errno == ERANGE && (v == HUGE_VALL || v == -HUGE_VALL || v == 0)))
    return std::string(kNotFloat);
  long double m = v * 1000.0L;
  // Redis 7.0 rounds up to whole milliseconds (so -0.0001 is 0: forever); a value
  // beyond long long becomes LLONG_MIN there, hence "negative".
  if (!(m < 9.2e18L) || !(m > -9.2e18L)) return std::string(kNegative);
  int64_t t = static_cast<int64_t>(std::ceil(m));
  if (t < 0) return std::string(kNegative);
  *ms = t;
  return {};
}

std::string ParseTimeoutMillis(std::string_view arg, int64_t* ms) {
  auto t = ParseInt64(arg);
  if (!t) return "ERR timeout is not an integer or out of range";
  if (*t < 0) return "ERR timeout is negative";
  *ms = *t;
  return {};
}

bool IsNullReply(std::string_view r) { return r == "$-1\r\n" || r == "*-1\r\n" || r == "_\r\n"; }

namespace {

// Numkeys at args[numkeys_arg]; keys follow. Empty when invalid.
std::vector<size_t> NumKeysAt(ArgList args, size_t numkeys_arg) {
  std::vector<size_t> keys;
  if (numkeys_arg >= args.size()) return keys;
  auto n = ParseInt64(args[numkeys_arg]);
  if (!n || *n < 1 || static_cast<uint64_t>(*n) >= args.size() - numkeys_arg) return keys;
  for (int64_t i = 0; i < *n; ++i) keys.push_back(numkeys_arg + 1 + static_cast<size_t>(i));
  return keys;
}

std::vector<size_t> BlmpopKeys(ArgList args) { return NumKeysAt(args, 2); }

bool IsEnd(std::string_view a) { return EqualsIgnoreCase(a, "left") || EqualsIgnoreCase(a, "right"); }

Kind KindOf(std::string_view name) {
  std::string n = ToLower(name);
  if (n == "blpop") return Kind::kBlpop;
  if (n == "brpop") return Kind::kBrpop;
  if (n == "blmpop") return Kind::kBlmpop;
  if (n == "bzpopmin") return Kind::kBzpopmin;
  if (n == "bzpopmax") return Kind::kBzpopmax;
  if (n == "bzmpop") return Kind::kBzmpop;
  if (n == "blmove") return Kind::kBlmove;
  if (n == "brpoplpush") return Kind::kBrpoplpush;
  if (n == "xreadgroup") return Kind::kXreadgroup;
  return Kind::kXread;
}

// Position of STREAMS' first key, the BLOCK timeout, and whether BLOCK was given.
struct XreadShape {
  size_t streams_arg = 0;
  bool block = false;
  int64_t block_ms = 0;
};

bool ParseXreadShape(ArgList args, XreadShape* x) {
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view o = args[i];
    bool more = i + 1 < args.size();
    if (EqualsIgnoreCase(o, "block") && more) {
      auto t = ParseInt64(args[++i]);
      if (!t || *t < 0) return false;
      x->block = true;
      x->block_ms = *t;
    } else if (EqualsIgnoreCase(o, "count") && more) {
      ++i;
    } else if (EqualsIgnoreCase(o, "group") && i + 2 < args.size()) {
      i += 2;
    } else if (EqualsIgnoreCase(o, "noack")) {
    } else if (EqualsIgnoreCase(o, "streams") && more) {
      x->streams_arg = i + 1;
      return (args.size() - x->streams_arg) % 2 == 0;
    } else {
      return false;
    }
  }
  return false;
}

}  // namespace

std::optional<BlockingCall> ParseBlockingCall(ArgList args) {
  BlockingCall c;
  c.kind = KindOf(args[0]);
  std::string_view timeout;
  switch (c.kind) {
    case Kind::kBlpop:
    case Kind::kBrpop:
    case Kind::kBzpopmin:
    case Kind::kBzpopmax:
      if (args.size() < 3) return std::nullopt;
      for (size_t i = 1; i + 1 < args.size(); ++i) c.key_args.push_back(i);
      timeout = args.back();
      break;
    case Kind::kBlmpop:
    case Kind::kBzmpop:
      c.key_args = NumKeysAt(args, 2);
      if (c.key_args.empty()) return std::nullopt;
      timeout = args[1];
      break;
    case Kind::kBlmove:
      if (args.size() != 6) return std::nullopt;
      c.key_args = {1};
      c.moves = true;
      timeout = args[5];
      break;
    case Kind::kBrpoplpush:
      if (args.size() != 4) return std::nullopt;
      c.key_args = {1};
      c.moves = true;
      timeout = args[3];
      break;
    case Kind::kXread:
    case Kind::kXreadgroup: {
      XreadShape x;
      if (!ParseXreadShape(args, &x) || !x.block) return std::nullopt;
      size_t n = (args.size() - x.streams_arg) / 2;
      if (n == 0) return std::nullopt;
      c.stream = true;
      c.stream_ids_arg = x.streams_arg + n;
      for (size_t i = 0; i < n; ++i) {
        c.key_args.push_back(x.streams_arg + i);
        // XREADGROUP with a history id is served at once (no waiting).
        if (c.kind == Kind::kXreadgroup && args[c.stream_ids_arg + i] != ">") return std::nullopt;
      }
      c.timeout_ms = x.block_ms;
      return c;
    }
  }
  c.list_type = c.kind == Kind::kBlpop || c.kind == Kind::kBrpop || c.kind == Kind::kBlmpop ||
                c.kind == Kind::kBlmove || c.kind == Kind::kBrpoplpush;
  if (!ParseTimeoutSeconds(timeout, &c.timeout_ms).empty()) return std::nullopt;
  return c;
}

std::vector<std::string> ServeCommand(const BlockingCall& call, ArgList args, size_t key_arg,
                                      std::string_view stream_id) {
  std::string key(args[key_arg]);
  switch (call.kind) {
    case Kind::kBlpop:
      return {"LPOP", key};
    case Kind::kBrpop:
      return {"RPOP", key};
    case Kind::kBzpopmin:
      return {"ZPOPMIN", key};
    case Kind::kBzpopmax:
      return {"ZPOPMAX", key};
    case Kind::kBlmpop: {
      // BLMPOP t numkeys k... LEFT|RIGHT [COUNT c]: the arguments were validated.
      size_t dir = call.key_args.back() + 1;
      std::string count = dir + 2 < args.size() ? std::string(args[dir + 2]) : "1";
      return {EqualsIgnoreCase(args[dir], "left") ? "LPOP" : "RPOP", key, count};
    }
    case Kind::kBzmpop: {
      std::vector<std::string> out{"ZMPOP", "1", key};
      for (size_t i = call.key_args.back() + 1; i < args.size(); ++i) out.emplace_back(args[i]);
      return out;
    }
    case Kind::kBlmove:
    case Kind::kBrpoplpush:
      return {};
    case Kind::kXread:
    case Kind::kXreadgroup: {
      std::vector<std::string> out{std::string(args[0])};
      for (size_t i = 1; i + 1 < call.key_args.front(); ++i) {
        if (EqualsIgnoreCase(args[i], "block")) {
          ++i;
          continue;
        }
        out.emplace_back(args[i]);
      }
      out.emplace_back("STREAMS");
      out.push_back(key);
      out.emplace_back(call.kind == Kind::kXreadgroup ? std::string_view(">") : stream_id);
      return out;
    }
  }
  return {};
}

void ServeReply(Kind kind, std::string_view key, std::string* reply) {
  std::string head = "$" + std::to_string(key.size()) + "\r\n" + std::string(key) + "\r\n";
  switch (kind) {
    case Kind::kBlpop:
    case Kind::kBrpop:
    case Kind::kBlmpop:  // [key, element] / [key, [elements]]
      *reply = "*2\r\n" + head + *reply;
      return;
    case Kind::kBzpopmin:
    case Kind::kBzpopmax:  // ZPOPMIN's [member, score] -> [key, member, score]
      if (reply->compare(0, 4, "*2\r\n") == 0) *reply = "*3\r\n" + head + reply->substr(4);
      return;
    default:
      return;
  }
}

void TransformReply(Kind kind, std::string_view key, std::string* reply) {
  if (kind != Kind::kBlpop && kind != Kind::kBrpop && kind != Kind::kBzpopmin && kind != Kind::kBzpopmax) return;
  // The inner reply is "*2\r\n$<len>\r\n<key>\r\n*1\r\n" followed by one element: [e]
  // for LMPOP, [[m, s]] (header "*2\r\n") for ZMPOP.
  std::string head = "*2\r\n$" + std::to_string(key.size()) + "\r\n" + std::string(key) + "\r\n";
  if (reply->compare(0, head.size(), head) != 0) return;
  std::string_view rest = std::string_view(*reply).substr(head.size());
  if (kind == Kind::kBlpop || kind == Kind::kBrpop) {
    if (rest.substr(0, 4) != "*1\r\n") return;
    *reply = head + std::string(rest.substr(4));
    return;
  }
  if (rest.substr(0, 8) != "*1\r\n*2\r\n") return;
  std::string out = "*3" + head.substr(2);
  out.append(rest.substr(8));
  *reply = std::move(out);
}

namespace {

// The non-blocking form of a blocking command: the inner command's op on rewritten args.
class NonBlockingOp : public MultiShardOp {
 public:
  explicit NonBlockingOp(ArgList args) : kind_(KindOf(args[0])) {
    const char* inner_name = nullptr;
    std::string_view timeout;
    size_t n = args.size();
    inner_.emplace_back();  // name, set below
    auto key = [&](size_t outer) {
      inner_of_outer_[outer] = inner_.size();
      inner_.emplace_back(args[outer]);
    };
    inner_of_outer_.assign(n, 0);
    switch (kind_) {
      case Kind::kBlpop:
      case Kind::kBrpop:
      case Kind::kBzpopmin:
      case Kind::kBzpopmax: {
        bool list = kind_ == Kind::kBlpop || kind_ == Kind::kBrpop;
        inner_name = list ? "LMPOP" : "ZMPOP";
        inner_.push_back(std::to_string(n - 2));
        for (size_t i = 1; i + 1 < n; ++i) key(i);
        inner_.emplace_back(kind_ == Kind::kBlpop ? "LEFT"
                            : kind_ == Kind::kBrpop ? "RIGHT"
                            : kind_ == Kind::kBzpopmin ? "MIN"
                                                       : "MAX");
        timeout = args[n - 1];
        break;
      }
      case Kind::kBlmpop:
      case Kind::kBzmpop: {
        inner_name = kind_ == Kind::kBlmpop ? "LMPOP" : "ZMPOP";
        timeout = args[1];
        std::vector<size_t> keys = BlmpopKeys(args);
        for (size_t i = 2; i < n; ++i) {
          if (std::find(keys.begin(), keys.end(), i) != keys.end()) key(i);
          else inner_.emplace_back(args[i]);
        }
        break;
      }
      case Kind::kBlmove:
      case Kind::kBrpoplpush:
        inner_name = kind_ == Kind::kBlmove ? "LMOVE" : "RPOPLPUSH";
        key(1);
        key(2);
        if (kind_ == Kind::kBlmove) {
          inner_.emplace_back(args[3]);
          inner_.emplace_back(args[4]);
          // Redis parses LEFT/RIGHT before the timeout: the inner op reports a bad one.
          if (IsEnd(args[3]) && IsEnd(args[4])) timeout = args[5];
        } else {
          timeout = args[3];
        }
        break;
      case Kind::kXread:
      case Kind::kXreadgroup:
        break;  // not wrapped (XREAD's own op is its non-blocking form)
    }
    if (!timeout.empty() || kind_ == Kind::kBlpop || kind_ == Kind::kBrpop || kind_ == Kind::kBzpopmin ||
        kind_ == Kind::kBzpopmax || kind_ == Kind::kBlmpop || kind_ == Kind::kBzmpop || kind_ == Kind::kBrpoplpush) {
      int64_t ms;
      error_ = ParseTimeoutSeconds(timeout, &ms);
    }
    if (kind_ == Kind::kBlpop) pop_cmd_ = "LPOP";
    if (kind_ == Kind::kBrpop) pop_cmd_ = "RPOP";
    if (kind_ == Kind::kBlmpop) {
      std::vector<size_t> keys = BlmpopKeys(args);
      size_t dir = keys.empty() ? n : keys.back() + 1;
      if (dir < n) {
        pop_cmd_ = EqualsIgnoreCase(args[dir], "left") ? "LPOP" : "RPOP";
        pop_count_ = dir + 2 < n ? std::string(args[dir + 2]) : "1";
      }
    }
    inner_[0] = inner_name;
    for (auto& s : inner_) views_.push_back(s);
    outer_of_inner_.assign(inner_.size(), 0);
    for (size_t o = 0; o < n; ++o)
      if (inner_of_outer_[o]) outer_of_inner_[inner_of_outer_[o]] = o;
    if (error_.empty()) {
      const CommandSpec* spec = CommandTable::Global().Find(inner_name);
      op_ = spec->multi_shard(views_);
    }
  }

  HopPlan FirstHop(unsigned shard_count) override {
    if (!op_) return {HopTarget::kDone};
    return ToOuter(op_->FirstHop(shard_count));
  }
  void RunHop(int hop, HopContext& h) override {
    std::vector<size_t> idx;
    for (size_t i : h.key_indices) idx.push_back(inner_of_outer_[i]);
    HopContext ih{h.shard, h.db, views_, idx, h.now_ms, h.shard_count};
    op_->RunHop(hop, ih);
    h.effects = ih.effects;
    if (!ih.effects.dirty() || ih.effects.rewritten()) return;
    // LMPOP's pop, journaled as the exact pop Redis propagates (LPOP key [count]).
    if (!pop_cmd_.empty() && chosen_ && hop > 0) {
      if (pop_count_.empty()) h.effects.Propagate({pop_cmd_, views_[chosen_]});
      else h.effects.Propagate({pop_cmd_, views_[chosen_], pop_count_});
      return;
    }
    // The inner command goes to the journal once per shard, however many of its hops
    // write there (LMOVE pops, then pushes): the first report named all its keys here.
    if (propagated_.size() < h.shard_count) propagated_.assign(h.shard_count, 0);
    if (propagated_[h.shard.index()]) {
      h.effects = Effects{};
      return;
    }
    propagated_[h.shard.index()] = 1;
    h.effects.Propagate(views_);
  }
  HopPlan NextHop(int hop) override {
    HopPlan plan = op_->NextHop(hop);
    if (plan.target == HopTarget::kShardOfKey) chosen_ = plan.key_index;
    return ToOuter(plan);
  }
  void Reply(resp::ReplyBuilder& rb) override {
    if (!error_.empty()) {
      rb.Error(error_);
      return;
    }
    std::string out;
    resp::ReplyBuilder ib(&out);
    ib.SetProtocol(rb.protocol());
    op_->Reply(ib);
    if (!out.empty() && out[0] == '*' && !IsNullReply(out)) {
      // The key the reply names: "*2\r\n$<len>\r\n<key>..."
      size_t p = out.find("\r\n", 4);
      if (out.size() > 5 && out[4] == '$' && p != std::string::npos) {
        size_t len = std::strtoull(out.c_str() + 5, nullptr, 10);
        TransformReply(kind_, std::string_view(out).substr(p + 2, len), &out);
      }
    }
    rb.Raw(out);
  }

 private:
  std::vector<char> propagated_;  // per shard: the inner command was journaled there (RunHop)
  HopPlan ToOuter(HopPlan plan) const {
    if (plan.target == HopTarget::kShardOfKey) plan.key_index = outer_of_inner_[plan.key_index];
    return plan;
  }

  Kind kind_;
  std::string error_;
  std::string pop_cmd_, pop_count_;  // LMPOP forms: LPOP/RPOP and the count ("" for BLPOP)
  size_t chosen_ = 0;                 // inner index of the key LMPOP pops from
  std::vector<std::string> inner_;
  std::vector<std::string_view> views_;
  std::vector<size_t> inner_of_outer_, outer_of_inner_;
  std::unique_ptr<MultiShardOp> op_;
};

std::unique_ptr<MultiShardOp> MakeNonBlocking(ArgList args) { return std::make_unique<NonBlockingOp>(args); }

}  // namespace
}  // namespace blocking

void RegisterBlockingFamily(CommandTable& t) {
  // Each row's op is the command's non-blocking form (above); parking the client when it
  // finds nothing is lib/server's.
  constexpr uint32_t B = kCmdWrite | kCmdBlocking;
  constexpr uint32_t N = kCmdNoScript;
  CommandFamily lists(t, kAclList);
  lists << CommandRow("blpop", -3, B | N, 1, -2, 1).MultiShard(blocking::MakeNonBlocking)
        << CommandRow("brpop", -3, B | N, 1, -2, 1).MultiShard(blocking::MakeNonBlocking)
        << CommandRow("blmpop", -5, B).MultiShard(blocking::MakeNonBlocking).Keys(blocking::BlmpopKeys)
        << CommandRow("brpoplpush", 4, B | kCmdDenyOom | N, 1, 2, 1).MultiShard(blocking::MakeNonBlocking)
        << CommandRow("blmove", 6, B | kCmdDenyOom | N, 1, 2, 1).MultiShard(blocking::MakeNonBlocking);
  CommandFamily sorted_sets(t, kAclSortedSet);
  sorted_sets << CommandRow("bzpopmin", -3, B | N | kCmdFast, 1, -2, 1).MultiShard(blocking::MakeNonBlocking)
              << CommandRow("bzpopmax", -3, B | N | kCmdFast, 1, -2, 1).MultiShard(blocking::MakeNonBlocking)
              << CommandRow("bzmpop", -5, B).MultiShard(blocking::MakeNonBlocking).Keys(blocking::BlmpopKeys);
}

}  // namespace darter::store
