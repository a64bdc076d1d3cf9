// MergedRdb: one RDB of the whole dataset (header, AUX fields, every shard's snapshot,
// EOF and CRC-64) as it was at one consistent point, produced while commands keep
// running. SAVE/BGSAVE write it to a file (persistence.h); a PSYNC full sync to a stock
// Redis replica can send it down a socket the same way.
//
// How: one whole-shard transaction hop starts a store::ShardSnapshot on every shard (so
// no multi-shard transaction is half on either side of the cut), each shard thread then
// serializes its share in bounded steps between commands, and a writer thread merges
// the chunks in arrival order (each chunk starts with SELECTDB) into one stream.
// Memory in flight is bounded: shards pause while more than 8 MB wait for the writer.
//
// Thread-safety: StartMergedRdb may be called from any thread; the callbacks run where
// their comments say.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "rdb/status.h"

namespace darter::store {
class Shard;
}

namespace darter::server {

class Server;

struct MergedRdbStats {
  uint64_t keys = 0;   // key records written
  uint64_t bytes = 0;  // bytes handed to `write`
};

struct MergedRdbSpec {
  int rdb_version = 9;
  // rdbcompression / rdbchecksum: LZF for strings over 20 bytes; the CRC-64 trailer
  // (without it the trailer is 0, which loaders accept unchecked).
  bool compress = true;
  bool checksum = true;
  // On each shard thread at its snapshot point, inside the hop that starts the
  // snapshots (no command runs on that shard in between): read a journal LSN or count
  // changes here. The snapshot holds exactly the writes applied before this call.
  std::function<void(store::Shard&)> at_point;
  // On the writer thread after every shard passed its point, before the header is
  // written: extra AUX fields (e.g. repl-id / repl-offset for a PSYNC stream).
  std::function<std::vector<std::pair<std::string, std::string>>()> aux;
  // On the writer thread, the stream's bytes in order; may block (backpressure). An
  // error aborts: the snapshots are cancelled and `done` gets the error.
  std::function<rdb::Status(std::string_view)> write;
  // Once, on the writer thread, after the last byte (ok) or the first error.
  std::function<void(const rdb::Status&, const MergedRdbStats&)> done;
};

// Starts the merged RDB and returns the writer thread (join or detach it; it ends
// after `done`). REQUIRES: shard threads running.
std::thread StartMergedRdb(Server& server, MergedRdbSpec spec);

}  // namespace darter::server
