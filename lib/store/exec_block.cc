#include "store/exec_block.h"

#include <chrono>

#include <climits>
#include <optional>

#include "store/errors.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::store {

namespace {

thread_local bool in_block = false;

// Marks the thread as running code of a block's command for the scope's duration.
class InBlockScope {
 public:
  InBlockScope() : was_(in_block) { in_block = true; }
  ~InBlockScope() { in_block = was_; }

 private:
  bool was_;
};

// SELECT's argument as SELECT checks it: an int32, then a valid db index.
std::optional<int64_t> SelectIndex(std::string_view arg, std::string_view* error, unsigned db_count) {
  auto v = ParseInt64(arg);
  if (!v || *v < INT32_MIN || *v > INT32_MAX) {
    *error = v ? errors::kNotInt32 : errors::kNotInteger;
    return std::nullopt;
  }
  if (*v < 0 || *v >= static_cast<int64_t>(db_count)) {
    *error = errors::kDbIndexOutOfRange;
    return std::nullopt;
  }
  return v;
}

}  // namespace

ExecBlockOp::ExecBlockOp(std::vector<Command> commands, unsigned start_db, unsigned db_count, int protocol)
    : commands_(std::move(commands)), db_(start_db), db_count_(db_count), protocol_(protocol) {
  replies_.resize(commands_.size());
  effects_.resize(commands_.size());
  lock_storage_.push_back("EXEC");
  for (auto& c : commands_) {
    if (!c.spec) continue;
    std::vector<std::string_view> args(c.argv.begin(), c.argv.end());
    if (!c.spec->ArityOk(args.size())) continue;
    for (size_t i : c.spec->KeyIndices(args)) lock_storage_.push_back(c.argv[i]);
  }
  for (auto& s : lock_storage_) lock_args_.push_back(s);
}

std::vector<size_t> ExecBlockOp::lock_key_indices() const {
  std::vector<size_t> out;
  for (size_t i = 1; i < lock_args_.size(); ++i) out.push_back(i);
  return out;
}

// The inner op's targets as explicit shards.
HopPlan ExecBlockOp::TranslateInner(const HopPlan& plan) const {
  HopPlan out{HopTarget::kShardList};
  switch (plan.target) {
    case HopTarget::kDone:
      break;
    case HopTarget::kKeyShards:
      for (unsigned s = 0; s < shard_count_; ++s)
        if (!inner_keys_by_shard_[s].empty()) out.shards.push_back(s);
      break;
    case HopTarget::kAllShards:
      for (unsigned s = 0; s < shard_count_; ++s) out.shards.push_back(s);
      break;
    case HopTarget::kShardOfKey:
      out.shards.push_back(ShardOf(current_args_[plan.key_index], shard_count_));
      break;
    case HopTarget::kShard:
      out.shards.push_back(plan.shard);
      break;
    case HopTarget::kShardList:
      out.shards = plan.shards;
      break;
  }
  return out;
}

bool ExecBlockOp::InBlock() { return in_block; }

void ExecBlockOp::Prepare(unsigned shard_count) {
  shard_count_ = shard_count;
  // The locks are taken once, before the block runs, so decide now whether some command
  // will reach shards its keys do not name (FLUSHALL, SWAPDB, a SORT whose BY/GET keys
  // live elsewhere, DBSIZE/KEYS/SCAN fan-outs, a keyless single-shard command), or keys
  // of another db (after a SELECT): then the block locks every shard whole.
  for (auto& cmd : commands_) {
    std::vector<std::string_view> args(cmd.argv.begin(), cmd.argv.end());
    if (ToLower(cmd.argv[0]) == "select" && args.size() == 2) {
      std::string_view error;
      auto v = SelectIndex(args[1], &error, db_count_);
      if (v && *v != static_cast<int64_t>(db_)) whole_shards_ = true;
      continue;
    }
    if (!cmd.spec || !cmd.spec->ArityOk(args.size())) continue;
    if (cmd.spec->shard_handler && cmd.spec->KeyIndices(args).empty()) whole_shards_ = true;
    if (!cmd.spec->multi_shard) continue;
    auto probe = cmd.spec->multi_shard(args);
    HopPlan first = probe->FirstHop(shard_count);
    if (probe->locks_whole_shards() || !probe->needs_locks() || first.target == HopTarget::kAllShards ||
        first.target == HopTarget::kShard)
      whole_shards_ = true;
  }
}

HopPlan ExecBlockOp::FirstHop(unsigned shard_count) {
  Prepare(shard_count);
  return AdvanceTo(0);
}

