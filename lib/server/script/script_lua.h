// LuaEngine: one Lua 5.1 interpreter per shard thread, set up as Redis 7.0 sets up
// its scripting environment: base/table/string/math libraries plus cjson and bit (the
// Debian-packaged ones), cmsgpack and struct (Darter's own), the `redis` API table, protected globals, and Redis's
// conversions between RESP replies and Lua values in both directions.
//
// The engine knows nothing about shards: a running script reaches the data through a
// ScriptHost (script_family.cc), which decides where and how each command runs.
//
// Thread-safety: ForThisThread() returns the calling thread's engine; an engine is used
// only by its thread. Several scripts may be in progress on one thread at a time (a
// script suspended in a fiber while it waits for another shard); each runs on its own
// Lua thread (lua_newthread) so their stacks do not mix.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "resp/reply_builder.h"
#include "store/command_table.h"

struct lua_State;

namespace darter::server {

class ScriptHost {
 public:
  virtual ~ScriptHost() = default;
  // Runs one command for the script and sets `reply` to its RESP encoding at `protocol`
  // (a command error is an error reply there). Returns a non-empty error message (with
  // its code, e.g. "ERR This Redis command is not allowed from script") when the script
  // may not run the command at all.
  virtual std::string Call(std::vector<std::string>& argv, int protocol, std::string& reply) = 0;
  // Called every few thousand Lua instructions; true means "stop the script" (SCRIPT KILL).
  virtual bool Hook() = 0;
};

// What a "#!lua flags=..." first line (Redis 7.0) says about a script.
struct ScriptFlags {
  bool shebang = false;    // the script has a shebang line
  bool no_writes = false;  // flags=no-writes
  bool allow_stale = false;  // flags=allow-stale: may start on a replica without its primary
};

// Redis 7.0's function flags (redis.register_function's `flags`), in the order FUNCTION
// LIST shows them.
enum FunctionFlag : uint32_t {
  kFnNoWrites = 1u << 0,
  kFnAllowOom = 1u << 1,
  kFnAllowStale = 1u << 2,
  kFnNoCluster = 1u << 3,
  kFnAllowCrossSlotKeys = 1u << 4,
};
inline constexpr const char* kFunctionFlagNames[] = {"no-writes", "allow-oom", "allow-stale", "no-cluster",
                                                     "allow-cross-slot-keys"};

// One function a library registered while it loaded.
struct FunctionSpec {
  std::string name;
  bool has_description = false;
  std::string description;
  uint32_t flags = 0;
};

class LuaEngine {
 public:
  static LuaEngine& ForThisThread();
  ~LuaEngine();

  // Compiles `body` as script `sha` unless already cached. Returns "" or the error reply
  // ("ERR Error compiling script (new function): user_script:1: ...", or a shebang error).
  std::string Load(const std::string& sha, std::string_view body);
  bool Has(const std::string& sha) const;
  // The flags of cached script `sha`. REQUIRES: Has(sha).
  ScriptFlags Flags(const std::string& sha) const { return cached_.at(sha); }
  // Runs cached script `sha` and writes its reply (or its error) to `reply`.
  // With `function`, `sha` names a committed function instead, called as f(KEYS, ARGV).
  void Run(const std::string& sha, store::ArgList keys, store::ArgList argv, ScriptHost& host,
           resp::ReplyBuilder& reply, bool function = false);
  // Drops every cached script of this thread.
  void Flush();

  // Functions (Redis 7.0). Runs a library's code (its shebang line already cut, its
  // newline kept) in the load environment, where the only global is `redis` with
  // register_function, log and the version fields; the functions it registers are
  // staged and listed in `functions`. Returns "" or the error reply ("ERR Error
  // compiling function: ...", "ERR Error registering functions: ...", "ERR No
  // functions registered"). The code runs at most `limit_ms` ("FUNCTION LOAD timeout";
  // Redis 7.0's bound is 500 ms).
  std::string LoadLibrary(std::string_view code, std::vector<FunctionSpec>* functions, int64_t limit_ms = 500);
  // Makes the functions staged by the last successful LoadLibrary callable.
  void CommitLibrary();
  // Drops every function of this thread.
  void ClearFunctions();
  uint64_t functions_version() const { return functions_version_; }
  void set_functions_version(uint64_t v) { functions_version_ = v; }
  uint64_t generation() const { return generation_; }
  void set_generation(uint64_t g) { generation_ = g; }

  // Bytes the interpreter holds now.
  size_t memory_used() const { return memory_used_.load(std::memory_order_relaxed); }
  // The bytes of every thread's interpreter (INFO memory's used_memory_lua); any thread.
  static size_t TotalMemoryUsed();
  // For the script fuzzer only: past `bytes` the interpreter's allocations fail, which
  // scripts see as Lua's "not enough memory" error. The server never sets it (Redis does
  // not bound Lua's memory either); 0 means no bound.
  void set_memory_limit_for_testing(size_t bytes) { memory_limit_ = bytes; }

 private:
  LuaEngine();
  void Setup();
  static void* Allocate(void* engine, void* ptr, size_t old_size, size_t new_size);

  // Written only by the engine's thread (a load and a store, no locked instruction),
  // read by TotalMemoryUsed from any thread.
  std::atomic<size_t> memory_used_{0};
  size_t memory_limit_ = 0;
  lua_State* L_ = nullptr;
  uint64_t generation_ = 0;
  uint64_t functions_version_ = 0;
  std::unordered_map<std::string, ScriptFlags> cached_;  // shas compiled here
};

}  // namespace darter::server
