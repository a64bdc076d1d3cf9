// CLIENT TRACKING and its companions, with Redis 7.0's option rules and error strings.
//
// CLIENT TRACKING ON waits until every shard's table observes writes (and holds the
// client's BCAST prefixes) before it replies: a write that follows the OK (on any thread,
// inline on its shard too) finds the table ready. Turning tracking off needs no wait:
// the prefixes are removed by posts that precede, on each shard's queue, anything the
// client sends next.
#include "server/tracking/tracking_family.h"

#include <algorithm>
#include <atomic>
#include <iterator>
#include <optional>
#include <sstream>
#include <vector>

#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/tracking/tracking_table.h"
#include "store/errors.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

// The executor's hook (TrackingScope::remember): on the shard's thread.
void RememberOnShard(store::Shard& shard, const TrackingScope& scope, std::span<const std::string_view> keys) {
  static_cast<Tracking*>(scope.tables)->table(shard.index()).Remember(scope, keys);
}

ClientTracking& StateOf(Connection& conn) {
  if (!conn.tracking) conn.tracking = std::make_unique<ClientTracking>();
  return *conn.tracking;
}

// Two prefixes collide when one starts with the other: a key could match both.
bool Overlap(std::string_view a, std::string_view b) {
  size_t n = std::min(a.size(), b.size());
  return a.substr(0, n) == b.substr(0, n);
}

struct TrackingRequest {
  bool on = false, off = false;
  std::optional<int64_t> redirect;
  bool bcast = false, optin = false, optout = false, noloop = false;
  std::vector<std::string> prefixes;
  std::string error;  // the first option error after any REDIRECT (checked after it)
};

TrackingRequest Parse(store::ArgList args) {
  TrackingRequest r;
  for (size_t j = 3; j < args.size(); ++j) {
    const bool more = j + 1 < args.size();
    std::string_view opt = args[j];
    if (EqualsIgnoreCase(opt, "redirect") && more) {
      ++j;
      if (r.redirect) {
        r.error = "ERR A client can only redirect to a single other client";
        break;
      }
      auto id = store::ParseInt64(args[j]);
      if (!id) {
        r.error = store::errors::kNotInteger;
        break;
      }
      r.redirect = *id;
    } else if (EqualsIgnoreCase(opt, "bcast")) {
      r.bcast = true;
    } else if (EqualsIgnoreCase(opt, "optin")) {
      r.optin = true;
    } else if (EqualsIgnoreCase(opt, "optout")) {
      r.optout = true;
    } else if (EqualsIgnoreCase(opt, "noloop")) {
      r.noloop = true;
    } else if (EqualsIgnoreCase(opt, "prefix") && more) {
      ++j;
      r.prefixes.emplace_back(args[j]);
    } else {
      r.error = store::errors::kSyntax;
      break;
    }
  }
  if (r.error.empty()) {
    if (EqualsIgnoreCase(args[2], "on")) r.on = true;
    else if (EqualsIgnoreCase(args[2], "off")) r.off = true;
    else r.error = store::errors::kSyntax;
  }
  return r;
}

std::string OverlapError(const std::string& given, const std::string& other, bool existing) {
  return "ERR Prefix '" + given + "' overlaps with " + (existing ? "an existing" : "another provided") +
         " prefix '" + other + "'. Prefixes for a single client must not overlap.";
}

// Redis compares every pair, which a request with a million prefixes would turn into
// hours; past this many pairs the check sorts instead (the same verdict, though the pair
// named may be another one than Redis's).
constexpr size_t kExactOverlapCheck = 1u << 20;

// Two prefixes overlap when one starts with the other; sorted, an overlapping pair
// implies an overlapping neighbour pair (a prefix sorts right before what extends it,
// with only its other extensions between).
std::string CheckOverlapSorted(const ClientTracking& t, const TrackingRequest& r) {
  std::vector<std::pair<std::string_view, bool>> all;  // (prefix, given in this request)
  for (const std::string& p : t.prefixes) all.emplace_back(p, false);
  for (const std::string& p : r.prefixes) all.emplace_back(p, true);
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i + 1 < all.size(); ++i) {
    auto [a, a_given] = all[i];
    auto [b, b_given] = all[i + 1];
    if (!a_given && !b_given) continue;  // the client's own prefixes never overlap
    if (!Overlap(a, b)) continue;
    if (!a_given) return OverlapError(std::string(b), std::string(a), true);
    if (!b_given) return OverlapError(std::string(a), std::string(b), true);
    return OverlapError(std::string(a), std::string(b), false);
  }
  return "";
}

