// The primary's side of the PSYNC protocol: REPLCONF, PSYNC, SYNC and WAIT
// (repl_master.h does the work).
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

#include "server/core/connection.h"
#include "server/core/log.h"
#include "server/repl/repl_master.h"
#include "server/core/server.h"
#include "store/blocking_forms.h"
#include "store/command_table.h"
#include "store/errors.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

void ReplconfCommand(ConnectionContext& c) {
  if (c.args.size() % 2 == 0) {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  // "capa darter" alone asks for a multi-flow session (repl_flow_master.h); Redis answers
  // +OK to capabilities it does not know, which is how a Darter replica tells them apart.
  if (c.args.size() == 3 && EqualsIgnoreCase(c.args[1], "capa") && EqualsIgnoreCase(c.args[2], "darter")) {
    ReplicationMaster& m = c.server.repl_master();
    auto [port, ip] = m.NotedReplconf(c.conn.id());
    if (ip.empty()) ip = c.conn.peer_address.substr(0, c.conn.peer_address.rfind(':'));
    m.flows().Handshake(c.reply, m.journal_id(), ip, port);
    return;
  }
  for (size_t j = 1; j < c.args.size(); j += 2) {
    std::string_view opt = c.args[j], val = c.args[j + 1];
    if (EqualsIgnoreCase(opt, "listening-port")) {
      auto port = store::ParseInt64(val);
      if (!port) {
        c.reply.Error(store::errors::kNotInteger);
        return;
      }
      c.server.repl_master().NoteReplconf(c.conn.id(), static_cast<int>(*port), "");
    } else if (EqualsIgnoreCase(opt, "ip-address")) {
      c.server.repl_master().NoteReplconf(c.conn.id(), -1, std::string(val));
    } else if (EqualsIgnoreCase(opt, "capa") || EqualsIgnoreCase(opt, "rdb-only") ||
               EqualsIgnoreCase(opt, "rdb-filter-only")) {
      // eof and psync2 are what we speak anyway; the full sync always sends $<len>.
    } else if (EqualsIgnoreCase(opt, "ack") || EqualsIgnoreCase(opt, "getack")) {
      // From a replica these arrive on its feed (repl_master.cc); from anyone else Redis
      // ignores them without a reply.
      return;
    } else {
      c.reply.Error("ERR Unrecognized REPLCONF option: " + std::string(opt));
      return;
    }
  }
  c.reply.Ok();
}

// repl-disable-tcp-nodelay: a connection that becomes a replica link (or one of its
// flows) sends with Nagle's algorithm, trading up to ~40 ms of delay for fewer packets.
void DisableNoDelayIfAsked(Server& srv, Connection& conn) {
  if (!srv.config().Snapshot().repl_disable_tcp_nodelay || conn.fd < 0) return;
  int off = 0;
  setsockopt(conn.fd, IPPROTO_TCP, TCP_NODELAY, &off, sizeof off);
}

void SyncCommandImpl(ConnectionContext& c, bool psync) {
  if (c.conn.replica_feed) return;
  // PSYNC <replid> <offset> FAILOVER: a primary running FAILOVER hands over to this
  // replica (Redis 6.2). The replid must be this server's history, the primary's own
  // when this is its replica; this server then becomes a primary (REPLICAOF NO ONE: the
  // old id becomes replid2) and serves the old primary's PSYNC as any other, partially
  // when it had applied everything.
  if (psync && c.args.size() > 3 && EqualsIgnoreCase(c.args[3], "failover")) {
    if (!c.server.is_replica()) {
      c.reply.Error("ERR PSYNC FAILOVER can't be sent to a master.");
      return;
    }
    if (c.args[1] != c.server.repl_master().replid()) {
      c.reply.Error("ERR PSYNC FAILOVER replid must match my replid.");
      return;
    }
    LOG_NOTICE("MASTER MODE enabled (failover request from '%s')", c.conn.Describe(store::UnixTimeMs()).c_str());
    c.server.ReplicaOfNoOne();
  }
  if (c.server.is_replica() && !c.server.repl_state().Get().link_up) {
    c.reply.Error("NOMASTERLINK Can't SYNC while not connected with my master");
    return;
  }
  std::string id = psync ? std::string(c.args[1]) : "?";
  int64_t offset = -1;
  if (psync) {
    auto off = store::ParseInt64(c.args[2]);
    if (!off) {
      c.reply.Error(store::errors::kNotInteger);
      return;
    }
    offset = *off;
  }
  Server& srv = c.server;
  Connection& conn = c.conn;
  DisableNoDelayIfAsked(srv, conn);
  c.then = [&srv, &conn, id, offset, psync]() -> awaitable<void> {
    co_await srv.repl_master().ServeReplica(conn, id, offset, psync);
  };
}

// DARTER FLOW <master id> <sync id> <flow> [<lsn>] | SYNC <sync id> [none|lz4|zstd] |
// STARTSTABLE <sync id>: the multi-flow replication steps (repl_flow_master.h).
// DARTER REPLICAOFFSET: each shard's journal LSN (Dragonfly's DFLY REPLICAOFFSET).
void DarterCommand(ConnectionContext& c) {
  std::string_view sub = c.args[1];
  FlowMaster& flows = c.server.repl_master().flows();
  resp::ReplyBuilder& rb = c.reply;
  if (EqualsIgnoreCase(sub, "flow") && (c.args.size() == 5 || c.args.size() == 6)) {
    if (c.conn.replica_feed) return;
    auto flow = store::ParseInt64(c.args[4]);
    auto lsn = c.args.size() == 6 ? store::ParseInt64(c.args[5]) : std::optional<int64_t>(-1);
    if (!flow || !lsn) {
      rb.Error(store::errors::kNotInteger);
      return;
    }
    Connection& conn = c.conn;
    DisableNoDelayIfAsked(c.server, conn);
    std::string id(c.args[2]), sync(c.args[3]);
    int64_t f = *flow, l = *lsn;
    c.then = [&flows, &conn, &rb, id, sync, f, l]() -> awaitable<void> {
      co_await flows.ServeFlow(conn, rb, id, sync, f, l);
    };
    return;
  }
  if (EqualsIgnoreCase(sub, "sync") && (c.args.size() == 3 || c.args.size() == 4)) {
    if (c.server.is_replica() && !c.server.repl_state().Get().link_up) {
      rb.Error("NOMASTERLINK Can't SYNC while not connected with my master");
      return;
    }
    auto compression = c.args.size() == 4 ? ParseFlowCompression(c.args[3]) : FlowCompression::kNone;
    if (!compression) {
      rb.Error("ERR unknown compression '" + std::string(c.args[3]) + "'");
      return;
    }
    std::string sync(c.args[2]);
    FlowCompression comp = *compression;
    c.then = [&flows, &rb, sync, comp]() -> awaitable<void> { co_await flows.Sync(rb, sync, comp); };
    return;
  }
  if (EqualsIgnoreCase(sub, "replicaoffset") && c.args.size() == 2) {
    // What a multi-flow replica's slave_repl_offset sums to once it applied everything.
    std::vector<uint64_t> lsns = c.server.repl_master().JournalLsns();
    rb.ArrayHeader(lsns.size());
    for (uint64_t l : lsns) rb.Integer(static_cast<int64_t>(l));
    return;
  }
  if (EqualsIgnoreCase(sub, "startstable") && c.args.size() == 3) {
    flows.StartStable(rb, std::string(c.args[2]));
    return;
  }
  rb.Error("ERR unknown subcommand or wrong number of arguments for '" + std::string(sub) + "'. Try DARTER HELP.");
}

void PsyncCommand(ConnectionContext& c) { SyncCommandImpl(c, true); }
void SyncCommand(ConnectionContext& c) { SyncCommandImpl(c, false); }

// On a primary: replicas that acknowledged every write before the WAIT. On a replica
// (where redis-server 7.0 answers an error): sub-replicas that acknowledged everything
// this replica had applied when the WAIT arrived; the chain shares one offset space, so
// that is how a chained cutover or a monitor waits for the chain to meet.
void WaitCommand(ConnectionContext& c) {
  auto wanted = store::ParseInt64(c.args[1]);
  if (!wanted) {
    c.reply.Error(store::errors::kNotInteger);
    return;
  }
  int64_t timeout_ms = 0;
  if (std::string err = store::blocking::ParseTimeoutMillis(c.args[2], &timeout_ms); !err.empty()) {
    c.reply.Error(err);
    return;
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  int64_t n = *wanted, t = timeout_ms;
  c.then = [&srv, &rb, n, t]() -> awaitable<void> {
    int64_t acked = co_await srv.repl_master().Wait(n, t);
    rb.Integer(acked);
  };
}

}  // namespace

void RegisterReplicationMasterFamily(store::CommandTable& t) {
  using namespace store;
  constexpr uint32_t kLink = kCmdAdmin | kCmdNoScript;
  CommandFamily family(t, 0);
  family << CommandRow("replconf", -1, kLink | kCmdLoading | kCmdStale).Connection(ReplconfCommand)
         << CommandRow("darter", -2, kLink | kCmdLoading | kCmdStale).Connection(DarterCommand)
         << CommandRow("psync", -3, kLink).Connection(PsyncCommand)
         << CommandRow("sync", 1, kLink).Connection(SyncCommand)
         << CommandRow("wait", 3, kCmdNoScript).Connection(WaitCommand).Acl(kAclConnection);
}

}  // namespace darter::server
