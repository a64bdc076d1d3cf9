#include "server/admin/debug_digest.h"

#include "server/core/cross_thread.h"
#include "server/persist/persistence.h"
#include "server/core/server.h"
#include "store/digest.h"
#include "store/shard.h"
#include "store/string_util.h"

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

void DebugReload(store::ConnectionContext& c) {
  bool save = true, flush = true;
  for (size_t i = 2; i < c.args.size(); ++i) {
    if (store::EqualsIgnoreCase(c.args[i], "merge")) {
      // The loader replaces keys that exist: merging is what it does without a flush.
    } else if (store::EqualsIgnoreCase(c.args[i], "noflush")) {
      flush = false;
    } else if (store::EqualsIgnoreCase(c.args[i], "nosave")) {
      save = false;
    } else {
      c.reply.Error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
      return;
    }
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb, save, flush]() -> awaitable<void> {
    std::string path = RdbPath(srv);
    if (save) {
      rdb::Status st = co_await SaveRdbFileWhenIdle(srv, path);
      if (!st.ok()) {
        rb.Error("ERR Error trying to save the DB");  // not reached by a save that works
        co_return;
      }
    }
    if (flush) {
      std::vector<asio::io_context*> ctxs;
      for (unsigned t = 0; t < srv.shards().size(); ++t) ctxs.push_back(&srv.shards().at(t).ctx());
      co_await AwaitAll(ctxs, [&](size_t t) {
        store::Shard& shard = srv.shards().at(static_cast<unsigned>(t)).shard();
        for (unsigned d = 0; d < shard.db_count(); ++d) shard.FlushDb(d);
      });
    }
    uint64_t keys = 0;
    rdb::Status st = co_await LoadRdbFile(srv, path, &keys);
    if (!st.ok()) {
      rb.Error("ERR Error trying to load the RDB dump, check server logs.");
      co_return;
    }
    rb.Ok();
  };
}

}  // namespace darter::server