// Redis's checks before enabling, in its order; "" when the request may proceed.
std::string CheckOn(const ClientTracking& t, const TrackingRequest& r) {
  if (!r.bcast && !r.prefixes.empty()) return "ERR PREFIX option requires BCAST mode to be enabled";
  if (t.on && t.bcast != r.bcast)
    return "ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then "
           "re-enabling it with a different mode.";
  if (r.bcast && (r.optin || r.optout)) return "ERR OPTIN and OPTOUT are not compatible with BCAST";
  if (r.optin && r.optout) return "ERR You can't specify both OPTIN mode and OPTOUT mode";
  if ((r.optin && t.optout) || (r.optout && t.optin))
    return "ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then "
           "re-enabling it with a different mode.";
  if (r.bcast && r.prefixes.size() * (r.prefixes.size() + t.prefixes.size()) > kExactOverlapCheck)
    return CheckOverlapSorted(t, r);
  if (r.bcast) {
    for (size_t i = 0; i < r.prefixes.size(); ++i) {
      for (const std::string& existing : t.prefixes)
        if (Overlap(existing, r.prefixes[i]))
          return "ERR Prefix '" + r.prefixes[i] + "' overlaps with an existing prefix '" + existing +
                 "'. Prefixes for a single client must not overlap.";
      for (size_t j = i + 1; j < r.prefixes.size(); ++j)
        if (Overlap(r.prefixes[i], r.prefixes[j]))
          return "ERR Prefix '" + r.prefixes[i] + "' overlaps with another provided prefix '" + r.prefixes[j] +
                 "'. Prefixes for a single client must not overlap.";
    }
  }
  return "";
}

void ReleaseOnClose(Connection& conn) { DisableTracking(conn); }

awaitable<void> EnableTracking(Server& srv, Connection& conn, resp::ReplyBuilder& rb, const TrackingRequest& r,
                               unsigned redirect_thread) {
  Tracking& tracking = TrackingOf(srv);
  ClientTracking& t = StateOf(conn);
  if (!t.on) tracking.clients.fetch_add(1, std::memory_order_relaxed);
  t.on = true;
  t.broken_redirect = false;
  t.redirect = r.redirect ? static_cast<uint64_t>(*r.redirect) : 0;
  t.redirect_thread = redirect_thread;
  std::vector<std::string> added;
  if (r.bcast) {
    std::vector<std::string> wanted = r.prefixes;
    if (wanted.empty()) wanted.emplace_back();  // BCAST alone: every key
    std::sort(wanted.begin(), wanted.end());
    wanted.erase(std::unique(wanted.begin(), wanted.end()), wanted.end());
    // t.prefixes is sorted: the new ones are those it lacks.
    std::set_difference(wanted.begin(), wanted.end(), t.prefixes.begin(), t.prefixes.end(), std::back_inserter(added));
    std::vector<std::string> merged;
    merged.reserve(t.prefixes.size() + added.size());
    std::merge(t.prefixes.begin(), t.prefixes.end(), added.begin(), added.end(), std::back_inserter(merged));
    t.prefixes.swap(merged);
  }
  t.bcast = r.bcast;
  t.optin = r.optin;
  t.optout = r.optout;
  t.noloop = r.noloop;
  TrackingScope base;
  base.client = conn.id();
  base.thread = conn.thread();
  base.noloop = r.noloop;
  base.remember = RememberOnShard;
  base.tables = &tracking;
  t.others = base;
  t.reads = base;
  t.reads.record_reads = true;
  t.release = ReleaseOnClose;
  const TrackedClient me{conn.id(), conn.thread()};
  std::vector<asio::io_context*> ctxs;
  for (unsigned s = 0; s < srv.shards().size(); ++s) ctxs.push_back(&srv.shards().at(s).ctx());
  co_await AwaitAll(ctxs, [&](size_t s) {
    ShardThread& st = srv.shards().at(static_cast<unsigned>(s));
    TrackingTable& table = tracking.table(static_cast<unsigned>(s));
    table.EnsureObserving(st.shard());
    for (const std::string& p : added) table.AddPrefix(p, me);
  });
  rb.Ok();
}

}  // namespace

void DisableTracking(Connection& conn) {
  if (!conn.tracking || !conn.tracking->on) return;
  ClientTracking& t = *conn.tracking;
  Server& srv = conn.server();
  Tracking& tracking = TrackingOf(srv);
  if (!t.prefixes.empty()) {
    auto prefixes = std::make_shared<const std::vector<std::string>>(std::move(t.prefixes));
    const uint64_t id = conn.id();
    for (unsigned s = 0; s < srv.shards().size(); ++s)
      asio::post(srv.shards().at(s).ctx(),
                 [&tracking, s, id, prefixes] { tracking.table(s).RemovePrefixes(id, *prefixes); });
  }
  tracking.clients.fetch_sub(1, std::memory_order_relaxed);
  t.prefixes.clear();
  t.on = t.bcast = t.optin = t.optout = t.noloop = t.caching = t.broken_redirect = false;
}

