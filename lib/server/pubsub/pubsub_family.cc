// Delivery across threads. PUBLISH runs on the publisher's thread: it asks the registry
// for the receivers grouped by the thread that owns them, delivers inline to those on its
// own thread, and posts ONE batch per other destination thread (the message plus its
// targets there), not one task per subscriber. The destination thread encodes the
// message once per protocol and appends it to each target's output (Connection::Push).
//
// Ordering: posts from one thread to another run in the order they were made, so every
// subscriber sees one publisher's messages in publish order. A batch re-checks the
// subscriber's own (thread-local) subscription set before delivering, so nothing arrives
// after the UNSUBSCRIBE confirmation (or RESET) that ended the subscription.
#include "server/pubsub/pubsub_family.h"

#include <algorithm>

#include "resp/bulk_encoding.h"
#include "server/core/connection.h"
#include "server/pubsub/pubsub_registry.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "store/errors.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;
using store::ToLower;

struct Message {
  ChannelKind kind;
  std::string channel;
  std::string payload;
};

// ["message", channel, payload] / ["smessage", ...]: an array in RESP2, a push in RESP3.
std::string EncodeMessage(bool resp3, const Message& m) {
  std::string out;
  out.reserve(m.channel.size() + m.payload.size() + 48);
  out += resp3 ? ">3\r\n" : "*3\r\n";
  resp::AppendBulk(out, m.kind == ChannelKind::kShard ? "smessage" : "message");
  resp::AppendBulk(out, m.channel);
  resp::AppendBulk(out, m.payload);
  return out;
}

std::string EncodePMessage(bool resp3, const std::string& pattern, const Message& m) {
  std::string out;
  out.reserve(pattern.size() + m.channel.size() + m.payload.size() + 56);
  out += resp3 ? ">4\r\n" : "*4\r\n";
  resp::AppendBulk(out, "pmessage");
  resp::AppendBulk(out, pattern);
  resp::AppendBulk(out, m.channel);
  resp::AppendBulk(out, m.payload);
  return out;
}

// On the destination thread: append the message to every target still subscribed.
void Deliver(const Message& m, const DeliveryList& list) {
  std::string direct[2];                                    // by protocol (RESP2, RESP3)
  std::vector<std::string> by_pattern(list.patterns.size() * 2);  // [pattern * 2 + resp3]
  for (const DeliveryList::Target& t : list.targets) {
    Subscriber& s = *t.sub;
    if (!s.conn) continue;
    bool resp3 = s.conn->protocol() == 3;
    if (t.pattern < 0) {
      const auto& set = m.kind == ChannelKind::kShard ? s.shard_channels : s.channels;
      if (!set.count(m.channel)) continue;
      std::string& frame = direct[resp3];
      if (frame.empty()) frame = EncodeMessage(resp3, m);
      s.conn->Push(frame);
    } else {
      const std::string& pattern = list.patterns[t.pattern];
      if (!s.patterns.count(pattern)) continue;
      std::string& frame = by_pattern[t.pattern * 2 + resp3];
      if (frame.empty()) frame = EncodePMessage(resp3, pattern, m);
      s.conn->Push(frame);
    }
  }
}

}  // namespace

size_t PublishMessage(Server& server, bool shard, std::string_view channel, std::string_view payload) {
  ChannelKind kind = shard ? ChannelKind::kShard : ChannelKind::kGlobal;
  ShardSet& shards = server.shards();
  // Scratch reused by every PUBLISH on this thread: no allocation when nobody listens.
  thread_local std::vector<DeliveryList> by_thread;
  if (by_thread.size() < shards.size()) by_thread.resize(shards.size());
  size_t receivers = server.pubsub().Match(kind, channel, by_thread);
  if (receivers == 0) return 0;
  auto msg = std::make_shared<const Message>(Message{kind, std::string(channel), std::string(payload)});
  int here = ShardSet::CurrentIndex();
  for (unsigned t = 0; t < shards.size(); ++t) {
    DeliveryList& list = by_thread[t];
    if (list.empty()) continue;
    if (static_cast<int>(t) == here) {
      Deliver(*msg, list);
      list.clear();
      continue;
    }
    asio::post(shards.at(t).ctx(), [msg, l = std::move(list)] { Deliver(*msg, l); });
    list.clear();
  }
  return receivers;
}

