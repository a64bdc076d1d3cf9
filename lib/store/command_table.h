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
#include <initializer_list>
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

// Redis 7.0's ACL categories, in the order its COMMAND INFO lists them; a command's
// categories are a mask of these (CommandSpec::acl_categories).
enum AclCategory : uint32_t {
  kAclKeyspace = 1u << 0,
  kAclRead = 1u << 1,
  kAclWrite = 1u << 2,
  kAclSet = 1u << 3,
  kAclSortedSet = 1u << 4,
  kAclList = 1u << 5,
  kAclHash = 1u << 6,
  kAclString = 1u << 7,
  kAclBitmap = 1u << 8,
  kAclHyperLogLog = 1u << 9,
  kAclGeo = 1u << 10,
  kAclStream = 1u << 11,
  kAclPubSub = 1u << 12,
  kAclAdmin = 1u << 13,
  kAclFast = 1u << 14,
  kAclSlow = 1u << 15,
  kAclBlocking = 1u << 16,
  kAclDangerous = 1u << 17,
  kAclConnection = 1u << 18,
  kAclTransaction = 1u << 19,
  kAclScripting = 1u << 20,
};

// The names ("@read", ...) of the bits set in `categories`, in AclCategory order.
std::vector<std::string_view> AclCategoryNames(uint32_t categories);

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

// One subcommand of a container command (CLIENT KILL, CONFIG GET, ...), as Redis 7.0's
// COMMAND INFO lists it under its container. Dispatch stays with the container's handler,
// which checks the arity itself; ACL rules ("+client|kill", "-@dangerous") and COMMAND
// read these rows.
struct SubcommandSpec {
  std::string name;  // lower case, without the container's: "kill"
  int arity = 0;     // of the whole call, the container's name included
  uint32_t flags = 0;
  int first_key = 0, last_key = 0, key_step = 0;
  uint32_t acl_categories = 0;
};

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
  uint32_t acl_categories = 0;  // AclCategory bits, as COMMAND INFO lists them
  std::vector<SubcommandSpec> subcommands;  // a container's, in registration order
  // A pure container (CommandRow::Container): COMMAND shows it as Redis 7.0 does, with no
  // flags and no keys of its own (its subcommands have them); dispatch still reads both.
  bool container = false;

  bool is_write() const { return flags & kCmdWrite; }
  // Whether `argc` arguments (the name included) fit `arity`: > 0 exactly, < 0 at least
  // -arity, 0 any. ArityAllows is the same rule for a subcommand's own arity.
  bool ArityOk(size_t argc) const { return ArityAllows(arity, argc); }
  static bool ArityAllows(int arity, size_t argc) {
    return arity >= 0 ? (arity == 0 || argc == static_cast<size_t>(arity)) : argc >= static_cast<size_t>(-arity);
  }
  // Indices into args of the command's keys.
  std::vector<size_t> KeyIndices(ArgList args) const;
  // The subcommand named `name` (case-insensitive); nullptr when this row declares none.
  const SubcommandSpec* FindSubcommand(std::string_view name) const;
};

class CommandTable {
 public:
  // The process's table: empty until the program registers its families into it
  // (lib/server's RegisterAllFamilies; the store's unit tests RegisterStoreFamilies).
  static CommandTable& Global();

  void Register(CommandSpec spec);
  // Case-insensitive, without allocating: a command name longer than every registered
  // one is unknown at once, so a hostile name costs no more than the longest command.
  // nullptr when unknown.
  const CommandSpec* Find(std::string_view name) const;
  const std::vector<std::unique_ptr<CommandSpec>>& all() const { return specs_; }

 private:
  // ASCII case folding: command names are ASCII, and a byte >= 0x80 only equals itself.
  struct FoldedHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const noexcept;
  };
  struct FoldedEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept;
  };

  std::vector<std::unique_ptr<CommandSpec>> specs_;  // registration order: COMMAND's order
  std::unordered_map<std::string, const CommandSpec*, FoldedHash, FoldedEqual> by_name_;
  size_t longest_name_ = 0;
};

