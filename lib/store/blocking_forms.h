// Blocking commands (BLPOP, BRPOP, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP, BLMOVE,
// BRPOPLPUSH, XREAD/XREADGROUP BLOCK) as the store sees them.
//
// Each blocking command's row is a MultiShardOp that is its *non-blocking form*: it
// serves from the data that is there, else replies the null Redis gives when the timeout
// expires at once (the form MULTI/EXEC and scripts run). It wraps the matching
// non-blocking command (LMPOP, ZMPOP, LMOVE, RPOPLPUSH; XREAD itself), so the pop runs
// through that command's code and its effects reach the write observers.
//
// Waiting is the server's business (lib/server/blocking/blocking.*): when the non-blocking form
// found nothing, the connection waits on the keys, and the key's shard serves it by
// running ServeCommand() there (the same code path, one key).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/command_table.h"

namespace darter::store::blocking {

enum class Kind { kBlpop, kBrpop, kBlmpop, kBzpopmin, kBzpopmax, kBzmpop, kBlmove, kBrpoplpush, kXread, kXreadgroup };

// What is waited on for one call of a blocking command with valid arguments.
struct BlockingCall {
  Kind kind;
  int64_t timeout_ms = 0;         // 0: wait forever
  std::vector<size_t> key_args;   // indices into args of the keys to wait on, in order
  bool list_type = false;         // waits for a list (else a zset, or a stream for XREAD*)
  bool stream = false;
  bool moves = false;             // BLMOVE/BRPOPLPUSH: served by re-running the move
  // XREAD/XREADGROUP: index of the first id argument (ids follow the keys).
  size_t stream_ids_arg = 0;
};

// Parses a blocking command's arguments. nullopt when the call cannot block (XREAD
// without BLOCK, invalid arguments: the non-blocking form replies the error).
std::optional<BlockingCall> ParseBlockingCall(ArgList args);

// The command that serves a waiter from the key at args[key_arg], run on the key's
// shard and journaled as is (LPOP key, RPOP key count, ZPOPMIN key, ZMPOP 1 key MIN
// COUNT c, XREAD ... STREAMS key id).
// `stream_id` is the id to read after (XREAD; '$' resolved when the waiter registered).
std::vector<std::string> ServeCommand(const BlockingCall& call, ArgList args, size_t key_arg,
                                      std::string_view stream_id);

// Shapes the reply of ServeCommand's command (LPOP's element) as the blocking
// command's ([key, element]). `key` is the key served from.
void ServeReply(Kind kind, std::string_view key, std::string* reply);

// Rewrites the non-blocking form's inner reply (LMPOP's [key, [e]]) into the blocking
// command's ([key, e]). `key` is the key the reply names.
void TransformReply(Kind kind, std::string_view key, std::string* reply);

// True when an encoded reply is a null (RESP2 $-1 / *-1, RESP3 _).
bool IsNullReply(std::string_view reply);

// Redis's timeout argument in seconds (a long double); error reply or "".
std::string ParseTimeoutSeconds(std::string_view arg, int64_t* ms);

// Redis's timeout argument in whole milliseconds (WAIT, CLIENT PAUSE, XREAD BLOCK): an
// integer, not negative; error reply or "".
std::string ParseTimeoutMillis(std::string_view arg, int64_t* ms);

}  // namespace darter::store::blocking
