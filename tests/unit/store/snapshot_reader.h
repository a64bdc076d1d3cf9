// Test helper: decodes one shard's snapshot chunks (RDB body records, snapshot.h) by
// wrapping them in a file (header, chunks, EOF + checksum) and running the RDB reader.
#pragma once

#include <doctest/doctest.h>

#include <functional>
#include <string>
#include <vector>

#include "rdb/reader.h"
#include "rdb/writer.h"
#include "store/rdb_load.h"

namespace darter::store::testing {

// Calls `each` with every entry of `chunks`, in file order.
inline void ForEachSnapshotEntry(const std::vector<std::string>& chunks, unsigned dbs,
                                 const std::function<void(LoadedEntry&&)>& each) {
  std::string file;
  rdb::StringByteSink out(&file);
  rdb::Writer w(&out);
  REQUIRE(w.WriteHeader().ok());
  for (auto& c : chunks) REQUIRE(w.WriteRecords(c).ok());
  REQUIRE(w.Finish().ok());
  RdbValueBuilder builder(dbs, [&](LoadedEntry&& e) {
    each(std::move(e));
    return rdb::Status();
  });
  rdb::Reader reader(&builder);
  rdb::Status st = reader.Feed(file);
  REQUIRE_MESSAGE(st.ok(), st.message());
  REQUIRE(reader.Finish().ok());
}

}  // namespace darter::store::testing
