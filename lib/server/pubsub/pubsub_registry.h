// Pub/sub: who is subscribed to what, server-wide (Redis's server.pubsub_channels,
// pubsub_patterns and pubsub_shard_channels).
//
// Connections live on their own threads; a PUBLISH on thread A must reach subscribers on
// every thread. The registry maps channel → subscribers and pattern → subscribers behind
// reader-writer locks: PUBLISH only reads (shared lock), SUBSCRIBE/UNSUBSCRIBE write.
// Channels are spread over kStripes independently locked stripes so that publishers on
// different channels, and a subscribe storm on one channel, do not contend on one lock.
//
// Delivery is not done here: Match() groups the receivers of one message by the thread
// that owns them, and the publisher posts one batch per destination thread (see
// pubsub_family.cc), which appends the message to each subscriber's output.
//
// Thread-safety: PubSubRegistry is safe for concurrent use. A Subscriber's members are
// touched only on its connection's thread, except `thread`, which never changes.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace darter::server {

class Connection;

// Redis 7.0 has two channel namespaces: ordinary channels (SUBSCRIBE/PUBLISH, also
// matched by patterns) and shard channels (SSUBSCRIBE/SPUBLISH, never matched by
// patterns; on a non-cluster server simply a second namespace).
enum class ChannelKind { kGlobal = 0, kShard = 1 };

// One connection's subscriptions. Created at its first (S|P)SUBSCRIBE, owned jointly by
// the connection, the registry and deliveries in flight, which may outlive the connection.
struct Subscriber {
  Subscriber(Connection* c, unsigned t) : conn(c), thread(t) {}
  // Null once the connection has gone; deliveries then drop the message.
  Connection* conn;
  const unsigned thread;
  std::unordered_set<std::string> channels, patterns, shard_channels;

  // The count SUBSCRIBE/UNSUBSCRIBE/PSUBSCRIBE/PUNSUBSCRIBE replies with (Redis 7.0:
  // channels + patterns); SSUBSCRIBE/SUNSUBSCRIBE count shard channels alone.
  size_t Count(ChannelKind kind) const {
    return kind == ChannelKind::kShard ? shard_channels.size() : channels.size() + patterns.size();
  }
  // Subscribed to anything: the connection is in "subscribed mode" (Redis's CLIENT_PUBSUB).
  bool Active() const { return !channels.empty() || !patterns.empty() || !shard_channels.empty(); }
};

// The receivers of one message on one destination thread.
struct DeliveryList {
  struct Target {
    std::shared_ptr<Subscriber> sub;
    int pattern = -1;  // index into `patterns`, or -1 for a direct channel subscription
  };
  std::vector<Target> targets;
  std::vector<std::string> patterns;

  bool empty() const { return targets.empty(); }
  void clear() {
    targets.clear();
    patterns.clear();
  }
};

class PubSubRegistry {
 public:
  // REQUIRES: `sub` is not yet subscribed to `channel` (callers check their own set).
  void Subscribe(ChannelKind kind, std::string_view channel, const std::shared_ptr<Subscriber>& sub);
  void Unsubscribe(ChannelKind kind, std::string_view channel, const Subscriber* sub);
  void PSubscribe(std::string_view pattern, const std::shared_ptr<Subscriber>& sub);
  void PUnsubscribe(std::string_view pattern, const Subscriber* sub);

  // Appends the receivers of a message on `channel` to by_thread[t] for each subscriber's
  // thread t (channel subscribers first, then pattern matches, as Redis delivers them).
  // Returns their number: PUBLISH's reply (a connection subscribed to the channel and to
  // two matching patterns counts three times). REQUIRES: by_thread.size() > every thread.
  size_t Match(ChannelKind kind, std::string_view channel, std::vector<DeliveryList>& by_thread) const;

  // PUBSUB CHANNELS / SHARDCHANNELS: channels with at least one subscriber, matching the
  // glob `pattern` when given. Unordered, as in Redis.
  std::vector<std::string> Channels(ChannelKind kind, std::optional<std::string_view> pattern) const;
  // PUBSUB NUMSUB / SHARDNUMSUB: direct subscribers of `channel` (patterns not counted).
  size_t NumSub(ChannelKind kind, std::string_view channel) const;
  // PUBSUB NUMPAT and INFO pubsub_patterns: distinct patterns with a subscriber.
  size_t NumPat() const { return pattern_count_.load(std::memory_order_relaxed); }
  // INFO pubsub_channels / pubsubshard_channels.
  size_t ChannelCount(ChannelKind kind) const {
    return channel_count_[static_cast<int>(kind)].load(std::memory_order_relaxed);
  }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using SubscriberList = std::vector<std::shared_ptr<Subscriber>>;
  struct Stripe {
    mutable std::shared_mutex mu;
    std::unordered_map<std::string, SubscriberList, StringHash, std::equal_to<>> channels;
  };
  static constexpr size_t kStripes = 16;

  Stripe& StripeOf(ChannelKind kind, std::string_view channel) {
    return stripes_[static_cast<int>(kind)][StringHash()(channel) % kStripes];
  }
  const Stripe& StripeOf(ChannelKind kind, std::string_view channel) const {
    return stripes_[static_cast<int>(kind)][StringHash()(channel) % kStripes];
  }

  std::array<Stripe, kStripes> stripes_[2];
  std::atomic<size_t> channel_count_[2] = {0, 0};
  // Patterns: every PUBLISH must try each of them, so one list; skipped without locking
  // while pattern_count_ is zero.
  mutable std::shared_mutex pattern_mu_;
  std::map<std::string, SubscriberList, std::less<>> patterns_;
  std::atomic<size_t> pattern_count_{0};
};

}  // namespace darter::server
