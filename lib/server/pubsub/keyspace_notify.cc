#include "server/pubsub/keyspace_notify.h"

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "server/pubsub/pubsub_family.h"
#include "store/keyspace_events.h"

namespace darter::server {

namespace {

class PubSubKeyspaceSink : public store::KeyspaceEventSink {
 public:
  explicit PubSubKeyspaceSink(Server& server) : server_(server) {}
  Server& server() const { return server_; }

  void Publish(uint32_t, std::string_view event, unsigned db, std::string_view key) override {
    uint32_t flags = store::keyspace_event_flags.load(std::memory_order_relaxed);
    // Channel names are built here only: an event reaches the sink only when its class
    // is enabled.
    std::string channel;
    if (flags & store::kNotifyKeyspace) {
      channel.reserve(20 + key.size());
      channel.append("__keyspace@").append(std::to_string(db)).append("__:").append(key);
      PublishMessage(server_, /*shard=*/false, channel, event);
    }
    if (flags & store::kNotifyKeyevent) {
      channel.clear();
      channel.append("__keyevent@").append(std::to_string(db)).append("__:").append(event);
      PublishMessage(server_, /*shard=*/false, channel, key);
    }
  }

 private:
  Server& server_;
};

std::mutex g_mu;
std::unique_ptr<PubSubKeyspaceSink> g_sink;
// Sinks replaced while their server still runs (several servers in one test process):
// kept, as that server's shard threads may be inside Publish.
std::vector<std::unique_ptr<PubSubKeyspaceSink>> g_retired;

}  // namespace

void InstallKeyspaceNotifier(Server& server) {
  std::lock_guard lk(g_mu);
  auto sink = std::make_unique<PubSubKeyspaceSink>(server);
  store::SetKeyspaceEventSink(sink.get());
  if (g_sink) g_retired.push_back(std::move(g_sink));
  g_sink = std::move(sink);
}

void RemoveKeyspaceNotifier(Server& server) {
  std::lock_guard lk(g_mu);
  if (!g_sink || &g_sink->server() != &server) return;
  store::SetKeyspaceEventSink(nullptr);
  g_sink.reset();
}

}  // namespace darter::server
