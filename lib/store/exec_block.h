// ExecBlockOp: runs a sequence of commands as one atomic unit — a MULTI/EXEC block from
// a client or from a primary's replication stream.
//
// The transaction layer locks every key of every command before the first hop; the op
// then runs the commands in order, each as one or more hops on the shards its keys
// live on (a multi-shard command inside the block runs its own hops, translated). No
// other command can observe the block half done.
//
// Keys are locked in the block's starting db; a SELECT inside the block switches the
// db the following commands run in (their keys are then locked under the starting db,
// which is weaker only for readers of that other db).
//
// Thread-safety: as MultiShardOp.
#pragma once

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
  };
  // `protocol`: RESP version for the per-command replies.
  ExecBlockOp(std::vector<Command> commands, unsigned start_db, unsigned db_count, int protocol);

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

  // Commands that changed data, in execution order, with their effects (for the journal).
  const std::vector<Effects>& effects() const { return effects_; }

 private:
  HopPlan AdvanceTo(size_t index);
  HopPlan TranslateInner(const HopPlan& plan) const;

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
  std::vector<std::string_view> current_args_;
  std::vector<std::string> replies_;      // encoded reply of each command
  std::vector<Effects> effects_;
  bool whole_shards_ = false;
};

}  // namespace darter::store
