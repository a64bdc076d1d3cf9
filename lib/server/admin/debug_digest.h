// The persistence area's DEBUG subcommands: DIGEST and DIGEST-VALUE (store/digest.h):
// the dataset's digest combined from every shard, and per-key value digests, equal to
// redis-server's for the same data; RELOAD: save, flush, load the file back.
#pragma once

#include "server/core/connection.h"

namespace darter::server {

// DEBUG DIGEST: a status reply of 40 hex digits (all zeros for an empty dataset).
void DebugDigest(store::ConnectionContext& c);
// DEBUG DIGEST-VALUE key [key ...]: an array of such digests; zeros for a missing key.
void DebugDigestValue(store::ConnectionContext& c);
// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]. Unlike Redis, other clients are not blocked
// meanwhile (a debugging aid, not an atomic operation).
void DebugReload(store::ConnectionContext& c);

}  // namespace darter::server
