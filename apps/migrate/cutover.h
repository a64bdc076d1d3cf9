// Cutover: the zero-loss switch from the source to the target.
//   1. CLIENT PAUSE <ms> WRITE on the source (Redis 6.2+): clients' writes block,
//      reads go on, and the source stops propagating (no pings, no expiry DELs).
//   2. Read the source's master_repl_offset S and wait until the target has applied
//      S (slave_repl_offset), bounded by the pause.
//   3. REPLICAOF NO ONE on the target: it keeps every key and accepts writes.
//   4. Re-read the source's offset (it must still be S: nothing slipped through),
//      then CLIENT UNPAUSE.
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

CutoverResult Cutover(RedisConn& source, Target& target, int pause_ms);

}  // namespace darter::migrate