void ClientTrackingCommand(ConnectionContext& c) {
  Server& srv = c.server;
  Connection& conn = c.conn;
  resp::ReplyBuilder& rb = c.reply;
  TrackingRequest req = Parse(c.args);
  c.then = [&srv, &conn, &rb, r = std::move(req)]() -> awaitable<void> {
    // REDIRECT's client must exist now (it may go later: tracking-redir-broken).
    unsigned redirect_thread = 0;
    if (r.redirect) {
      std::atomic<int> found{-1};
      const int64_t id = *r.redirect;
      if (id > 0) {
        std::vector<asio::io_context*> ctxs;
        for (unsigned t = 0; t < srv.shards().size(); ++t) ctxs.push_back(&srv.shards().at(t).ctx());
        co_await AwaitAll(ctxs, [&](size_t t) {
          if (srv.connections(static_cast<unsigned>(t)).count(static_cast<uint64_t>(id)))
            found.store(static_cast<int>(t));
        });
      }
      if (found.load() < 0) {
        rb.Error("ERR The client ID you want redirect to does not exist");
        co_return;
      }
      redirect_thread = static_cast<unsigned>(found.load());
    }
    if (!r.error.empty()) {
      rb.Error(r.error);
      co_return;
    }
    if (r.off) {
      DisableTracking(conn);
      rb.Ok();
      co_return;
    }
    if (std::string err = CheckOn(StateOf(conn), r); !err.empty()) {
      rb.Error(err);
      co_return;
    }
    co_await EnableTracking(srv, conn, rb, r, redirect_thread);
  };
}

void ClientCachingCommand(ConnectionContext& c) {
  ClientTracking* t = c.conn.tracking.get();
  if (!t || !t->on) {
    c.reply.Error(
        "ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode "
        "enabled");
    return;
  }
  if (EqualsIgnoreCase(c.args[2], "yes")) {
    if (!t->optin) {
      c.reply.Error("ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.");
      return;
    }
  } else if (EqualsIgnoreCase(c.args[2], "no")) {
    if (!t->optout) {
      c.reply.Error("ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.");
      return;
    }
  } else {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  // Cleared after the next command that is not a CLIENT subcommand (connection.cc).
  t->caching = true;
  c.reply.Ok();
}

void ClientGetRedirCommand(ConnectionContext& c) {
  const ClientTracking* t = c.conn.tracking.get();
  c.reply.Integer(t && t->on ? static_cast<int64_t>(t->redirect) : -1);
}

void ClientTrackingInfoCommand(ConnectionContext& c) {
  static const ClientTracking kOff;
  const ClientTracking& t = c.conn.tracking ? *c.conn.tracking : kOff;
  resp::ReplyBuilder& rb = c.reply;
  std::vector<const char*> flags{t.on ? "on" : "off"};
  if (t.bcast) flags.push_back("bcast");
  if (t.optin) {
    flags.push_back("optin");
    if (t.caching) flags.push_back("caching-yes");
  }
  if (t.optout) {
    flags.push_back("optout");
    if (t.caching) flags.push_back("caching-no");
  }
  if (t.noloop) flags.push_back("noloop");
  if (t.broken_redirect) flags.push_back("broken_redirect");
  rb.MapHeader(3);
  rb.Bulk("flags");
  rb.SetHeader(flags.size());
  for (const char* f : flags) rb.Bulk(f);
  rb.Bulk("redirect");
  rb.Integer(t.on ? static_cast<int64_t>(t.redirect) : -1);
  rb.Bulk("prefixes");
  rb.ArrayHeader(t.prefixes.size());
  for (const std::string& p : t.prefixes) rb.Bulk(p);
}

int64_t TrackingClientCount(Server& server) {
  Tracking* t = FindTracking(server);
  return t ? t->clients.load(std::memory_order_relaxed) : 0;
}

std::string TrackingInfoStats(Server& server) {
  size_t keys = 0, items = 0, prefixes = 0;
  if (Tracking* t = FindTracking(server)) {
    for (unsigned s = 0; s < t->shard_count(); ++s) {
      keys += t->table(s).key_count();
      items += t->table(s).item_count();
    }
    // Every shard holds every prefix: one shard's count is the server's.
    prefixes = t->table(0).prefix_count();
  }
  std::ostringstream o;
  o << "tracking_total_keys:" << keys << "\r\ntracking_total_items:" << items
    << "\r\ntracking_total_prefixes:" << prefixes << "\r\n";
  return o.str();
}

}  // namespace darter::server
