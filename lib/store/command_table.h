// The command table: one row per command, the single source of truth for dispatch,
// COMMAND, replication and ACL-style checks.
//
// A row names how the command runs:
//  * shard_handler — on the shard that owns its key (or on the connection's own shard
//    for keyless commands that touch no connection state), as one atomic step;
//  * multi_shard   — a MultiShardOp over the shards of its keys (MSET, RENAME, ...),
//    or over every shard (FLUSHALL, DBSIZE, ...), atomic through the transaction layer;
//  * conn_handler  — on the connection's thread, with access to connection and server
//    state (HELLO, SELECT, CLIENT, CONFIG, INFO, ...). lib/server defines the context.
//
// Thread-safety: the table is built once at start-up and read-only afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/effects.h"

namespace darter::resp {
class ReplyBuilder;
}

namespace darter::store {

class Shard;
class MultiShardOp;

enum CommandFlag : uint32_t {
  kCmdWrite = 1u << 0,
  kCmdReadOnly = 1u << 1,
  kCmdDenyOom = 1u << 2,
  kCmdAdmin = 1u << 3,
  kCmdPubSub = 1u << 4,
  kCmdNoScript = 1u << 5,
  kCmdRandom = 1u << 6,
  kCmdLoading = 1u << 7,   // allowed while loading
  kCmdStale = 1u << 8,     // allowed on a replica with a broken link
  kCmdFast = 1u << 9,
  kCmdNoAuth = 1u << 10,   // allowed before AUTH
  kCmdBlocking = 1u << 11,
  kCmdSkipMonitor = 1u << 12,
  kCmdSortForScript = 1u << 13,
  kCmdGlobal = 1u << 14,   // runs on every shard (FLUSHALL, SWAPDB, ...)
  kCmdNoMulti = 1u << 15,
  kCmdProtected = 1u << 16,  // DEBUG: refused unless enable-debug-command allows it
};

using ArgList = std::span<const std::string_view>;

// What a shard handler sees. Lives on the stack of the shard thread for one command.
struct CommandContext {
  Shard& shard;
  unsigned db;
  ArgList args;  // args[0] is the command name as the client sent it
  resp::ReplyBuilder& reply;
  int64_t now_ms;
  Effects effects = {};  // see effects.h: every write handler fills it
};

using ShardHandler = void (*)(CommandContext&);
using MultiShardFactory = std::unique_ptr<MultiShardOp> (*)(ArgList args);
struct ConnectionContext;  // defined by lib/server
using ConnectionHandler = void (*)(ConnectionContext&);
// For commands whose key positions a (first, last, step) triple cannot describe.
using KeyExtractor = std::vector<size_t> (*)(ArgList args);
// Checks argument shape beyond arity before anything runs (MSET's even count);
// returns the error reply, or an empty string when the arguments are acceptable.
using ArgValidator = std::string (*)(ArgList args);

struct CommandSpec {
  std::string name;  // lower case
  int arity = 0;     // > 0: exact argc; < 0: at least -arity
  uint32_t flags = 0;
  int first_key = 0, last_key = 0, key_step = 0;
  ShardHandler shard_handler = nullptr;
  MultiShardFactory multi_shard = nullptr;
  ConnectionHandler conn_handler = nullptr;
  KeyExtractor key_extractor = nullptr;
  ArgValidator validate = nullptr;
  std::vector<std::string> categories;  // ACL categories for COMMAND INFO, e.g. "@string"

  bool is_write() const { return flags & kCmdWrite; }
  // Whether `argc` arguments (the name included) fit `arity`: > 0 exactly, < 0 at least
  // -arity, 0 any. ArityAllows is the same rule for a subcommand's own arity.
  bool ArityOk(size_t argc) const { return ArityAllows(arity, argc); }
  static bool ArityAllows(int arity, size_t argc) {
    return arity >= 0 ? (arity == 0 || argc == static_cast<size_t>(arity)) : argc >= static_cast<size_t>(-arity);
  }
  // Indices into args of the command's keys.
  std::vector<size_t> KeyIndices(ArgList args) const;
};

// A row with the fields every command has (key positions as COMMAND INFO reports them);
// the family then sets how it runs (shard_handler / multi_shard / ...) and any extras.
CommandSpec MakeSpec(std::string_view name, int arity, uint32_t flags, int first_key, int last_key, int key_step,
                     std::vector<std::string> categories);

// A connection-level command (lib/server's families): no keys, run by `handler` on the
// connection's thread.
CommandSpec MakeConnectionSpec(std::string_view name, int arity, uint32_t flags, ConnectionHandler handler,
                               std::vector<std::string> categories);

class CommandTable {
 public:
  static CommandTable& Global();

  void Register(CommandSpec spec);
  // Case-insensitive; nullptr when unknown.
  const CommandSpec* Find(std::string_view name) const;
  const std::vector<std::unique_ptr<CommandSpec>>& all() const { return specs_; }

 private:
  std::vector<std::unique_ptr<CommandSpec>> specs_;
  std::unordered_map<std::string, const CommandSpec*> by_name_;
};

// Each family file defines one of these; lib/server calls them all once at start-up.
void RegisterStringFamily(CommandTable& table);
void RegisterGenericFamily(CommandTable& table);
void RegisterListFamily(CommandTable& table);
void RegisterHashFamily(CommandTable& table);
void RegisterSetFamily(CommandTable& table);
void RegisterZsetFamily(CommandTable& table);
void RegisterSortFamily(CommandTable& table);
void RegisterGeoFamily(CommandTable& table);
void RegisterStreamFamily(CommandTable& table);
void RegisterHllFamily(CommandTable& table);
void RegisterBitopsFamily(CommandTable& table);
void RegisterDumpFamily(CommandTable& table);
void RegisterBlockingFamily(CommandTable& table);

}  // namespace darter::store
