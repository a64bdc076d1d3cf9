#include "server/script/function_registry.h"

#include <chrono>

#include "resp/split_args.h"
#include "server/core/log.h"
#include "store/string_util.h"

namespace darter::server {

std::string_view Library::body() const {
  std::string_view c = code;
  size_t eol = c.find('\n');
  return eol == std::string_view::npos ? std::string_view() : c.substr(eol);
}

std::string ParseLibraryHeader(std::string_view code, std::string* name) {
  if (code.substr(0, 2) != "#!") return "ERR Missing library metadata";
  // The first line, split as Redis splits it (sdssplitargs: quotes, any whitespace).
  size_t eol = code.find('\n');
  std::vector<std::string> parts;
  std::string split_error;
  if (eol == std::string_view::npos || !resp::SplitArgs(code.substr(0, eol), &parts, &split_error) || parts.empty())
    return "ERR Invalid library metadata";
  const std::string engine = parts[0].substr(2);
  bool have_name = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    std::string_view opt = parts[i];
    if (opt.substr(0, 5) == "name=") {
      if (have_name) return "ERR Invalid metadata value, name argument was given multiple times";
      have_name = true;
      *name = std::string(opt.substr(5));
    } else {
      return "ERR Invalid metadata value given: " + std::string(opt);
    }
  }
  if (!have_name) return "ERR Library name was not given";
  bool valid = !name->empty();
  for (char ch : *name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_') valid = false;
  if (!valid)
    return "ERR Library names can only contain letters, numbers, or underscores(_) and must be at least one "
           "character long";
  // Engine names match case-insensitively (Redis's engines dict).
  if (!store::EqualsIgnoreCase(engine, "lua")) return "ERR Engine '" + engine + "' not found";
  return "";
}

std::string CompileLibrary(std::string_view code, Library* lib) {
  lib->code = std::string(code);
  std::string err = ParseLibraryHeader(code, &lib->name);
  if (!err.empty()) return err;
  return LuaEngine::ForThisThread().LoadLibrary(lib->body(), &lib->functions);
}

FunctionRegistry& FunctionRegistry::Global() {
  static FunctionRegistry r;
  return r;
}

std::vector<LibraryPtr> FunctionRegistry::Libraries(uint64_t* version) const {
  std::lock_guard lk(mu_);
  std::vector<LibraryPtr> out;
  for (auto& [name, lib] : libs_) out.push_back(lib);
  if (version) *version = version_.load(std::memory_order_relaxed);
  return out;
}

bool FunctionRegistry::HasLibrary(std::string_view name) const {
  std::lock_guard lk(mu_);
  return libs_.find(name) != libs_.end();
}

std::optional<FunctionRegistry::Found> FunctionRegistry::FindFunction(std::string_view name) const {
  std::lock_guard lk(mu_);
  auto it = function_lib_.find(store::ToLower(name));
  if (it == function_lib_.end()) return std::nullopt;
  const Library& lib = *libs_.find(it->second)->second;
  for (const FunctionSpec& f : lib.functions)
    if (store::EqualsIgnoreCase(f.name, name)) return Found{f, lib.name};
  return std::nullopt;
}

size_t FunctionRegistry::function_count() const {
  std::lock_guard lk(mu_);
  return function_lib_.size();
}

FunctionStats FunctionRegistry::Stats() const {
  std::lock_guard lk(mu_);
  FunctionStats st;
  st.libraries = libs_.size();
  st.functions = function_lib_.size();
  for (auto& [name, lib] : libs_) {
    st.bytes += sizeof(Library) + lib->name.capacity() + lib->code.capacity() + 64;
    for (const FunctionSpec& f : lib->functions)
      st.bytes += sizeof(FunctionSpec) + f.name.capacity() + f.description.capacity() + 64;
  }
  return st;
}

std::string FunctionRegistry::Add(std::vector<Library> libs, bool replace, bool flush, bool restore) {
  std::lock_guard lk(mu_);
  auto next = flush ? decltype(libs_)() : libs_;
  for (Library& lib : libs) {
    auto it = next.find(lib.name);
    if (it != next.end()) {
      if (!replace)
        return restore ? "ERR Library " + lib.name + " already exists" : "ERR Library '" + lib.name + "' already exists";
      next.erase(it);
    }
  }
  std::unordered_map<std::string, std::string> fns;
  for (auto& [name, l] : next)
    for (const FunctionSpec& f : l->functions) fns.emplace(store::ToLower(f.name), name);
  for (Library& lib : libs) {
    for (const FunctionSpec& f : lib.functions) {
      auto [it, added] = fns.emplace(store::ToLower(f.name), lib.name);
      if (!added && it->second != lib.name) return "ERR Function " + f.name + " already exists";
    }
    if (next.count(lib.name)) return "ERR Library '" + lib.name + "' already exists";
    std::string name = lib.name;
    next.emplace(std::move(name), std::make_shared<const Library>(std::move(lib)));
  }
  libs_ = std::move(next);
  function_lib_ = std::move(fns);
  BumpLocked();
  return "";
}

bool FunctionRegistry::Delete(std::string_view name) {
  std::lock_guard lk(mu_);
  auto it = libs_.find(name);
  if (it == libs_.end()) return false;
  for (const FunctionSpec& f : it->second->functions) {
    auto fn = function_lib_.find(store::ToLower(f.name));
    if (fn != function_lib_.end() && fn->second == it->second->name) function_lib_.erase(fn);
  }
  libs_.erase(it);
  BumpLocked();
  return true;
}

void FunctionRegistry::Clear() {
  std::lock_guard lk(mu_);
  libs_.clear();
  function_lib_.clear();
  BumpLocked();
}

void FunctionRegistry::ReplaceAll(std::vector<Library> libs) {
  std::lock_guard lk(mu_);
  libs_.clear();
  function_lib_.clear();
  for (Library& lib : libs) {
    for (const FunctionSpec& f : lib.functions) function_lib_.emplace(store::ToLower(f.name), lib.name);
    std::string name = lib.name;
    libs_[name] = std::make_shared<const Library>(std::move(lib));
  }
  BumpLocked();
}

namespace {
struct RunningSet {
  std::mutex mu;
  std::vector<RunningFunction*> running;
};
RunningSet& Running() {
  static RunningSet r;
  return r;
}
int64_t SteadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

std::shared_ptr<void> MarkFunctionRunning(std::string name, std::vector<std::string> command) {
  auto* rf = new RunningFunction{std::move(name), std::move(command), SteadyMs()};
  {
    std::lock_guard lk(Running().mu);
    Running().running.push_back(rf);
  }
  return std::shared_ptr<void>(rf, [](void* p) {
    auto* r = static_cast<RunningFunction*>(p);
    {
      std::lock_guard lk(Running().mu);
      std::erase(Running().running, r);
    }
    delete r;
  });
}

std::optional<RunningFunction> OldestRunningFunction() {
  std::lock_guard lk(Running().mu);
  if (Running().running.empty()) return std::nullopt;
  RunningFunction out = *Running().running.front();
  out.start_ms = SteadyMs() - out.start_ms;  // now the duration
  return out;
}

constexpr int64_t kReloadLimitMs = 5000;

void SyncFunctions(LuaEngine& engine) {
  FunctionRegistry& reg = FunctionRegistry::Global();
  if (engine.functions_version() == reg.version()) return;
  uint64_t version = 0;
  std::vector<LibraryPtr> libs = reg.Libraries(&version);
  engine.ClearFunctions();
  std::vector<FunctionSpec> fns;
  for (const LibraryPtr& lib : libs) {
    // It ran within 500 ms when it was added; a thread busy with other work may take
    // longer to run it again, so the bound here only stops a runaway.
    std::string err = engine.LoadLibrary(lib->body(), &fns, kReloadLimitMs);
    if (!err.empty()) {
      LOG_WARNING("functions: library '%s' failed to load on a thread: %s", lib->name.c_str(), err.c_str());
      continue;
    }
    engine.CommitLibrary();
  }
  engine.set_functions_version(version);
}

}  // namespace darter::server
