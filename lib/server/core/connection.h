// Connection: one client. Lives on one shard thread for its whole life: reads,
// parses pipelined requests, hands each command to the dispatcher (dispatcher.h: lookup,
// admission, routing), which runs it inline when its key is on this thread, else on the
// owner shard; gathers the replies and writes them in one call.
//
// Thread-safety: every member is touched only on the owning thread. Other threads
// reach a connection (CLIENT KILL, CLIENT LIST) by posting to that thread.
#pragma once

#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "server/acl/acl_registry.h"
#include "resp/request_parser.h"
#include "server/core/asio.h"
#include "server/core/command_stats.h"
#include "server/core/executor.h"
#include "server/core/output_limits.h"
#include "server/core/stream.h"
#include "store/command_table.h"
#include "store/exec_block.h"

namespace darter::server {

class Server;
class ShardThread;
struct ClientTransaction;
struct Subscriber;

class Connection;

// Client-side caching state of one client (CLIENT TRACKING, server/tracking/,
// docs/client-tracking.md). Own thread only; the shards see it through the TrackingScope
// of the command running (executor.h).
struct ClientTracking {
  bool on = false;
  bool bcast = false, optin = false, optout = false, noloop = false;
  bool caching = false;          // CLIENT CACHING YES/NO given, for the next command
  bool broken_redirect = false;  // the redirect client was gone at a delivery
  uint64_t redirect = 0;         // client id, 0: none
  unsigned redirect_thread = 0;  // where that client lives (found at CLIENT TRACKING ON)
  std::vector<std::string> prefixes;  // BCAST prefixes, sorted
  // The scopes handed to the shards: for a read that counts, for any other command, and
  // for a MULTI block (with the keys its read commands name).
  TrackingScope reads, others, block;
  std::vector<std::string> block_reads;
  // Set by the tracking module: called once when the connection ends while tracking.
  void (*release)(Connection& conn) = nullptr;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `tls`: the server context of a client accepted on the TLS port (Run handshakes
  // first); null for plain TCP.
  Connection(Server& server, unsigned thread, asio::ip::tcp::socket socket, uint64_t id,
             std::shared_ptr<asio::ssl::context> tls = nullptr);

  awaitable<void> Run();
  // Closes the socket; the read loop ends. Own thread only.
  void Close();

  uint64_t id() const { return id_; }
  unsigned thread() const { return thread_; }
  Server& server() { return server_; }

  // Client state, read and written by connection-level commands.
  unsigned db = 0;
  // Redis's c->authenticated: set by AUTH / HELLO AUTH, or at connect when the default
  // user needs no password; NOAUTH applies while it is false and the default user needs
  // one (dispatcher.h).
  bool authenticated = false;
  // The ACL user the client runs as (Redis's c->user): default until AUTH (acl_registry.h).
  acl::ClientAcl acl;
  std::string name;
  bool close_after_reply = false;
  std::string last_command = "NULL";
  int64_t created_ms = 0;
  int64_t last_interaction_ms = 0;
  std::string peer_address;
  std::string local_address;
  bool local_client = false;  // on a loopback address (protected_actions.h)
  int fd = -1;
  // MULTI/WATCH state (multi_family.h); null until the client first uses them.
  std::shared_ptr<ClientTransaction> tx;
  // CLIENT REPLY: OFF drops every reply until ON; SKIP drops the next command's reply
  // (reply_skip_this while that command runs). Pushes and (un)subscribe confirmations
  // still go out, as in Redis 7.0.
  bool reply_off = false;
  bool reply_skip_next = false;
  bool reply_skip_this = false;
  // CLIENT NO-EVICT on: shown as flag e (there is no client eviction to exempt from).
  bool no_evict = false;
  // MONITOR: fed the commands every client runs (monitor_family.h), until RESET or QUIT.
  bool monitor = false;

  int protocol() const { return reply_.protocol(); }
  void set_protocol(int p) { reply_.SetProtocol(p); }
  size_t query_buffer_size() const { return in_end_ - in_pos_; }
  size_t output_buffer_size() const { return out_.size(); }

  // The replication link's client: runs the primary's stream, may write on a replica,
  // skips AUTH/READONLY/LOADING/OOM checks, and its replies are dropped.
  bool is_master = false;
  // Runs one command of the stream; returns the error reply ("" when it succeeded), so
  // the link can report commands the primary accepted but this server refused.
  awaitable<std::string> ExecuteAsMaster(store::ArgList args);

  // The multi-flow replica's apply (replica_flows.cc): runs `commands` in order, squashing
  // runs of single-key commands per shard in parallel as a client pipeline does; replies
  // are dropped. Returns the first error reply, or "", and the index of the command
  // that gave it in *error_index.
  awaitable<std::string> ExecutePipelineAsMaster(const std::vector<std::vector<std::string_view>>& commands,
                                                 size_t* error_index = nullptr);

  // A replica's link after PSYNC/SYNC: the replication feed (repl_master.h) owns the
  // stream until the link ends; CLIENT KILL TYPE replica matches it.
  bool replica_feed = false;
  // The client's byte stream, plain or TLS (net/stream.h): at most one read and one
  // write in flight, on this connection's thread.
  net::Stream& stream() { return stream_; }

  // CLIENT LIST / CLIENT INFO line.
  std::string Describe(int64_t now_ms) const;

  // Pub/sub (pubsub_family.cc): this connection's subscriptions; null until its first
  // (P|S)SUBSCRIBE.
  std::shared_ptr<Subscriber> subscriber;
  // Client-side caching (ClientTracking above); null until CLIENT TRACKING is first used.
  std::unique_ptr<ClientTracking> tracking;
  // The scope the shards see for `spec` run now by this client: null unless it tracks.
  const TrackingScope* TrackingScopeFor(const store::CommandSpec& spec) const;
  // The same for a MULTI block at EXEC: the keys of its read commands count as read.
  const TrackingScope* TrackingScopeForBlock(const std::vector<store::ExecBlockOp::Command>& commands);
  // Asynchronous output (a pub/sub message): written after any reply already produced,
  // whether the connection is idle, running a batch or writing. Disconnects the client
  // (and drops the bytes) when its unsent output exceeds client-output-buffer-limit.
  // Own thread only; defined in connection_push.cc.
  void Push(std::string_view bytes);
  // A push that must follow the reply of the command running now (an invalidation of a
  // key the client itself wrote, which Redis 7.0 sends after the reply): held while a
  // batch runs, pushed after the current command's reply.
  void PushAfterCommand(std::string_view bytes);
  // Output produced but not yet written (replies and pushes), less what the write in
  // flight has already handed to the socket.
  // The input buffer and the output buffer's capacity: what CLIENT LIST's tot-mem
  // reports, MEMORY STATS's clients.normal / clients.slaves sum.
  size_t buffer_bytes() const { return in_.size() + out_.capacity(); }
  size_t pending_output() const {
    return out_.size() - out_sent_ + push_.size() + wbuf_.size() - wbuf_sent_;
  }

  // For the dispatcher (dispatcher.h). The reply builder writing this client's output.
  resp::ReplyBuilder& reply() { return reply_; }
  // Re-reads the parser's limits (proto-max-bulk-len, the unauthenticated caps): after a
  // command that may change them (AUTH, HELLO, RESET). Read on every read too.
  void RefreshParserLimits();
  // The shard execution of a command the dispatcher admitted (not a connection-level
  // one): its shard handler, inline when its key is on this thread and unlocked, else on
  // the key's shard; or its multi-shard op through the transaction layer.
  awaitable<void> ExecuteOnShards(const store::CommandSpec* spec, store::ArgList args);

  // For a command that waits (blocking.cc): while it waits, the client's input is read
  // into the buffer's free tail (so a disconnect ends the wait and pipelined requests
  // are kept for after it), and the replies produced before it are written.
  bool closed() const { return closed_; }
  // The free tail of the input buffer; InputReceived(n) adds n bytes read into it.
  std::span<char> InputSpace() { return {in_.data() + in_end_, in_.size() - in_end_}; }
  void InputReceived(size_t n) { in_end_ += n; }
  // Writes the output produced so far (after the BLMOVE chains it waits for, blocking.h).
  awaitable<void> Flush();

  // Command introspection (command_stats.h). Dispatch begins observing an admitted
  // command (its spec, start time, where its reply starts); the caller that awaited the
  // route ends it with EndCommand, which also counts an error reply in errorstats.
  CommandObservation observation;
  void BeginObservation(const store::CommandSpec& spec);
  // `reply_at` / `flush_gen`: the output's size and flush count before Dispatch.
  void EndCommand(store::ArgList args, size_t reply_at, uint64_t flush_gen);
  uint64_t flush_gen() const { return flush_gen_; }

 private:
  // Push's writer (connection_push.cc): drains push_ while no batch is writing.
  void StartPushWriter();
  void ReleaseAfterCommand();
  awaitable<void> PushWriter();
  awaitable<void> WaitForPushWriter();

  // Pipelining: commands parsed from one read run as a batch. A run of consecutive
  // single-key commands is "squashed": one hop per owning shard runs that shard's
  // commands in order, all shards in parallel, and the replies are put back in request
  // order. Commands on one key stay in order (they share a shard); commands on different
  // keys may run in any order, which no client can tell apart from some serial order.
  struct BatchEntry {
    std::vector<std::string_view> args;
    const store::CommandSpec* spec = nullptr;
  };
  awaitable<void> ExecuteBatch();
  // Before the first command: whether the bytes so far are an HTTP GET (http_request.h).
  // Answers and closes when they are; returns false to read more before deciding.
  // Sets http_decided_ once the connection is known to speak RESP.
  awaitable<bool> ServeHttpIfAsked();
  // A TLS client's handshake, before its first read; closes the connection (with a log
  // line) when it fails or times out.
  awaitable<void> TlsHandshake();
  // Input side (connection.cc). The buffer grows as bytes arrive, never ahead of them by
  // more than its own size, so a declared-but-unsent bulk costs nothing.
  void GrowInput();
  // client-query-buffer-limit: logs and closes the client when its pending request bytes
  // pass the limit. Returns true when it did.
  bool QueryBufferLimitReached();
  // client-output-buffer-limit for this client's class: logs and closes the client when
  // its unsent output passes the class's hard limit, or its soft limit for longer than
  // soft_seconds, dropping the output not yet handed to a write. Returns true when it did.
  bool OutputLimitReached();
  // While a write is stuck behind a client that does not read, re-checks the limits every
  // kOutputLimitCheckMs (Redis checks from its client cron too): a soft limit can expire
  // with no new output. Armed by the writers; disarms itself once nothing is pending.
  void WatchOutputLimits();
  // Writes the replies gathered so far once they reach kFlushThreshold, in the middle of
  // a batch too: a client that does not read then holds one reply plus 256 KB, not a
  // batch of 256 big replies (the batch's arguments stay valid: they live in in_).
  awaitable<void> FlushIfLarge();
  // Writes all of `buf`, counting progress in `*sent` (read by pending_output()).
  awaitable<boost::system::error_code> WriteAll(const std::string& buf, size_t* sent);
  // True when `e` can join a squashed run (dispatcher.h, CanSquash); sets e.spec.
  bool Squashable(BatchEntry& e);
  awaitable<void> RunSquashed(size_t begin, size_t end);
  // One command of a batch through Dispatch when CLIENT REPLY OFF or SKIP drops its reply.
  awaitable<void> DispatchDroppingReply(store::ArgList args);

  Server& server_;
  ShardThread& thread_ref_;
  unsigned thread_;
  net::Stream stream_;
  uint64_t id_;
  resp::RequestParser parser_;
  std::vector<std::string_view> args_;
  std::vector<BatchEntry> batch_;
  std::deque<std::string> batch_owned_;  // inline commands' arguments (not views into in_)
  std::vector<char> in_;
  size_t in_pos_ = 0, in_end_ = 0;
  // Size the partial command at the front of in_ will reach when complete, when the
  // parser knows it (a bulk's declared length), else 0. Caps GrowInput.
  size_t in_need_ = 0;
  std::string out_;
  uint64_t flush_gen_ = 0;  // Flushes that emptied out_ (EndCommand's reply position)
  size_t out_sent_ = 0;  // bytes of out_ written by the Flush in flight
  resp::ReplyBuilder reply_;
  bool closed_ = false;
  bool http_decided_ = false;  // the first bytes were not an HTTP request (RESP from then on)
  std::string parse_error_;
  // Output ordering with pushes: while a batch runs (in_batch_) pushes join out_ after the
  // replies produced so far, unless out_ is being written (flush_writing_); otherwise
  // they queue in push_, which PushWriter writes from wbuf_. One write is in flight at a
  // time: Flush waits for PushWriter, and PushWriter only starts outside a batch or
  // after Flush's write.
  bool in_batch_ = false;
  // While a command whose reply CLIENT REPLY drops runs: pushes then wait in push_
  // (they are delivered), and out_ is cut back to reply_mark_ after the command.
  bool dropping_reply_ = false;
  size_t reply_mark_ = 0;
  bool flush_writing_ = false;
  bool push_writing_ = false;
  std::string push_;
  std::string after_command_;  // PushAfterCommand's bytes, until the command's reply
  std::string wbuf_;
  size_t wbuf_sent_ = 0;  // bytes of wbuf_ written by PushWriter
  std::unique_ptr<asio::steady_timer> push_done_;  // cancelled when PushWriter finishes
  OutputLimitTracker output_limit_;
  std::unique_ptr<asio::steady_timer> limit_watch_;
  bool limit_watch_armed_ = false;
};

// What a connection-level command handler sees (store::ConnectionHandler).
}  // namespace darter::server

namespace darter::store {
struct ConnectionContext {
  server::Connection& conn;
  server::Server& server;
  ArgList args;
  resp::ReplyBuilder& reply;
  // Set by handlers that must wait for other threads (INFO, CLIENT LIST, DEBUG
  // POPULATE, ...): the connection awaits it before the next command.
  std::function<server::awaitable<void>()> then;
};
}  // namespace darter::store
