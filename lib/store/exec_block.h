// ExecBlockOp: runs a sequence of commands as one atomic unit — a MULTI/EXEC block from
// a client or from a primary's replication stream.
//
// The transaction layer locks every key of every command before the first hop; the op
// then runs the commands in order, each as one or more hops on the shards its keys
// live on (a multi-shard command inside the block runs its own hops, translated). No
// other command can observe the block half done.
//
// Keys are locked in the block's starting db; a SELECT inside the block switches the
// db the following commands run in, and a SELECT to another db makes the block lock
// whole shards (its keys in that db could not be locked by name).
//
// Each hop reports its writes to the shard's observers as the command it runs: the
// command's db, arguments and this shard's keys (RunHop rewrites the HopContext).
//
// Blocking commands (kCmdBlocking) never block inside a block: they answer at once, as
// when their timeout expires (Redis runs MULTI with CLIENT_DENY_BLOCKING). InBlock()
// tells them: it is true on the thread running a block's command — a shard handler, a
// multi-shard op's factory, hops, NextHop and Reply, a connection-level command run by
// the local runner (but not a `then` it defers).
//
// Thread-safety: as MultiShardOp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"

namespace darter::store {

class ExecBlockOp : public MultiShardOp {
 public:
  struct Command {
    std::vector<std::string> argv;
    const CommandSpec* spec = nullptr;  // nullptr: unknown (replies an error in the block)
    // Non-empty: the block replies this error for the command instead of running it (its
    // user lost the permission between queueing and EXEC).
    std::string refusal = {};
  };
  // `protocol`: RESP version for the per-command replies.
  ExecBlockOp(std::vector<Command> commands, unsigned start_db, unsigned db_count, int protocol);

  // Runs a connection-level command of the block (a row with a conn_handler; SELECT and
  // PING the block runs itself), encoding its reply into *reply. Called from FirstHop
  // and NextHop, on whatever thread drives the op. Without a runner such commands
  // reply an error (the replication link's case).
  using LocalRunner = std::function<void(const CommandSpec& spec, ArgList args, std::string* reply)>;
  void set_local_runner(LocalRunner runner) { local_runner_ = std::move(runner); }

  // Decides, before any hop, whether the block locks whole shards. FirstHop calls it;
  // a caller that needs locks_whole_shards() before FirstHop calls it first.
  void Prepare(unsigned shard_count);
  // True on the calling thread while it runs code of one of a block's commands.
  static bool InBlock();
  // The db selected after the block ran (EXEC leaves the client there, as Redis does).
  unsigned db() const { return db_; }

  // Arguments to lock: a pseudo argument list ["EXEC", key...] and the indices of the
  // keys in it (all of them). They stay valid as long as the op lives.
  ArgList lock_args() const { return lock_args_; }
  std::vector<size_t> lock_key_indices() const;

  HopPlan FirstHop(unsigned shard_count) override;
  bool locks_whole_shards() const override { return whole_shards_; }
  void RunHop(int hop, HopContext& ctx) override;
  HopPlan NextHop(int hop) override;
  // An array with each command's reply, as EXEC returns.
  void Reply(resp::ReplyBuilder& reply) override;

  // Introspection (server's command_stats.h): when on, the block stamps a monotonic
  // time (ns) as each command's reply is ready; EXEC reads them with the commands and
  // their replies once the block ran.
  void set_time_commands(bool on) { time_commands_ = on; }
  const std::vector<Command>& commands() const { return commands_; }
  const std::string& reply_of(size_t i) const { return replies_[i]; }
  int64_t finished_ns(size_t i) const { return i < finished_ns_.size() ? finished_ns_[i] : -1; }

  // Commands that changed data, in execution order, with their effects (for the journal).
  const std::vector<Effects>& effects() const { return effects_; }

 private:
  HopPlan AdvanceTo(size_t index);
  HopPlan TranslateInner(const HopPlan& plan) const;
  void ReportAs(HopContext& ctx, const std::vector<size_t>& keys) const;

  std::vector<Command> commands_;
  std::vector<std::string> lock_storage_;
  std::vector<std::string_view> lock_args_;
  unsigned db_;
  unsigned db_count_;
  int protocol_;
  unsigned shard_count_ = 1;
  size_t current_ = 0;                    // command being run
  std::unique_ptr<MultiShardOp> inner_;   // when the current command is a multi-shard op
  std::vector<std::vector<size_t>> inner_keys_by_shard_;
  int inner_hop_ = 0;
  std::vector<char> inner_verbatim_reported_;  // per shard, for the current inner op (RunHop)
  std::vector<std::string_view> current_args_;
  std::vector<size_t> current_keys_;      // key indices of the current single-shard command
  LocalRunner local_runner_;
  bool time_commands_ = false;
  std::vector<int64_t> finished_ns_;      // when timing: per command, -1 until done
  void StampFinished(size_t i);
  std::vector<std::string> replies_;      // encoded reply of each command
  std::vector<Effects> effects_;
  bool whole_shards_ = false;
};

}  // namespace darter::store
