// Writing store values in RDB form: one key's value through an rdb::Writer, for SAVE,
// replication snapshots and DUMP. Shard thread only (the value must not change while
// it is written).
#pragma once

#include <string_view>

#include "rdb/writer.h"
#include "store/db_table.h"

namespace darter::store {

// Writes `value` under `key` with `mods` (expiry, LRU/LFU).
rdb::Status WriteValue(rdb::Writer& writer, const rdb::KeyModifiers& mods, std::string_view key, const Value& value);

// Writes one slot: the key, its value, its expiry and its access stamp as IDLE/FREQ.
rdb::Status WriteSlot(rdb::Writer& writer, const Slot& slot, int64_t now_ms);

}  // namespace darter::store
