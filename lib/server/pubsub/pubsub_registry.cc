#include "server/pubsub/pubsub_registry.h"

#include <algorithm>
#include <mutex>

#include "store/string_util.h"

namespace darter::server {

namespace {
void RemoveFrom(std::vector<std::shared_ptr<Subscriber>>& list, const Subscriber* sub) {
  auto it = std::find_if(list.begin(), list.end(), [sub](const auto& p) { return p.get() == sub; });
  if (it == list.end()) return;
  // Order among subscribers is not observable (Redis's own order is a dict's); swap-pop.
  std::swap(*it, list.back());
  list.pop_back();
}
}  // namespace

void PubSubRegistry::Subscribe(ChannelKind kind, std::string_view channel, const std::shared_ptr<Subscriber>& sub) {
  Stripe& s = StripeOf(kind, channel);
  std::unique_lock lk(s.mu);
  auto it = s.channels.find(channel);
  if (it == s.channels.end()) {
    it = s.channels.emplace(std::string(channel), SubscriberList{}).first;
    channel_count_[static_cast<int>(kind)].fetch_add(1, std::memory_order_relaxed);
  }
  it->second.push_back(sub);
}

void PubSubRegistry::Unsubscribe(ChannelKind kind, std::string_view channel, const Subscriber* sub) {
  Stripe& s = StripeOf(kind, channel);
  std::unique_lock lk(s.mu);
  auto it = s.channels.find(channel);
  if (it == s.channels.end()) return;
  RemoveFrom(it->second, sub);
  if (it->second.empty()) {
    s.channels.erase(it);
    channel_count_[static_cast<int>(kind)].fetch_sub(1, std::memory_order_relaxed);
  }
}

void PubSubRegistry::PSubscribe(std::string_view pattern, const std::shared_ptr<Subscriber>& sub) {
  std::unique_lock lk(pattern_mu_);
  auto it = patterns_.find(pattern);
  if (it == patterns_.end()) {
    it = patterns_.emplace(std::string(pattern), SubscriberList{}).first;
    pattern_count_.fetch_add(1, std::memory_order_relaxed);
  }
  it->second.push_back(sub);
}

void PubSubRegistry::PUnsubscribe(std::string_view pattern, const Subscriber* sub) {
  std::unique_lock lk(pattern_mu_);
  auto it = patterns_.find(pattern);
  if (it == patterns_.end()) return;
  RemoveFrom(it->second, sub);
  if (it->second.empty()) {
    patterns_.erase(it);
    pattern_count_.fetch_sub(1, std::memory_order_relaxed);
  }
}

size_t PubSubRegistry::Match(ChannelKind kind, std::string_view channel, std::vector<DeliveryList>& by_thread) const {
  size_t receivers = 0;
  {
    const Stripe& s = StripeOf(kind, channel);
    std::shared_lock lk(s.mu);
    auto it = s.channels.find(channel);
    if (it != s.channels.end()) {
      for (const auto& sub : it->second) by_thread[sub->thread].targets.push_back({sub, -1});
      receivers += it->second.size();
    }
  }
  if (kind == ChannelKind::kShard || pattern_count_.load(std::memory_order_relaxed) == 0) return receivers;
  std::shared_lock lk(pattern_mu_);
  for (const auto& [pattern, subs] : patterns_) {
    if (!store::GlobMatch(pattern, channel)) continue;
    for (const auto& sub : subs) {
      DeliveryList& list = by_thread[sub->thread];
      // One copy of the pattern per destination thread, shared by its targets.
      if (list.patterns.empty() || list.patterns.back() != pattern) list.patterns.push_back(pattern);
      list.targets.push_back({sub, static_cast<int>(list.patterns.size() - 1)});
    }
    receivers += subs.size();
  }
  return receivers;
}

std::vector<std::string> PubSubRegistry::Channels(ChannelKind kind, std::optional<std::string_view> pattern) const {
  std::vector<std::string> out;
  for (const Stripe& s : stripes_[static_cast<int>(kind)]) {
    std::shared_lock lk(s.mu);
    for (const auto& [name, subs] : s.channels)
      if (!pattern || store::GlobMatch(*pattern, name)) out.push_back(name);
  }
  return out;
}

size_t PubSubRegistry::NumSub(ChannelKind kind, std::string_view channel) const {
  const Stripe& s = StripeOf(kind, channel);
  std::shared_lock lk(s.mu);
  auto it = s.channels.find(channel);
  return it == s.channels.end() ? 0 : it->second.size();
}

}  // namespace darter::server