// One subcommand row, given to CommandRow::Subcommands:
//
//   CommandRow("client", -2, kCmdNoScript).Connection(ClientCommand).Acl(kAclConnection).Container()
//       .Subcommands({Sub("id", 2, kCmdNoScript), Sub("kill", -3, kCmdAdmin | kCmdNoScript), ...})
//
// A subcommand's categories are derived like a command's (ImpliedAclCategories) from its
// own flags, the family's category, the categories its container row names with Acl() and
// its own Acl(): CLIENT KILL's admin flag makes it @admin @dangerous, CLIENT ID stays
// @slow @connection.
class Sub {
 public:
  Sub(std::string_view name, int arity, uint32_t flags, int first_key = 0, int last_key = 0, int key_step = 0);
  // Categories beyond those the flags, the family and the container imply.
  Sub& Acl(uint32_t categories);

 private:
  friend class CommandRow;
  SubcommandSpec spec_;
};

// One command's row under construction, in the shape of Redis's command table and
// Dragonfly's CommandId:
//
//   CommandFamily family(table, kAclString);
//   family << CommandRow("get", 2, kCmdReadOnly | kCmdFast, 1, 1, 1).Shard(GetCommand)
//          << CommandRow("mset", -3, kCmdWrite | kCmdDenyOom, 1, -1, 2).MultiShard(Make<MSetOp>);
//
// (first_key, last_key, key_step) are the positions COMMAND INFO reports; Keys() names the
// real ones when that triple cannot describe them. The ACL categories are derived from the
// flags as Redis 7.0 does (ImpliedAclCategories); a row names only what its flags cannot
// say, e.g. Acl(kAclDangerous) on KEYS.
class CommandRow {
 public:
  CommandRow(std::string_view name, int arity, uint32_t flags, int first_key = 0, int last_key = 0,
             int key_step = 0);

  CommandRow& Shard(ShardHandler handler);
  CommandRow& MultiShard(MultiShardFactory factory);
  CommandRow& Connection(ConnectionHandler handler);
  CommandRow& Keys(KeyExtractor extractor);
  CommandRow& Validate(ArgValidator validator);
  // Categories beyond the family's and those the flags imply.
  CommandRow& Acl(uint32_t categories);
  // Redis 7.0 gives a container command (XGROUP, CLIENT) only @slow: its other categories
  // belong to its subcommands. The row keeps its flags, which dispatch reads, but derives
  // nothing from them, and its Acl() and family categories go to its subcommands only.
  CommandRow& Container();
  // The subcommands this row's handler implements (see Sub). COMMAND itself is no pure
  // container: it has subcommands but runs without one, and keeps its own categories.
  CommandRow& Subcommands(std::initializer_list<Sub> subs);

  // The finished row; `family_acl` is the category of the family registering it.
  CommandSpec Build(uint32_t family_acl) const;

 private:
  CommandSpec spec_;
  uint32_t acl_ = 0;
  bool container_ = false;
  std::vector<Sub> subs_;
};

// Redis 7.0's implicit categories (setImplicitACLCategories): write -> @write; readonly ->
// @read unless the command is @scripting; admin -> @admin @dangerous; pubsub -> @pubsub;
// fast -> @fast, otherwise @slow; blocking -> @blocking. `categories` are the explicit ones.
uint32_t ImpliedAclCategories(uint32_t flags, uint32_t categories);

// Registers one family's rows into a table, each with the family's ACL category
// (kAclString, kAclList, ...; 0 for families whose rows differ, which name theirs).
class CommandFamily {
 public:
  CommandFamily(CommandTable& table, uint32_t family_acl) : table_(table), family_acl_(family_acl) {}
  CommandFamily& operator<<(const CommandRow& row) {
    table_.Register(row.Build(family_acl_));
    return *this;
  }

 private:
  CommandTable& table_;
  uint32_t family_acl_;
};

// Each family file defines one of these. RegisterStoreFamilies registers them all, in
// COMMAND's order; lib/server's RegisterAllFamilies adds its own after them.
void RegisterStoreFamilies(CommandTable& table);
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
