// Delivery of invalidation messages (Redis's sendTrackingMessage), on the tracking
// client's thread: the client's state decides, at delivery, whether and where the message
// goes: its own connection as a RESP3 push, or its REDIRECT target (RESP3 push, or a
// pub/sub message on __redis__:invalidate for a RESP2 target in subscribed mode), which
// may live on another thread.
#include <string>

#include "server/core/asio.h"
#include "server/core/connection.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/pubsub/pubsub_registry.h"
#include "server/tracking/tracking_table.h"

namespace darter::server {

namespace {

constexpr std::string_view kInvalidatePush = ">2\r\n$10\r\ninvalidate\r\n";
constexpr std::string_view kInvalidateMessage = "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n";

Connection* Find(Server& server, unsigned thread, uint64_t id) {
  auto& conns = server.connections(thread);
  auto it = conns.find(id);
  return it == conns.end() ? nullptr : it->second.get();
}

// On the tracking client's thread: its redirect target `redirect` was gone.
void RedirectBroken(Server& server, unsigned thread, uint64_t client, uint64_t redirect) {
  Connection* c = Find(server, thread, client);
  if (!c || !c->tracking || !c->tracking->on || c->tracking->redirect != redirect) return;
  c->tracking->broken_redirect = true;
  if (c->protocol() == 3)
    c->Push(">2\r\n$21\r\ntracking-redir-broken\r\n:" + std::to_string(redirect) + "\r\n");
}

// On the redirect target's thread.
void DeliverRedirected(Server& server, unsigned target_thread, uint64_t target, unsigned origin_thread,
                       uint64_t origin, const std::string& value) {
  Connection* r = Find(server, target_thread, target);
  if (!r || r->closed()) {
    if (origin_thread == target_thread) RedirectBroken(server, origin_thread, origin, target);
    else
      asio::post(server.shards().at(origin_thread).ctx(),
                 [&server, origin_thread, origin, target] { RedirectBroken(server, origin_thread, origin, target); });
    return;
  }
  if (r->protocol() == 3) r->Push(std::string(kInvalidatePush) + value);
  else if (r->subscriber && r->subscriber->Active()) r->Push(std::string(kInvalidateMessage) + value);
  // A RESP2 target not in subscribed mode cannot be told: dropped, as in Redis.
}

void SendTrackingMessage(Server& server, Connection& c, const std::string& value, bool own_write = false) {
  ClientTracking& t = *c.tracking;
  if (t.redirect) {
    unsigned to = t.redirect_thread;
    if (to == c.thread()) {
      DeliverRedirected(server, to, t.redirect, c.thread(), c.id(), value);
    } else {
      asio::post(server.shards().at(to).ctx(), [&server, to, target = t.redirect, from = c.thread(), origin = c.id(),
                                                value] { DeliverRedirected(server, to, target, from, origin, value); });
    }
    return;
  }
  // Without a redirect only RESP3 has a channel for it. The client's own write: after
  // that command's reply (the message may arrive before a reply that a remote shard
  // sends back).
  if (c.protocol() != 3) return;
  if (own_write) c.PushAfterCommand(std::string(kInvalidatePush) + value);
  else c.Push(std::string(kInvalidatePush) + value);
}

void Deliver(Server& server, unsigned thread, const std::vector<Invalidation>& list) {
  for (const Invalidation& inv : list) {
    if (inv.kind == Invalidation::Kind::kFlush) {
      // Every tracking client of this thread, once per flush.
      Tracking* tracking = FindTracking(server);
      if (!tracking || !tracking->FirstFlushReport(thread, inv.client)) continue;
      for (auto& [id, conn] : server.connections(thread)) {
        if (!conn->tracking || !conn->tracking->on || conn->closed()) continue;
        // The null is the tracking client's protocol's (Redis's shared.null[c->resp]).
        SendTrackingMessage(server, *conn, conn->protocol() == 3 ? "_\r\n" : "$-1\r\n");
      }
      continue;
    }
    Connection* c = Find(server, thread, inv.client);
    if (!c || c->closed() || !c->tracking || !c->tracking->on) continue;
    // A key remembered before the client switched to BCAST is not sent (Redis), nor a
    // prefix match after it left BCAST.
    if (c->tracking->bcast != (inv.kind == Invalidation::Kind::kPrefix)) continue;
    SendTrackingMessage(server, *c, inv.keys, inv.own_write);
  }
}

}  // namespace

void PostInvalidations(Server& server, unsigned thread, std::vector<Invalidation> list) {
  asio::post(server.shards().at(thread).ctx(),
             [&server, thread, l = std::move(list)] { Deliver(server, thread, l); });
}

}  // namespace darter::server
