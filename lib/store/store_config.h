// StoreConfig: the tunables the data families read (encoding thresholds, eviction
// policy flags). CONFIG SET writes them from any thread; families read them on shard
// threads, hence relaxed atomics: a command sees either the old or the new value.
#pragma once

#include <atomic>
#include <cstdint>

namespace darter::store {

struct StoreConfig {
  // Redis 7.0 defaults; the 6.2 "ziplist" names are aliases of the "listpack" ones.
  std::atomic<int64_t> hash_max_listpack_entries{128};
  std::atomic<int64_t> hash_max_listpack_value{64};
  std::atomic<int64_t> zset_max_listpack_entries{128};
  std::atomic<int64_t> zset_max_listpack_value{64};
  std::atomic<int64_t> set_max_intset_entries{512};
  std::atomic<int64_t> set_max_listpack_entries{128};  // 7.2's; 7.0 has no set listpack
  std::atomic<int64_t> set_max_listpack_value{64};
  std::atomic<int64_t> list_max_listpack_size{-2};  // > 0: entries per node; -1..-5: 4/8/16/32/64 KiB
  std::atomic<int64_t> stream_node_max_bytes{4096};
  std::atomic<int64_t> stream_node_max_entries{100};
  // maxmemory-policy is LFU: OBJECT FREQ answers, OBJECT IDLETIME refuses.
  std::atomic<bool> lfu_policy{false};
  // maxmemory-policy is LRU: RDB files record each key's idle time.
  std::atomic<bool> lru_policy{false};
  // maxmemory-policy itself (eviction.h's EvictionPolicy), and how candidates are chosen.
  std::atomic<uint8_t> eviction_policy{0};  // EvictionPolicy::kNoEviction
  std::atomic<int64_t> maxmemory_samples{5};
  // LFU: the counter grows with probability 1 / ((counter - 5) * lfu_log_factor + 1) and
  // loses one per lfu_decay_time idle minutes (0: never decays).
  std::atomic<int64_t> lfu_log_factor{10};
  std::atomic<int64_t> lfu_decay_time{1};
  // proto-max-bulk-len: the largest string value (SETRANGE, APPEND), hence the largest
  // bit offset (8 * this - 1), and the largest reply to a repeated random pick.
  std::atomic<int64_t> proto_max_bulk_len{512ll * 1024 * 1024};
};

// The process-wide instance.
StoreConfig& GetStoreConfig();

// proto-max-bulk-len as the families read it (a relaxed load).
inline uint64_t ProtoMaxBulkLen() {
  return static_cast<uint64_t>(GetStoreConfig().proto_max_bulk_len.load(std::memory_order_relaxed));
}

}  // namespace darter::store
