// FunctionRegistry: the function libraries of the server (Redis 7.0 functions), one set
// for every thread. Each thread's Lua engine loads them lazily: it remembers the
// registry version it loaded and, when the registry moved on, drops its functions and
// runs every library's code again (SyncFunctions), as the EVAL script cache does with
// its generation.
//
// Mutations (FUNCTION LOAD/DELETE/FLUSH/RESTORE) run on shard 0's thread, which also
// journals them for replicas and takes the RDB snapshot's copy of the libraries at its
// cut (merged_rdb.cc): the libraries a snapshot holds are exactly those changed before
// the journal position the snapshot stands for. Loading an RDB replaces the whole set.
//
// Thread-safety: every member may be called from any thread (one mutex).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "server/script/script_lua.h"

namespace darter::server {

struct Library {
  std::string name;
  std::string code;  // the full source, "#!lua name=..." first line included
  std::vector<FunctionSpec> functions;
  // The code the engine runs: the first line cut, its newline kept (line numbers hold).
  std::string_view body() const;
};
using LibraryPtr = std::shared_ptr<const Library>;

// Reads the "#!<engine> name=<lib>" first line of a library's source. Returns "" or
// Redis 7.0's error reply; sets *name.
std::string ParseLibraryHeader(std::string_view code, std::string* name);

// Parses `code` and runs it on this thread's engine (nothing is committed there).
// Returns "" with *lib filled, or the error reply.
std::string CompileLibrary(std::string_view code, Library* lib);

// INFO memory's number_of_functions, number_of_libraries and used_memory_functions
// (the libraries' code, names and descriptions, with the registry's nodes).
struct FunctionStats {
  size_t libraries = 0;
  size_t functions = 0;
  uint64_t bytes = 0;
};

class FunctionRegistry {
 public:
  static FunctionRegistry& Global();

  // Every library, by name, and the version they make up.
  std::vector<LibraryPtr> Libraries(uint64_t* version = nullptr) const;
  bool HasLibrary(std::string_view name) const;
  struct Found {
    FunctionSpec spec;
    std::string library;
  };
  std::optional<Found> FindFunction(std::string_view name) const;
  size_t function_count() const;
  FunctionStats Stats() const;
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

  // Adds `libs` (compiled). `replace`: a library of the same name is replaced, else it is
  // an error. `flush`: every current library goes first. All or nothing: on error
  // ("ERR Library 'x' already exists", "ERR Function f already exists") nothing changes.
  // `restore`: FUNCTION RESTORE's wording of a name collision ("Library x already exists").
  std::string Add(std::vector<Library> libs, bool replace, bool flush, bool restore = false);
  bool Delete(std::string_view name);
  void Clear();
  // Replaces the whole set (an RDB was loaded).
  void ReplaceAll(std::vector<Library> libs);

 private:
  void BumpLocked() { version_.fetch_add(1, std::memory_order_acq_rel); }
  mutable std::mutex mu_;
  std::map<std::string, LibraryPtr, std::less<>> libs_;
  // Function name, lower-cased (FCALL finds functions case-insensitively, as Redis 7.0's
  // functions dict) -> its library. Within one library names are case-sensitive.
  std::unordered_map<std::string, std::string> function_lib_;
  std::atomic<uint64_t> version_{1};
};

// The functions running now (FUNCTION STATS's running_script), any thread.
struct RunningFunction {
  std::string name;
  std::vector<std::string> command;
  int64_t start_ms = 0;
};
// Registers a running function until the returned token is destroyed.
std::shared_ptr<void> MarkFunctionRunning(std::string name, std::vector<std::string> command);
// The longest-running one, if any.
std::optional<RunningFunction> OldestRunningFunction();

// Brings this thread's engine to the registry's current libraries.
void SyncFunctions(LuaEngine& engine);

}  // namespace darter::server
