// ReplicationState: this server's place in a replication topology, as INFO
// replication and ROLE report it. Written by the replica link and REPLICAOF, read by
// INFO/ROLE from any thread, hence the mutex (never on a data path).
#pragma once

#include <cstdint>
#include <string>

#include "store/thread_annotations.h"

namespace darter::server {

struct ReplicationSnapshot {
  bool is_replica = false;
  std::string master_host;
  int master_port = 0;
  // ROLE's words: "connect", "connecting", then "sync", "connected" on a PSYNC link, or
  // "full_sync", "stable_sync" on a multi-flow link (Dragonfly's words).
  std::string link_state = "connect";
  // "psync", or "multi-flow" while following a Darter primary over one link per shard.
  std::string protocol = "psync";
  unsigned flows = 0;
  std::string flow_compression = "none";
  bool link_up = false;
  int64_t last_io_ms = 0;
  int64_t link_down_since_ms = 0;
  bool sync_in_progress = false;
  int64_t sync_total_bytes = -1;  // -1: diskless (unknown)
  int64_t sync_read_bytes = 0;
  int64_t sync_last_io_ms = 0;
  uint64_t sync_keys = 0;
  // The last completed full sync (kept after it ends, for tools polling INFO).
  uint64_t last_sync_keys = 0;
  int64_t last_sync_bytes = 0;
  int64_t last_sync_ms = 0;
  std::string replid;   // our replication id (the primary's while we replicate)
  std::string replid2 = std::string(40, '0');
  int64_t repl_offset = 0;         // applied offset (slave_repl_offset / master_repl_offset)
  int64_t read_offset = 0;         // received offset (slave_read_repl_offset)
  int64_t second_repl_offset = -1;
  uint64_t full_syncs = 0;
  uint64_t partial_syncs = 0;
  std::string last_error;
};

class ReplicationState {
 public:
  ReplicationSnapshot Get() const {
    MutexLock lk(&mu_);
    return s_;
  }
  bool LinkUp() const {
    MutexLock lk(&mu_);
    return s_.link_up;
  }
  template <typename Fn>
  void Update(Fn fn) {
    MutexLock lk(&mu_);
    fn(s_);
  }

 private:
  mutable Mutex mu_;
  ReplicationSnapshot s_ GUARDED_BY(mu_);
};

}  // namespace darter::server
