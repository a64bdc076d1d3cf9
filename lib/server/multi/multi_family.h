// MULTI, EXEC, DISCARD, WATCH, UNWATCH: a client's transaction state, and the hooks a
// Connection calls (docs/transactions.md, "Client transactions").
//
// Inside MULTI a connection queues its commands (Dispatch, dispatcher.h, calls
// QueueInMulti first thing). EXEC runs the queue as one store::ExecBlockOp through the transaction
// layer — atomic across shards — after checking the client's WATCHes on the watched
// keys' shards inside the same transaction (watch_registry.h).
//
// For other command families:
//  * a blocking command (kCmdBlocking) queued in MULTI runs inside the block, where
//    store::ExecBlockOp::InBlock() is true on the thread running it (shard handler,
//    multi-shard op, or connection handler): it must answer at once, as when its
//    timeout expires, and never park the client;
//  * a connection-level command (conn_handler) queued in MULTI runs on the client's
//    thread between the block's shard commands; one that sets ConnectionContext::then
//    has its `then` awaited after the block's shard commands, before EXEC replies.
//
// Thread-safety: ClientTransaction belongs to its connection's thread.
#pragma once

#include <memory>
#include <vector>

#include "resp/reply_builder.h"
#include "server/multi/watch_registry.h"
#include "store/command_table.h"
#include "store/exec_block.h"

namespace darter::server {

class Connection;

struct ClientTransaction {
  bool in_multi = false;
  bool dirty_exec = false;  // a command failed to queue: EXEC replies EXECABORT
  std::vector<store::ExecBlockOp::Command> queued;
  // WATCH session: null until the first WATCH after the last UNWATCH/EXEC/DISCARD.
  std::shared_ptr<Watcher> watcher;
  std::vector<WatchedKey> watched;
};

// True while `conn` is between MULTI and EXEC/DISCARD (its commands are queued, so it
// must not squash them).
bool InMulti(const Connection& conn);

// Called by Dispatch (dispatcher.h) while InMulti. Replies QUEUED, or the queue-time
// error (unknown command, or refused by admission: AdmissionPath::kMultiQueue, kExec,
// kMultiAtOnce) that makes EXEC abort, and returns true; returns false for the commands
// that act at once inside MULTI (EXEC, DISCARD, MULTI, WATCH, QUIT, RESET), which then
// run as usual.
bool QueueInMulti(Connection& conn, const store::CommandSpec* spec, store::ArgList args, resp::ReplyBuilder& reply);

// Called when the connection ends: unregisters its watches.
void ReleaseTransaction(Connection& conn);

void RegisterMultiFamily(store::CommandTable& table);

}  // namespace darter::server