namespace {

Subscriber& EnsureSubscriber(Connection& conn) {
  if (!conn.subscriber) conn.subscriber = std::make_shared<Subscriber>(&conn, conn.thread());
  return *conn.subscriber;
}

// ["subscribe", channel, count] and its kin.
void ReplySubscription(resp::ReplyBuilder& rb, std::string_view kind, const std::string_view* channel, size_t count) {
  rb.PushHeader(3);
  rb.Bulk(kind);
  if (channel) rb.Bulk(*channel);
  else rb.Null();
  rb.Integer(static_cast<int64_t>(count));
}

void SubscribeChannels(ConnectionContext& c, ChannelKind kind) {
  Subscriber& s = EnsureSubscriber(c.conn);
  auto& set = kind == ChannelKind::kShard ? s.shard_channels : s.channels;
  for (size_t j = 1; j < c.args.size(); ++j) {
    std::string_view ch = c.args[j];
    if (set.emplace(ch).second) c.server.pubsub().Subscribe(kind, ch, c.conn.subscriber);
    ReplySubscription(c.reply, kind == ChannelKind::kShard ? "ssubscribe" : "subscribe", &ch, s.Count(kind));
  }
}

void UnsubscribeChannels(ConnectionContext& c, ChannelKind kind) {
  std::string_view name = kind == ChannelKind::kShard ? "sunsubscribe" : "unsubscribe";
  Subscriber* s = c.conn.subscriber.get();
  std::unordered_set<std::string> none;
  auto& set = !s ? none : kind == ChannelKind::kShard ? s->shard_channels : s->channels;
  auto count = [&] { return s ? s->Count(kind) : 0; };
  if (c.args.size() == 1) {
    if (set.empty()) {
      ReplySubscription(c.reply, name, nullptr, count());
      return;
    }
    std::vector<std::string> all(set.begin(), set.end());
    for (const std::string& ch : all) {
      set.erase(ch);
      c.server.pubsub().Unsubscribe(kind, ch, s);
      std::string_view v = ch;
      ReplySubscription(c.reply, name, &v, count());
    }
    return;
  }
  for (size_t j = 1; j < c.args.size(); ++j) {
    std::string_view ch = c.args[j];
    auto it = set.find(std::string(ch));
    if (it != set.end()) {
      set.erase(it);
      c.server.pubsub().Unsubscribe(kind, ch, s);
    }
    ReplySubscription(c.reply, name, &ch, count());
  }
}

void SubscribeCommand(ConnectionContext& c) { SubscribeChannels(c, ChannelKind::kGlobal); }
void SSubscribeCommand(ConnectionContext& c) { SubscribeChannels(c, ChannelKind::kShard); }
void UnsubscribeCommand(ConnectionContext& c) { UnsubscribeChannels(c, ChannelKind::kGlobal); }
void SUnsubscribeCommand(ConnectionContext& c) { UnsubscribeChannels(c, ChannelKind::kShard); }

void PSubscribeCommand(ConnectionContext& c) {
  Subscriber& s = EnsureSubscriber(c.conn);
  for (size_t j = 1; j < c.args.size(); ++j) {
    std::string_view p = c.args[j];
    if (s.patterns.emplace(p).second) c.server.pubsub().PSubscribe(p, c.conn.subscriber);
    ReplySubscription(c.reply, "psubscribe", &p, s.Count(ChannelKind::kGlobal));
  }
}

void PUnsubscribeCommand(ConnectionContext& c) {
  Subscriber* s = c.conn.subscriber.get();
  auto count = [&] { return s ? s->Count(ChannelKind::kGlobal) : 0; };
  if (c.args.size() == 1) {
    if (!s || s->patterns.empty()) {
      ReplySubscription(c.reply, "punsubscribe", nullptr, count());
      return;
    }
    std::vector<std::string> all(s->patterns.begin(), s->patterns.end());
    for (const std::string& p : all) {
      s->patterns.erase(p);
      c.server.pubsub().PUnsubscribe(p, s);
      std::string_view v = p;
      ReplySubscription(c.reply, "punsubscribe", &v, count());
    }
    return;
  }
  for (size_t j = 1; j < c.args.size(); ++j) {
    std::string_view p = c.args[j];
    if (s) {
      auto it = s->patterns.find(std::string(p));
      if (it != s->patterns.end()) {
        s->patterns.erase(it);
        c.server.pubsub().PUnsubscribe(p, s);
      }
    }
    ReplySubscription(c.reply, "punsubscribe", &p, count());
  }
}

void PublishCommand(ConnectionContext& c) {
  c.reply.Integer(static_cast<int64_t>(PublishMessage(c.server, false, c.args[1], c.args[2])));
}

void SPublishCommand(ConnectionContext& c) {
  c.reply.Integer(static_cast<int64_t>(PublishMessage(c.server, true, c.args[1], c.args[2])));
}

void PubSubCommand(ConnectionContext& c) {
  std::string sub = ToLower(c.args[1]);
  PubSubRegistry& reg = c.server.pubsub();
  size_t argc = c.args.size();
  if (sub == "channels" || sub == "shardchannels") {
    if (argc > 3) {
      c.reply.Error("ERR unknown subcommand or wrong number of arguments for '" + std::string(c.args[1]) +
                    "'. Try PUBSUB HELP.");
      return;
    }
    std::optional<std::string_view> pattern;
    if (argc == 3) pattern = c.args[2];
    auto names = reg.Channels(sub == "channels" ? ChannelKind::kGlobal : ChannelKind::kShard, pattern);
    c.reply.ArrayHeader(names.size());
    for (const auto& n : names) c.reply.Bulk(n);
  } else if (sub == "numsub" || sub == "shardnumsub") {
    ChannelKind kind = sub == "numsub" ? ChannelKind::kGlobal : ChannelKind::kShard;
    c.reply.ArrayHeader((argc - 2) * 2);
    for (size_t j = 2; j < argc; ++j) {
      c.reply.Bulk(c.args[j]);
      c.reply.Integer(static_cast<int64_t>(reg.NumSub(kind, c.args[j])));
    }
  } else if (sub == "numpat") {
    if (argc != 2) {
      c.reply.Error(store::errors::WrongArity("pubsub|numpat"));
      return;
    }
    c.reply.Integer(static_cast<int64_t>(reg.NumPat()));
  } else if (sub == "help") {
    if (argc != 2) {
      c.reply.Error(store::errors::WrongArity("pubsub|help"));
      return;
    }
    static const char* kHelp[] = {
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help."};
    c.reply.SimpleStringArray(kHelp);
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try PUBSUB HELP.");
  }
}

// Commands whose first argument is a subcommand: Redis names them "container|sub".
bool IsContainer(std::string_view name) {
  static const char* kContainers[] = {"acl",    "client", "cluster", "command", "config", "function",
                                      "latency", "memory", "module",  "object",  "pubsub", "script",
                                      "slowlog", "xgroup", "xinfo"};
  for (const char* c : kContainers)
    if (name == c) return true;
  return false;
}

}  // namespace

bool InSubscribedMode(const Connection& conn) { return conn.subscriber && conn.subscriber->Active(); }

std::string SubscribedModeError(const Connection& conn, const store::CommandSpec& spec, store::ArgList args) {
  if (conn.protocol() != 2 || !InSubscribedMode(conn)) return "";
  static const char* kAllowed[] = {"subscribe",    "unsubscribe",  "psubscribe", "punsubscribe",
                                   "ssubscribe",   "sunsubscribe", "ping",       "quit",
                                   "reset"};
  for (const char* a : kAllowed)
    if (spec.name == a) return "";
  std::string name = spec.name;
  if (args.size() >= 2 && IsContainer(name)) name += "|" + ToLower(args[1]);
  return "ERR Can't execute '" + name +
         "': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";
}

void DropSubscriptions(Connection& conn) {
  std::shared_ptr<Subscriber> s = std::move(conn.subscriber);
  if (!s) return;
  PubSubRegistry& reg = conn.server().pubsub();
  for (const auto& ch : s->channels) reg.Unsubscribe(ChannelKind::kGlobal, ch, s.get());
  for (const auto& ch : s->shard_channels) reg.Unsubscribe(ChannelKind::kShard, ch, s.get());
  for (const auto& p : s->patterns) reg.PUnsubscribe(p, s.get());
  s->channels.clear();
  s->shard_channels.clear();
  s->patterns.clear();
  s->conn = nullptr;
}

bool ClientTypeIs(const Connection& conn, std::string_view type) {
  if (conn.is_master) return type == "master";
  if (conn.replica_feed) return type == "replica" || type == "slave";
  if (type == "pubsub") return InSubscribedMode(conn);
  if (type == "normal") return !InSubscribedMode(conn);
  return false;
}

std::string PubSubClientFields(const Connection& conn) {
  const Subscriber* s = conn.subscriber.get();
  if (!s) return " sub=0 psub=0 ssub=0";
  return " sub=" + std::to_string(s->channels.size()) + " psub=" + std::to_string(s->patterns.size()) +
         " ssub=" + std::to_string(s->shard_channels.size());
}

std::string PubSubInfoStats(Server& server) {
  PubSubRegistry& reg = server.pubsub();
  return "pubsub_channels:" + std::to_string(reg.ChannelCount(ChannelKind::kGlobal)) +
         "\r\npubsub_patterns:" + std::to_string(reg.NumPat()) +
         "\r\npubsubshard_channels:" + std::to_string(reg.ChannelCount(ChannelKind::kShard)) + "\r\n";
}

void RegisterPubSubFamily(store::CommandTable& t) {
  using namespace store;
  // @pubsub comes from the pubsub flag: the PUBSUB container has neither, its
  // introspection subcommands have both.
  constexpr uint32_t kSub = kCmdPubSub | kCmdNoScript | kCmdLoading | kCmdStale;
  constexpr uint32_t kPub = kCmdPubSub | kCmdLoading | kCmdStale | kCmdFast;
  constexpr uint32_t kIntrospect = kCmdPubSub | kCmdLoading | kCmdStale;
  CommandFamily family(t, 0);
  family << CommandRow("subscribe", -2, kSub).Connection(SubscribeCommand)
         << CommandRow("unsubscribe", -1, kSub).Connection(UnsubscribeCommand)
         << CommandRow("psubscribe", -2, kSub).Connection(PSubscribeCommand)
         << CommandRow("punsubscribe", -1, kSub).Connection(PUnsubscribeCommand)
         << CommandRow("publish", 3, kPub).Connection(PublishCommand)
         << CommandRow("pubsub", -2, 0)
                .Connection(PubSubCommand)
                .Container()
                .Subcommands({Sub("channels", -2, kIntrospect), Sub("numsub", -2, kIntrospect),
                              Sub("numpat", 2, kIntrospect), Sub("shardchannels", -2, kIntrospect),
                              Sub("shardnumsub", -2, kIntrospect), Sub("help", 2, kCmdLoading | kCmdStale)})
         << CommandRow("ssubscribe", -2, kSub, 1, -1, 1).Connection(SSubscribeCommand)
         << CommandRow("sunsubscribe", -1, kSub, 1, -1, 1).Connection(SUnsubscribeCommand)
         << CommandRow("spublish", 3, kPub, 1, 1, 1).Connection(SPublishCommand);
}

}  // namespace darter::server
