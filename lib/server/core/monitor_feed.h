// MONITOR: a client that asks for it is sent a line for every command any client runs
// afterwards, on any thread, as Redis 7.0 writes it:
//   +1339518083.107412 [0 127.0.0.1:60866] "keyspace" "arg"
// (the database after the command ran, the client's address, or "lua" for a script's
// redis.call; arguments quoted as Redis's sdscatrepr). What is fed, as Redis 7.0:
//  * a command once it ran (so SELECT shows its new database); one refused before running
//    (unknown, wrong arity, NOAUTH, ...) is not fed;
//  * not ADMIN commands (CONFIG, CLIENT KILL|LIST|PAUSE, DEBUG, MONITOR, ...) nor
//    SKIP_MONITOR ones, except EVAL/EVALSHA/FCALL (and _RO), fed before their script runs;
//  * MULTI when it runs, each queued command as EXEC runs it, then EXEC;
//  * AUTH's arguments, HELLO's AUTH username and password, and MIGRATE's AUTH/AUTH2
//    credentials as "(redacted)";
//  * on a replica, the primary's stream as its commands run.
// The feed lives in core (the connection, EXEC, scripts and the replica feed it); the
// MONITOR command (admin/monitor_family.h) starts a monitor.
//
// A monitor client may then run only commands that do not touch the keyspace ("ERR
// Replica can't interact with the keyspace", as Redis); RESET or QUIT ends the mode.
// Lines reach a monitor as pushes (Connection::Push), bounded by the normal class's
// client-output-buffer-limit: a monitor that does not read is disconnected.
//
// Cost: with no monitor, MonitorsActive() is one relaxed atomic load per command.
// Order: a client's lines are posted in the order its commands ran to each monitor's
// thread, whose queue keeps them in that order.
#pragma once

#include <atomic>
#include <vector>

#include "server/core/asio.h"
#include "store/command_table.h"
#include "store/exec_block.h"

namespace darter::server {

class Connection;

// Connections in MONITOR mode, all threads together.
extern std::atomic<int> monitor_count;
inline bool MonitorsActive() { return monitor_count.load(std::memory_order_relaxed) != 0; }

// `conn` becomes a monitor; its lines are posted to `ctx`, its thread.
void StartMonitoring(Connection& conn, asio::io_context& ctx);

// Feeds a command `conn` ran (its database now), unless Redis would not show it.
void FeedMonitors(Connection& conn, const store::CommandSpec& spec, store::ArgList args);
// The same in database `db` (a command EXEC ran after a queued SELECT).
void FeedMonitors(Connection& conn, unsigned db, const store::CommandSpec& spec, store::ArgList args);
// Feeds a MULTI block of the primary's stream, applied as one (replica.cc): MULTI, each
// command in the database it runs in, EXEC.
void FeedBlockToMonitors(Connection& master, const std::vector<store::ExecBlockOp::Command>& commands);
// Feeds a script's redis.call (shown as "[db lua]").
void FeedMonitorsFromScript(unsigned db, const store::CommandSpec& spec, store::ArgList args);
// Runs an admitted command's route and feeds it (before the route for EVAL & co, after
// it otherwise). Dispatch calls it only while MonitorsActive().
awaitable<void> RunAndFeedMonitors(Connection& conn, const store::CommandSpec& spec, store::ArgList args,
                                   awaitable<void> route);
// The connection ends or RESETs: it no longer monitors.
void StopMonitoring(Connection& conn);

}  // namespace darter::server
