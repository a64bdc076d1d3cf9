// Cutover: the zero-loss switch from the source to the target.
//   0. (default) The source will follow the target afterwards: its replica link must
//      speak what the target address serves (TLS when the source's tls-replication is
//      yes); a mismatch, or a TLS source whose tls-replication cannot be read, stops
//      the cutover unless --target-address says where to go. If the target needs a
//      password, CONFIG SET masteruser/masterauth on the source first, so a refusal
//      stops the cutover before anything is paused.
//   1. CLIENT PAUSE <ms> WRITE on the source (Redis 6.2+): clients' writes block,
//      reads go on; the source propagates no data (no expiry DELs, no evictions) but
//      may still send PING (every repl-ping-replica-period) or REPLCONF GETACK to its
//      replicas, which advance its offset.
//   2. Equal offsets, stable: read the source's master_repl_offset S, wait until the
//      target applied S, read S again; a keep-alive in between moves S, so repeat
//      until the target is at S and S did not move, bounded by 4/5 of the pause.
//   3. REPLICAOF NO ONE on the target: it keeps every key and accepts writes.
//   4. Re-read the source's offset: anything past S must be keep-alives (PINGs and
//      GETACKs, sizes known); anything else means a write slipped through the pause,
//      and the source is left a writable primary so that write is not thrown away.
//   5. (default) REPLICAOF <target> on the source: clients still pointed at it get
//      -READONLY instead of acknowledgements for writes the target never sees, and the
//      source becomes an up-to-date rollback copy (it full-syncs from the target).
//      With leave_source the source stays a writable primary (the old behaviour).
//   6. CLIENT UNPAUSE; then wait (bounded) for the source's link to the target.
// If step 2 times out, the source is unpaused and the target stays a replica.
//
// Thread-safety: requires external synchronization.
#pragma once

#include <functional>
#include <string>

#include "migrate/redis_conn.h"
#include "migrate/report.h"
#include "migrate/target.h"

namespace darter::migrate {

// Source master_repl_offset from INFO replication, or -1.
int64_t SourceOffset(RedisConn& source);

// True when `bytes` of replication stream can be nothing but PINGs (14 bytes each)
// and REPLCONF GETACK * (37 bytes each): what a write-paused Redis still sends.
bool IsKeepAliveBytes(int64_t bytes);

struct CutoverOptions {
  int pause_ms = 10000;
  bool leave_source = false;  // leave the source a writable primary (no REPLICAOF)
  // How the source reaches the target, and the credentials the target wants.
  std::string target_host;
  int target_port = 0;
  std::string target_user;
  std::string target_password;
  double source_sync_timeout_s = 60;  // wait for the source to follow the target
  // How the source's replica link will reach the target: it speaks TLS when the
  // source's tls-replication is yes, so the target address must then serve TLS (and
  // plain TCP when no). A --target given as rediss:// serves TLS at its address; an
  // explicit --target-address is taken as the user's answer.
  bool source_tls = false;            // the source is reached with rediss://
  bool target_tls = false;            // the target address serves TLS (rediss:// --target)
  bool target_address_given = false;  // --target-address
};

CutoverResult Cutover(RedisConn& source, Target& target, const CutoverOptions& options);

}  // namespace darter::migrate
