#include "server/debug_digest.h"

#include "server/cross_thread.h"
#include "server/server.h"
#include "store/digest.h"
#include "store/shard.h"

namespace darter::server {

void DebugDigest(store::ConnectionContext& c) {
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb]() -> awaitable<void> {
    unsigned n = srv.shards().size();
    std::vector<store::ShardDigest> parts(n);
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    co_await AwaitAll(ctxs, [&](size_t t) { parts[t] = store::ComputeShardDigest(srv.shards().at(t).shard()); });
    rb.SimpleString(store::DigestHex(store::CombineShardDigests(parts)));
  };
}

void DebugDigestValue(store::ConnectionContext& c) {
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  std::vector<std::string> keys;
  for (size_t i = 2; i < c.args.size(); ++i) keys.emplace_back(c.args[i]);
  unsigned db = c.conn.db;
  c.then = [&srv, &rb, keys, db]() -> awaitable<void> {
    unsigned n = srv.shards().size();
    std::vector<std::string> hex(keys.size(), std::string(40, '0'));
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    co_await AwaitAll(ctxs, [&](size_t t) {
      store::Shard& shard = srv.shards().at(static_cast<unsigned>(t)).shard();
      int64_t now = store::UnixTimeMs();
      for (size_t i = 0; i < keys.size(); ++i) {
        if (store::ShardOf(keys[i], n) != t) continue;
        if (const store::Slot* s = shard.FindLive(db, keys[i], now)) hex[i] = store::DigestHex(store::ValueDigest(*s));
      }
    });
    rb.ArrayHeader(hex.size());
    for (auto& h : hex) rb.SimpleString(h);
  };
}

}  // namespace darter::server
