// Memory introspection (Redis's object.c MEMORY command and server.c INFO memory):
// MEMORY USAGE/STATS/DOCTOR/MALLOC-STATS/PURGE/HELP, and the figures INFO memory shares
// with MEMORY STATS.
//
// Where the figures come from:
//  * used_memory is exact (memory_accounting.h); startup.allocated is used_memory when
//    the server was ready to serve, before any data was loaded (RecordStartupMemory).
//  * A key's table overhead is its share of its table's segments: table_bytes / size
//    (the 48-byte slot, which also holds the key's and value's first 16 bytes and the
//    TTL, divided by the table's load factor). Expiry lives in the slot, so Darter has
//    no expires table: overhead.hashtable.expires is 0.
//  * The replication backlog is the PSYNC backlog plus the shards' journal rings
//    (Darter's replication buffer); replicas' buffers are the stream bytes they have not
//    read plus their connections' buffers; clients' buffers are their connections' input
//    buffers and output buffer capacities, summed on each connection's thread.
//  * Lua: the interpreters' bytes summed over threads; the script cache's entries.
//    Darter has no AOF, no cluster bus and no FUNCTION libraries: those figures are 0.
//  * The allocator is glibc's, which has no cheap statistics (mallinfo2 walks every free
//    chunk holding the arena locks): as Redis built with libc, allocator.allocated is
//    used_memory and allocator.active and allocator.resident are the RSS.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "server/core/config.h"
#include "store/command_table.h"

namespace darter::server {

class Server;

void RegisterMemoryFamily(store::CommandTable& table);

// used_memory once the server is up and before it loads data (startup.allocated).
void RecordStartupMemory(int64_t bytes);

// One thread's share, gathered on that thread (its shard and its connections).
struct ThreadMemory {
  struct Db {
    size_t keys = 0;
    size_t table_bytes = 0;
  };
  std::vector<Db> dbs;
  size_t clients_normal = 0;   // buffers of ordinary connections (and MONITOR)
  size_t clients_replica = 0;  // buffers of replicas' connections
  size_t normal_count = 0;
  size_t replica_count = 0;
};
// REQUIRES: called on shard thread `thread`.
ThreadMemory CollectThreadMemory(Server& srv, unsigned thread);

// Redis's redisMemOverhead, from every thread's ThreadMemory.
struct MemoryOverhead {
  uint64_t used = 0, peak = 0, startup = 0, rss = 0;
  uint64_t repl_backlog = 0;         // PSYNC backlog + journal rings
  uint64_t repl_buffers = 0;         // mem_total_replication_buffers
  uint64_t clients_slaves = 0, clients_normal = 0;
  size_t normal_count = 0, replica_count = 0;
  uint64_t lua_caches = 0;           // the script cache
  size_t cached_scripts = 0;
  uint64_t functions_bytes = 0;      // the function libraries (FunctionRegistry)
  size_t functions = 0, libraries = 0;
  uint64_t lua_vm = 0;               // the interpreters
  struct Db {
    unsigned id = 0;
    uint64_t overhead_main = 0;
  };
  std::vector<Db> dbs;               // only databases with keys
  uint64_t overhead_total = 0, keys = 0, bytes_per_key = 0, dataset = 0;
  double dataset_perc = 0, peak_perc = 0;
  uint64_t alloc_allocated = 0, alloc_active = 0, alloc_resident = 0;
  double alloc_frag = 0, alloc_rss = 0, rss_extra = 0, total_frag = 0;
  int64_t alloc_frag_bytes = 0, alloc_rss_bytes = 0, rss_extra_bytes = 0, total_frag_bytes = 0;
};
MemoryOverhead ComputeMemoryOverhead(Server& srv, const std::vector<ThreadMemory>& threads);

// INFO memory's body, in Redis 7.0's field order.
std::string InfoMemoryLines(const MemoryOverhead& mh, const ServerOptions& opts);

}  // namespace darter::server
