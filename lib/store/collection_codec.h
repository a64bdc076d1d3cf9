// The bridge between lib/rdb and the collection types: how RDB loading builds each
// type and how saving walks it. Each family implements its type's functions in its
// own files; rdb_load.cc / rdb_save.cc (and DUMP/RESTORE) use only this header.
//
// Shard thread only (or any thread for objects not yet in a table).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>

#include "store/value.h"

namespace darter::store {

// Lists (list_object.cc).
std::unique_ptr<Object> NewListForLoad();
void ListAppendForLoad(Object& list, std::span<const std::string_view> elements);
size_t ListLength(const Object& list);
void ListForEach(const Object& list, const std::function<void(std::string_view)>& fn);  // head to tail

// Sets (set_object.cc).
std::unique_ptr<Object> NewSetForLoad(uint64_t size_hint);
// Returns false when the member was already present (a corrupt RDB).
bool SetAddForLoad(Object& set, std::string_view member);
size_t SetSize(const Object& set);
void SetForEach(const Object& set, const std::function<void(std::string_view)>& fn);

// Hashes (hash_object.cc).
std::unique_ptr<Object> NewHashForLoad(uint64_t size_hint);
bool HashSetForLoad(Object& hash, std::string_view field, std::string_view value);
size_t HashSize(const Object& hash);
void HashForEach(const Object& hash, const std::function<void(std::string_view, std::string_view)>& fn);

// Sorted sets (zset_object.cc).
std::unique_ptr<Object> NewZsetForLoad(uint64_t size_hint);
bool ZsetAddForLoad(Object& zset, std::string_view member, double score);
size_t ZsetSize(const Object& zset);
void ZsetForEach(const Object& zset, const std::function<void(std::string_view, double)>& fn);

// After the last element was appended, the loader calls Object::OnLoaded(), which
// converts to the encoding the configuration asks for (a small loaded hash becomes a
// listpack, a big one a hash table).

}  // namespace darter::store
