// Runs commands through the command table on one shard, without sockets or threads:
// shard handlers directly, multi-shard ops hop by hop (all keys on this one shard).
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"
#include "store/multi_shard_op.h"
#include "store/shard.h"

namespace darter::store::testing {

struct CommandResult {
  std::string reply;  // raw RESP2
  uint64_t dirty = 0;
};

class CommandRunner {
 public:
  explicit CommandRunner(unsigned db_count = 1) : shard_(0, db_count) {}

  Shard& shard() { return shard_; }
  // The clock the commands see (unix ms).
  void set_now(int64_t now_ms) { now_ms_ = now_ms; }
  int64_t now() const { return now_ms_; }

  CommandResult Run(std::vector<std::string> argv, unsigned db = 0) {
    const CommandSpec* spec = CommandTable::Global().Find(argv[0]);
    REQUIRE_MESSAGE(spec != nullptr, argv[0]);
    std::vector<std::string_view> args(argv.begin(), argv.end());
    std::string out;
    resp::ReplyBuilder rb(&out);
    CommandResult r;
    if (spec->shard_handler) {
      CommandContext c{shard_, db, args, rb, now_ms_};
      spec->shard_handler(c);
      r.dirty = c.effects.dirty();
    } else {
      REQUIRE(static_cast<bool>(spec->multi_shard));
      auto op = spec->multi_shard(args);
      std::vector<size_t> keys = spec->KeyIndices(args);
      HopPlan plan = op->FirstHop(1);
      for (int hop = 0; plan.target != HopTarget::kDone; ++hop) {
        HopContext h{shard_, db, args, keys, now_ms_, 1};
        op->RunHop(hop, h);
        r.dirty += h.effects.dirty();
        plan = op->NextHop(hop);
      }
      op->Reply(rb);
    }
    r.reply = std::move(out);
    return r;
  }

 private:
  Shard shard_;
  int64_t now_ms_ = 1'000'000;
};

}  // namespace darter::store::testing
