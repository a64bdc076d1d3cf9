// Effects: what a write command did, for replication, persistence and INFO.
//
// Rules for every write handler (shard thread):
//  * call MarkDirty() for each change it makes to the dataset (nothing if it changed
//    nothing: a DEL of a missing key, an SADD of present members);
//  * when the command as sent is not deterministic or not idempotent to replay on a
//    replica (EXPIRE with a relative time, SPOP, INCRBYFLOAT, XADD with '*', ...), call
//    Propagate() with the deterministic command(s) that reproduce the change instead
//    (EXPIRE -> PEXPIREAT, SPOP -> SREM of each member, INCRBYFLOAT -> SET ... KEEPTTL).
// When a handler marked the data dirty and propagated nothing, the command is
// journaled verbatim.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace darter::store {

class Effects {
 public:
  void MarkDirty(uint64_t n = 1) { dirty_ += n; }
  void Propagate(std::span<const std::string_view> argv) { commands_.emplace_back(argv.begin(), argv.end()); }
  void Propagate(std::initializer_list<std::string_view> argv) { commands_.emplace_back(argv.begin(), argv.end()); }

  uint64_t dirty() const { return dirty_; }
  bool rewritten() const { return !commands_.empty(); }
  const std::vector<std::vector<std::string>>& commands() const { return commands_; }
  void Clear() {
    dirty_ = 0;
    commands_.clear();
  }

 private:
  uint64_t dirty_ = 0;
  std::vector<std::vector<std::string>> commands_;
};

}  // namespace darter::store
