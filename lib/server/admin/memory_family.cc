#include "server/admin/memory_family.h"

#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <climits>
#include <cstdio>
#include <fstream>
#include <optional>

#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/eviction.h"
#include "server/core/memory_accounting.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/repl/repl_master.h"
#include "server/script/function_registry.h"
#include "server/script/script_family.h"
#include "server/script/script_lua.h"
#include "store/errors.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

std::atomic<int64_t> g_startup_bytes{0};

// Redis's OBJ_COMPUTE_SIZE_DEF_SAMPLES.
constexpr int64_t kDefaultSamples = 5;

std::string Human(uint64_t bytes) {
  char buf[64];
  double d = static_cast<double>(bytes);
  if (bytes < 1024) snprintf(buf, sizeof buf, "%" PRIu64 "B", bytes);
  else if (bytes < 1024 * 1024) snprintf(buf, sizeof buf, "%.2fK", d / 1024);
  else if (bytes < 1024ull * 1024 * 1024) snprintf(buf, sizeof buf, "%.2fM", d / (1024 * 1024));
  else snprintf(buf, sizeof buf, "%.2fG", d / (1024.0 * 1024 * 1024));
  return buf;
}

uint64_t ProcessRss() {
  std::ifstream f("/proc/self/statm");
  uint64_t pages = 0, rss = 0;
  f >> pages >> rss;
  return rss * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

uint64_t TotalSystemMemory() {
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

double Ratio(uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0.0; }

// ---- MEMORY USAGE ----

// The bytes `slot` costs: its share of the table, the key's heap block and the value's.
// The share is table_bytes / size (the 48-byte slot divided by the load factor, plus the
// directory), with the load taken as at least one half: a segment is at least half full
// once the table has split, and the empty room of a table too small to have split (a
// whole 39 KB segment for a handful of keys) is the table's fixed cost, which MEMORY
// STATS reports as overhead.hashtable.main, not any one key's.
// `samples` 0 sizes every element; otherwise hash and set tables estimate their
// elements' blocks from that many (Object::MallocUsedSampled).
int64_t KeyUsage(const store::DbTable& table, const store::Slot& slot, int64_t samples) {
  constexpr size_t kSegmentSlots = store::DbTable::kBuckets * store::DbTable::kSlotsPerBucket;
  const size_t charged = std::max<size_t>(table.size(), table.segment_count() * kSegmentSlots / 2);
  size_t bytes = charged ? table.table_bytes() / charged : sizeof(store::Slot);
  bytes += slot.key.heap_bytes();
  if (slot.value.is_string()) bytes += slot.value.string().heap_bytes();
  else if (samples == 0) bytes += slot.value.object()->MallocUsed();
  else bytes += slot.value.object()->MallocUsedSampled(static_cast<size_t>(samples));
  return static_cast<int64_t>(bytes);
}

void MemoryUsage(ConnectionContext& c) {
  int64_t samples = kDefaultSamples;
  for (size_t j = 3; j < c.args.size(); ++j) {
    if (EqualsIgnoreCase(c.args[j], "samples") && j + 1 < c.args.size()) {
      auto v = store::ParseInt64(c.args[j + 1]);
      if (!v) {
        c.reply.Error(store::errors::kNotInteger);
        return;
      }
      if (*v < 0) {
        c.reply.Error(store::errors::kSyntax);
        return;
      }
      samples = *v;
      ++j;
    } else {
      c.reply.Error(store::errors::kSyntax);
      return;
    }
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  const unsigned db = c.conn.db;
  std::string key(c.args[2]);
  // A read on the key's shard that leaves its access stamp alone (as OBJECT does).
  c.then = [&srv, &rb, db, key, samples]() -> awaitable<void> {
    const unsigned shard = store::ShardOf(key, srv.shards().size());
    std::optional<int64_t> usage = co_await AwaitOn<std::optional<int64_t>>(
        srv.shards().at(shard).ctx(), [&](Completion<std::optional<int64_t>> done) {
          store::Shard& s = srv.shards().at(shard).shard();
          const store::Slot* slot = s.FindForReadNoTouch(db, key, store::UnixTimeMs(), /*notify_miss=*/false);  // as Redis: no keymiss
          done(slot ? std::optional<int64_t>(KeyUsage(s.db(db), *slot, samples)) : std::nullopt);
        });
    if (usage) rb.Integer(*usage);
    else rb.Null();
  };
}

// ---- STATS, DOCTOR ----

// Gathers every thread's ThreadMemory, then `use(overhead)`.
template <typename Use>
void WithOverhead(ConnectionContext& c, Use use) {
  Server& srv = c.server;
  c.then = [&srv, use]() -> awaitable<void> {
    const unsigned n = srv.shards().size();
    std::vector<ThreadMemory> threads(n);
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    co_await AwaitAll(ctxs, [&](size_t t) { threads[t] = CollectThreadMemory(srv, static_cast<unsigned>(t)); });
    use(ComputeMemoryOverhead(srv, threads));
  };
}

void MemoryStats(ConnectionContext& c) {
  resp::ReplyBuilder& rb = c.reply;
  WithOverhead(c, [&rb](const MemoryOverhead& mh) {
    auto num = [&rb](const char* name, int64_t v) {
      rb.Bulk(name);
      rb.Integer(v);
    };
    auto dbl = [&rb](const char* name, double v) {
      rb.Bulk(name);
      rb.Double(v);
    };
    rb.MapHeader(27 + mh.dbs.size());
    num("peak.allocated", static_cast<int64_t>(mh.peak));
    num("total.allocated", static_cast<int64_t>(mh.used));
    num("startup.allocated", static_cast<int64_t>(mh.startup));
    num("replication.backlog", static_cast<int64_t>(mh.repl_backlog));
    num("clients.slaves", static_cast<int64_t>(mh.clients_slaves));
    num("clients.normal", static_cast<int64_t>(mh.clients_normal));
    num("cluster.links", 0);
    num("aof.buffer", 0);
    num("lua.caches", static_cast<int64_t>(mh.lua_caches));
    num("functions.caches", 0);
    for (const auto& d : mh.dbs) {
      rb.Bulk("db." + std::to_string(d.id));
      rb.MapHeader(3);
      num("overhead.hashtable.main", static_cast<int64_t>(d.overhead_main));
      num("overhead.hashtable.expires", 0);
      num("overhead.hashtable.slot-to-keys", 0);
    }
    num("overhead.total", static_cast<int64_t>(mh.overhead_total));
    num("keys.count", static_cast<int64_t>(mh.keys));
    num("keys.bytes-per-key", static_cast<int64_t>(mh.bytes_per_key));
    num("dataset.bytes", static_cast<int64_t>(mh.dataset));
    dbl("dataset.percentage", mh.dataset_perc);
    dbl("peak.percentage", mh.peak_perc);
    num("allocator.allocated", static_cast<int64_t>(mh.alloc_allocated));
    num("allocator.active", static_cast<int64_t>(mh.alloc_active));
    num("allocator.resident", static_cast<int64_t>(mh.alloc_resident));
    dbl("allocator-fragmentation.ratio", mh.alloc_frag);
    num("allocator-fragmentation.bytes", mh.alloc_frag_bytes);
    dbl("allocator-rss.ratio", mh.alloc_rss);
    num("allocator-rss.bytes", mh.alloc_rss_bytes);
    dbl("rss-overhead.ratio", mh.rss_extra);
    num("rss-overhead.bytes", mh.rss_extra_bytes);
    dbl("fragmentation", mh.total_frag);
    num("fragmentation.bytes", mh.total_frag_bytes);
  });
}

// Redis's report texts, judged on the same thresholds. "Empty" is judged on what the
// process holds beyond its idle footprint (startup.allocated), which in Darter grows
// with threads and databases: Redis's own threshold is 5 MB of used memory in all.
std::string DoctorReport(const MemoryOverhead& mh) {
  constexpr int64_t kTenMb = 10 << 20;
  if (mh.used < mh.startup + (5u << 20))
    return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in "
           "these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and "
           "I will be back to our programming as soon as I finished rebooting.\n";
  const bool big_peak = Ratio(mh.peak, mh.used) > 1.5;
  const bool high_frag = mh.total_frag > 1.4 && mh.total_frag_bytes > kTenMb;
  const bool high_alloc_frag = mh.alloc_frag > 1.1 && mh.alloc_frag_bytes > kTenMb;
  const bool high_alloc_rss = mh.alloc_rss > 1.1 && mh.alloc_rss_bytes > kTenMb;
  const bool high_proc_rss = mh.rss_extra > 1.1 && mh.rss_extra_bytes > kTenMb;
  const bool big_client_buf = mh.normal_count > 0 && mh.clients_normal / mh.normal_count > 1024 * 200;
  const bool big_slave_buf = mh.replica_count > 0 && mh.clients_slaves / mh.replica_count > 1024 * 1024 * 10;
  const bool many_scripts = mh.cached_scripts > 1000;
  if (!(big_peak || high_frag || high_alloc_frag || high_alloc_rss || high_proc_rss || big_client_buf ||
        big_slave_buf || many_scripts))
    return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this "
           "base.\n";
  std::string s = "Sam, I detected a few issues in this Redis instance memory implants:\n\n";
  if (big_peak)
    s += " * Peak memory: In the past this instance used more than 150% the memory that is currently using. The "
         "allocator is normally not able to release memory after a peak, so you can expect to see a big "
         "fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the "
         "Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as "
         "soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want "
         "to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to "
         "shutdown and restart the instance.\n\n";
  if (high_frag)
    s += " * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this "
         "means that the Resident Set Size of the Redis process is much larger than the sum of the logical "
         "allocations Redis performed). This problem is usually due either to a large peak memory (check if "
         "there is a peak memory entry above in the report) or may result from a workload that causes the "
         "allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. "
         "Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The "
         "currently used allocator is \"libc\".\n\n";
  if (high_alloc_frag)
    s += " * High allocator fragmentation: This instance has an allocator external fragmentation greater than "
         "1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry "
         "above in the report) or may result from a workload that causes the allocator to fragment memory a "
         "lot. You can try enabling 'activedefrag' config option.\n\n";
  if (high_alloc_rss)
    s += " * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this "
         "means that the Resident Set Size of the allocator is much larger than the sum what the allocator "
         "actually holds). This problem is usually due to a large peak memory (check if there is a peak memory "
         "entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n";
  if (high_proc_rss)
    s += " * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 "
         "(this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator "
         "holds). This problem may be due to Lua scripts or Modules.\n\n";
  if (big_slave_buf)
    s += " * Big replica buffers: The replica output buffers in this instance are greater than 10MB for each "
         "replica (on average). This likely means that there is some replica instance that is struggling "
         "receiving data, either because it is too slow or because of networking issues. As a result, data piles "
         "on the master output buffers. Please try to identify what replica is not receiving data correctly and "
         "why. You can use the INFO output in order to check the replicas delays and the CLIENT LIST command to "
         "check the output buffers of each replica.\n\n";
  if (big_client_buf)
    s += " * Big client buffers: The clients output buffers in this instance are greater than 200K per client "
         "(on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot "
         "not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients "
         "sending commands with large replies or very large sequences of commands in the same pipeline. Please "
         "use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, "
         "or to understand better why certain clients are using a big amount of memory.\n\n";
  if (many_scripts)
    s += " * Many scripts: There seem to be many cached scripts in this instance (more than 1000). This may be "
         "because scripts are generated and `EVAL`ed, instead of being parameterized (with KEYS and ARGV), "
         "`SCRIPT LOAD`ed and `EVALSHA`ed. Unless `SCRIPT FLUSH` is called periodically, the scripts' caches may "
         "end up consuming most of your memory.\n\n";
  s += "I'm here to keep you safe, Sam. I want to help you.\n";
  return s;
}

void MemoryDoctor(ConnectionContext& c) {
  resp::ReplyBuilder& rb = c.reply;
  WithOverhead(c, [&rb](const MemoryOverhead& mh) { rb.Verbatim(DoctorReport(mh)); });
}

void MemoryHelp(ConnectionContext& c) {
  static constexpr const char* kHelp[] = {
      "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "DOCTOR",
      "    Return memory problems reports.",
      "MALLOC-STATS",
      "    Return internal statistics report from the memory allocator.",
      "PURGE",
      "    Attempt to purge dirty pages for reclamation by the allocator.",
      "STATS",
      "    Return information about the memory usage of the server.",
      "USAGE <key> [SAMPLES <count>]",
      "    Return memory in bytes used by <key> and its value. Nested values are",
      "    sampled up to <count> times (default: 5, 0 means sample all).",
      "HELP",
      "    Prints this help.",
  };
  c.reply.SimpleStringArray(kHelp);
}

struct Subcommand {
  const char* name;
  int arity;  // counting MEMORY and the subcommand, as Redis 7.0's memory|<sub> rows
  void (*run)(ConnectionContext&);
};

constexpr Subcommand kSubcommands[] = {
    {"usage", -3, MemoryUsage},
    {"stats", 2, MemoryStats},
    {"doctor", 2, MemoryDoctor},
    // Redis built with libc malloc answers this; glibc's malloc_info reports per-arena
    // free lists, not the statistics jemalloc's report gives.
    {"malloc-stats", 2, [](ConnectionContext& c) { c.reply.Bulk("Stats not supported for the current allocator"); }},
    // Gives the free memory at the top of every arena and whole free pages inside them
    // back to the system (glibc's malloc_trim).
    {"purge", 2,
     [](ConnectionContext& c) {
       malloc_trim(0);
       c.reply.Ok();
     }},
    {"help", 2, MemoryHelp},
};

void MemoryCommand(ConnectionContext& c) {
  for (const Subcommand& s : kSubcommands) {
    if (!EqualsIgnoreCase(c.args[1], s.name)) continue;
    if (!store::CommandSpec::ArityAllows(s.arity, c.args.size())) {
      c.reply.Error(store::errors::WrongArity(std::string("memory|") + s.name));
      return;
    }
    s.run(c);
    return;
  }
  c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try MEMORY HELP.");
}

}  // namespace

void RecordStartupMemory(int64_t bytes) { g_startup_bytes.store(bytes, std::memory_order_relaxed); }

ThreadMemory CollectThreadMemory(Server& srv, unsigned thread) {
  ThreadMemory m;
  const store::Shard& shard = srv.shards().at(thread).shard();
  for (unsigned d = 0; d < shard.db_count(); ++d) m.dbs.push_back({shard.db(d).size(), shard.db(d).table_bytes()});
  for (const auto& [id, conn] : srv.connections(thread)) {
    if (conn->replica_feed) {
      m.clients_replica += conn->buffer_bytes();
      ++m.replica_count;
    } else {
      m.clients_normal += conn->buffer_bytes();
      ++m.normal_count;
    }
  }
  return m;
}

MemoryOverhead ComputeMemoryOverhead(Server& srv, const std::vector<ThreadMemory>& threads) {
  MemoryOverhead mh;
  srv.RefreshUsedMemory();
  mh.used = srv.used_memory();
  mh.peak = std::max(srv.peak_memory(), mh.used);
  mh.startup = static_cast<uint64_t>(g_startup_bytes.load(std::memory_order_relaxed));
  mh.rss = ProcessRss();

  // Replication: the journal rings are what mem_not_counted_for_evict holds beyond the
  // replicas' unsent stream bytes.
  const int64_t replica_unsent = GetEvictionSettings().replication_buffers.load(std::memory_order_relaxed);
  const uint64_t journal = static_cast<uint64_t>(std::max<int64_t>(MemoryNotCountedForEviction() - replica_unsent, 0));
  mh.repl_backlog = srv.repl_master().BacklogBytes() + journal;
  const uint64_t unsent = srv.repl_master().ReplicationBufferBytes();
  mh.repl_buffers = mh.repl_backlog + unsent;

  uint64_t overhead = mh.startup + mh.repl_backlog;
  mh.clients_slaves = unsent;
  for (const ThreadMemory& t : threads) {
    mh.clients_slaves += t.clients_replica;
    mh.clients_normal += t.clients_normal;
    mh.normal_count += t.normal_count;
    mh.replica_count += t.replica_count;
  }
  overhead += mh.clients_slaves + mh.clients_normal;

  ScriptCacheStats scripts = GetScriptCacheStats();
  mh.lua_caches = scripts.bytes;
  mh.cached_scripts = scripts.scripts;
  mh.lua_vm = LuaEngine::TotalMemoryUsed();
  overhead += mh.lua_caches;
  FunctionStats fs = FunctionRegistry::Global().Stats();
  mh.functions_bytes = fs.bytes;
  mh.functions = fs.functions;
  mh.libraries = fs.libraries;

  for (unsigned d = 0; d < srv.db_count(); ++d) {
    MemoryOverhead::Db db{d, 0};
    size_t keys = 0;
    for (const ThreadMemory& t : threads) {
      if (d >= t.dbs.size()) continue;
      keys += t.dbs[d].keys;
      db.overhead_main += t.dbs[d].table_bytes;
    }
    if (keys == 0) continue;
    mh.keys += keys;
    overhead += db.overhead_main;
    mh.dbs.push_back(db);
  }
  mh.overhead_total = overhead;
  mh.dataset = mh.used > overhead ? mh.used - overhead : 0;
  const uint64_t net = mh.used > mh.startup ? mh.used - mh.startup : 1;
  mh.dataset_perc = static_cast<double>(mh.dataset) * 100 / static_cast<double>(net);
  mh.bytes_per_key = mh.keys ? net / mh.keys : 0;
  mh.peak_perc = Ratio(mh.used, mh.peak) * 100;

  // glibc reports neither its active nor its resident bytes cheaply (mallinfo2 walks
  // every free chunk under the arena locks: 130 ms with a million free chunks, stalling
  // every thread's malloc), so these are Redis's own figures for a libc build: the RSS
  // stands for both.
  mh.alloc_allocated = mh.used;
  mh.alloc_active = mh.rss;
  mh.alloc_resident = mh.rss;
  auto diff = [](uint64_t a, uint64_t b) { return static_cast<int64_t>(a) - static_cast<int64_t>(b); };
  mh.alloc_frag = Ratio(mh.alloc_active, mh.alloc_allocated);
  mh.alloc_frag_bytes = diff(mh.alloc_active, mh.alloc_allocated);
  mh.alloc_rss = Ratio(mh.alloc_resident, mh.alloc_active);
  mh.alloc_rss_bytes = diff(mh.alloc_resident, mh.alloc_active);
  mh.rss_extra = Ratio(mh.rss, mh.alloc_resident);
  mh.rss_extra_bytes = diff(mh.rss, mh.alloc_resident);
  mh.total_frag = Ratio(mh.rss, mh.used);
  mh.total_frag_bytes = diff(mh.rss, mh.used);
  return mh;
}

std::string InfoMemoryLines(const MemoryOverhead& mh, const ServerOptions& opts) {
  char buf[4096];
  const uint64_t sys = TotalSystemMemory();
  snprintf(buf, sizeof buf,
           "used_memory:%" PRIu64 "\r\nused_memory_human:%s\r\n"
           "used_memory_rss:%" PRIu64 "\r\nused_memory_rss_human:%s\r\n"
           "used_memory_peak:%" PRIu64 "\r\nused_memory_peak_human:%s\r\n"
           "used_memory_peak_perc:%.2f%%\r\n"
           "used_memory_overhead:%" PRIu64 "\r\nused_memory_startup:%" PRIu64 "\r\n"
           "used_memory_dataset:%" PRIu64 "\r\nused_memory_dataset_perc:%.2f%%\r\n"
           "allocator_allocated:%" PRIu64 "\r\nallocator_active:%" PRIu64 "\r\nallocator_resident:%" PRIu64 "\r\n"
           "total_system_memory:%" PRIu64 "\r\ntotal_system_memory_human:%s\r\n"
           "used_memory_lua:%" PRIu64 "\r\nused_memory_vm_eval:%" PRIu64 "\r\nused_memory_lua_human:%s\r\n"
           "used_memory_scripts_eval:%" PRIu64 "\r\nnumber_of_cached_scripts:%zu\r\n"
           "number_of_functions:%zu\r\nnumber_of_libraries:%zu\r\nused_memory_vm_functions:0\r\n"
           "used_memory_vm_total:%" PRIu64 "\r\nused_memory_vm_total_human:%s\r\n"
           "used_memory_functions:%" PRIu64 "\r\nused_memory_scripts:%" PRIu64 "\r\nused_memory_scripts_human:%s\r\n",
           mh.used, Human(mh.used).c_str(), mh.rss, Human(mh.rss).c_str(), mh.peak, Human(mh.peak).c_str(),
           mh.peak_perc, mh.overhead_total, mh.startup, mh.dataset, mh.dataset_perc, mh.alloc_allocated,
           mh.alloc_active, mh.alloc_resident, sys, Human(sys).c_str(), mh.lua_vm, mh.lua_vm,
           Human(mh.lua_vm).c_str(), mh.lua_caches, mh.cached_scripts, mh.functions, mh.libraries, mh.lua_vm,
           Human(mh.lua_vm).c_str(), mh.functions_bytes, mh.lua_caches + mh.functions_bytes,
           Human(mh.lua_caches + mh.functions_bytes).c_str());
  std::string s = buf;
  s += "maxmemory:" + std::to_string(opts.maxmemory) + "\r\nmaxmemory_human:" + Human(opts.maxmemory) +
       "\r\nmaxmemory_policy:" + opts.maxmemory_policy + "\r\n";
  snprintf(buf, sizeof buf,
           "allocator_frag_ratio:%.2f\r\nallocator_frag_bytes:%" PRId64 "\r\n"
           "allocator_rss_ratio:%.2f\r\nallocator_rss_bytes:%" PRId64 "\r\n"
           "rss_overhead_ratio:%.2f\r\nrss_overhead_bytes:%" PRId64 "\r\n"
           "mem_fragmentation_ratio:%.2f\r\nmem_fragmentation_bytes:%" PRId64 "\r\n"
           "mem_not_counted_for_evict:%" PRId64 "\r\n"
           "mem_replication_backlog:%" PRIu64 "\r\nmem_total_replication_buffers:%" PRIu64 "\r\n"
           "mem_clients_slaves:%" PRIu64 "\r\nmem_clients_normal:%" PRIu64 "\r\n"
           "mem_cluster_links:0\r\nmem_aof_buffer:0\r\nmem_allocator:libc\r\n"
           "active_defrag_running:0\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:0\r\n",
           mh.alloc_frag, mh.alloc_frag_bytes, mh.alloc_rss, mh.alloc_rss_bytes, mh.rss_extra, mh.rss_extra_bytes,
           mh.total_frag, mh.total_frag_bytes, MemoryNotCountedForEviction(), mh.repl_backlog, mh.repl_buffers,
           mh.clients_slaves, mh.clients_normal);
  return s + buf;
}

void RegisterMemoryFamily(store::CommandTable& t) {
  using namespace store;
  CommandFamily family(t, 0);
  // A container, as in Redis 7.0 (@slow); MEMORY USAGE's key is args[2].
  family << CommandRow("memory", -2, kCmdReadOnly)
                .Connection(MemoryCommand)
                .Container()
                .Subcommands({Sub("usage", -3, kCmdReadOnly, 2, 2, 1), Sub("stats", 2, 0), Sub("doctor", 2, 0),
                              Sub("malloc-stats", 2, 0), Sub("purge", 2, 0), Sub("help", 2, kCmdLoading | kCmdStale)});
}

}  // namespace darter::server