// Runs what needs no shard (SELECT, PING, argument errors) and returns the hop plan of
// the first command at or after `index` that touches a shard.
HopPlan ExecBlockOp::AdvanceTo(size_t index) {
  InBlockScope in_block_scope;
  for (current_ = index;; ++current_) {
    // The command before this one has its reply by now (run here, or by the hop before).
    if (current_ > 0) StampFinished(current_ - 1);
    if (current_ >= commands_.size()) break;
    Command& cmd = commands_[current_];
    std::string& out = replies_[current_];
    resp::ReplyBuilder rb(&out);
    rb.SetProtocol(protocol_);
    current_args_.assign(cmd.argv.begin(), cmd.argv.end());
    if (!cmd.refusal.empty()) {
      rb.Error(cmd.refusal);
      continue;
    }
    // SELECT and PING need no shard (and SELECT belongs to the connection layer's
    // table, so the block handles both by name).
    std::string name = ToLower(cmd.argv[0]);
    if (name == "select" && current_args_.size() == 2) {
      std::string_view error;
      auto v = SelectIndex(current_args_[1], &error, db_count_);
      if (!v) {
        rb.Error(error);
      } else {
        db_ = static_cast<unsigned>(*v);
        rb.Ok();
      }
      continue;
    }
    if (name == "ping" && current_args_.size() <= 2) {
      if (current_args_.size() > 1) rb.Bulk(current_args_[1]);
      else rb.SimpleString("PONG");
      continue;
    }
    if (!cmd.spec) {
      rb.Error("ERR unknown command '" + cmd.argv[0] + "'");
      continue;
    }
    if (!cmd.spec->ArityOk(current_args_.size())) {
      rb.Error(errors::WrongArity(cmd.spec->name));
      continue;
    }
    if (cmd.spec->validate) {
      std::string err = cmd.spec->validate(current_args_);
      if (!err.empty()) {
        rb.Error(err);
        continue;
      }
    }
    if (cmd.spec->conn_handler && local_runner_) {
      local_runner_(*cmd.spec, current_args_, &out);
      continue;
    }
    if (cmd.spec->shard_handler) {
      current_keys_ = cmd.spec->KeyIndices(current_args_);
      unsigned shard = current_keys_.empty() ? 0 : ShardOf(current_args_[current_keys_[0]], shard_count_);
      return {HopTarget::kShard, 0, shard};
    }
    if (cmd.spec->multi_shard) {
      inner_ = cmd.spec->multi_shard(current_args_);
      inner_hop_ = 0;
      inner_verbatim_reported_.assign(shard_count_, 0);
      inner_keys_by_shard_.assign(shard_count_, {});
      for (size_t i : cmd.spec->KeyIndices(current_args_))
        inner_keys_by_shard_[ShardOf(current_args_[i], shard_count_)].push_back(i);
      HopPlan plan = inner_->FirstHop(shard_count_);
      if (plan.target != HopTarget::kDone) {
        HopPlan out = TranslateInner(plan);
        if (!out.shards.empty()) return out;
      }
      inner_->Reply(rb);
      inner_.reset();
      continue;
    }
    rb.Error("ERR '" + cmd.spec->name + "' is not allowed inside a transaction");
  }
  return {HopTarget::kDone};
}

void ExecBlockOp::RunHop(int, HopContext& ctx) {
  InBlockScope in_block_scope;
  if (inner_) {
    HopContext inner_ctx{ctx.shard, db_, current_args_, inner_keys_by_shard_[ctx.shard.index()], ctx.now_ms,
                         shard_count_};
    inner_->RunHop(inner_hop_, inner_ctx);
    // The inner command as sent goes to the journal once per shard, however many of its
    // hops write there (LMOVE pops, then pushes); the first report named all its keys here.
    char& verbatim_reported = inner_verbatim_reported_[ctx.shard.index()];
    if (inner_ctx.effects.dirty() && !inner_ctx.effects.rewritten() && verbatim_reported) return;
    ctx.effects.MarkDirty(inner_ctx.effects.dirty());
    for (auto& c : inner_ctx.effects.commands()) {
      std::vector<std::string_view> v(c.begin(), c.end());
      ctx.effects.Propagate(v);
    }
    if (inner_ctx.effects.dirty() && !inner_ctx.effects.rewritten()) {
      ctx.effects.Propagate(current_args_);
      verbatim_reported = 1;
    }
    ReportAs(ctx, inner_keys_by_shard_[ctx.shard.index()]);
    return;
  }
  const Command& cmd = commands_[current_];
  resp::ReplyBuilder rb(&replies_[current_]);
  rb.SetProtocol(protocol_);
  CommandContext cc{ctx.shard, db_, current_args_, rb, ctx.now_ms};
  cmd.spec->shard_handler(cc);
  effects_[current_] = cc.effects;
  ctx.effects.MarkDirty(cc.effects.dirty());
  for (auto& c : cc.effects.commands()) {
    std::vector<std::string_view> v(c.begin(), c.end());
    ctx.effects.Propagate(v);
  }
  if (cc.effects.dirty() && !cc.effects.rewritten()) ctx.effects.Propagate(current_args_);
  ReportAs(ctx, current_keys_);
}

// The transaction layer reports a hop's writes with the hop context's db, arguments and
// keys: make them the current command's, so observers (WATCH, the journal) see which
// keys of which db this hop wrote rather than every key the block locked.
void ExecBlockOp::ReportAs(HopContext& ctx, const std::vector<size_t>& keys) const {
  ctx.db = db_;
  ctx.args = current_args_;
  ctx.key_indices = keys;
}

HopPlan ExecBlockOp::NextHop(int) {
  InBlockScope in_block_scope;
  if (inner_) {
    HopPlan plan = inner_->NextHop(inner_hop_++);
    if (plan.target != HopTarget::kDone) {
      HopPlan out = TranslateInner(plan);
      return out;
    }
    resp::ReplyBuilder rb(&replies_[current_]);
    rb.SetProtocol(protocol_);
    inner_->Reply(rb);
    inner_.reset();
  }
  return AdvanceTo(current_ + 1);
}

void ExecBlockOp::StampFinished(size_t i) {
  if (!time_commands_) return;
  if (finished_ns_.size() != commands_.size()) finished_ns_.assign(commands_.size(), -1);
  if (finished_ns_[i] < 0)
    finished_ns_[i] =
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
            .count();
}

void ExecBlockOp::Reply(resp::ReplyBuilder& reply) {
  reply.ArrayHeader(replies_.size());
  for (auto& r : replies_) reply.Raw(r);
}

}  // namespace darter::store
