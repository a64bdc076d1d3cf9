// Clients blocked on keys (BLPOP & co, XREAD/XREADGROUP BLOCK) and their wake-ups.
//
// A blocking command first runs its non-blocking form (lib/store/blocking_forms.h).
// When that finds nothing, the connection registers a *waiter* on each of its keys, in
// the per-shard registry of the key's shard, and awaits it. The waiter's atomic state is
// claimed exactly once — by the shard that serves it, by the timeout, by CLIENT UNBLOCK
// or by the client's disconnect — so a client waiting on keys of several shards is
// served once.
//
// A registry is a WriteObserver of its shard: a write to a key with waiters marks it
// ready and posts a drain to the shard's loop, which runs after the current command (and
// behind any transaction's intent locks on the key: a MULTI/EXEC or multi-key op is
// served after it concluded). The drain serves waiters in the order they blocked while
// the key holds data, running the pop through the normal command path (LMPOP 1 key ...)
// so observers (journal, WATCH) see it, and posts the reply to the waiter's connection.
// BLMOVE/BRPOPLPUSH waiters are woken instead and re-run the move as an ordinary
// (possibly multi-shard) LMOVE, waiting again if someone else emptied the source.
#pragma once

#include <cstdint>

#include "server/core/asio.h"
#include "store/command_table.h"

namespace darter::server {

class Connection;

// Runs a blocking command for a connection that may wait. Returns false when this call
// does not block (XREAD without BLOCK, invalid arguments): the caller runs the command
// as usual. Connection thread.
awaitable<bool> RunBlockingCommand(Connection& conn, const store::CommandSpec& spec, store::ArgList args);

// CLIENT UNBLOCK id [TIMEOUT|ERROR]: true when that client was blocked and now is not.
// Any thread.
bool UnblockClient(uint64_t client_id, bool with_error);

// Waits until the BLMOVE/BRPOPLPUSH chains set off by writes before this call have run
// their moves (at most a second), so that a reply leaves only after them, as in Redis,
// where the clients a write made ready are served before the writer's reply. Returns at
// once when no chain is running. A connection calls it before it writes replies.
awaitable<void> AwaitMoveChains();

// Clients currently blocked (INFO clients blocked_clients).
uint64_t BlockedClientCount();

// Whether `client_id` is blocked now (CLIENT LIST flags).
bool IsClientBlocked(uint64_t client_id);

}  // namespace darter::server
