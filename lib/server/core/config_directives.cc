#include "server/core/config_directives.h"

#include <string_view>

#include "darter_version.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

std::string FatalError(const ConfigDirective& d, const std::string& reason) {
  return std::string("\n*** FATAL CONFIG FILE ERROR (Darter ") + DARTER_VERSION + ") ***\n" +
         "Reading the configuration, at " + d.origin + "\n>>> '" + d.text + "'\n" + reason;
}

std::vector<std::string> SplitWords(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    size_t j = text.find_first_of(" \t", i);
    if (j == std::string::npos) j = text.size();
    if (j > i) out.push_back(text.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// Redis directives Darter lacks whose absence would quietly weaken the deployment:
// the reason the start stops, or nullopt when the value asks for nothing Darter lacks.
std::optional<std::string> RefusedRedisDirective(const ConfigDirective& d) {
  const std::string& n = d.name;
  std::string value = Join(d.args);
  if (n == "rename-command")
    return "rename-command is not supported: deny commands with ACL rules instead (e.g. user default on "
           "nopass ~* &* +@all -flushall -config)";
  if (n == "loadmodule") return "modules are not supported: Darter cannot load " + value;
  if (n == "sentinel") return "Darter is not a Sentinel";
  if (n == "cluster-enabled" && !store::EqualsIgnoreCase(value, "no"))
    return "cluster mode is not supported yet (cluster-enabled no)";
  if (n == "unixsocket" && !value.empty()) return "unix sockets are not supported: Darter listens on TCP (port, bind)";
  if ((n == "min-replicas-to-write" || n == "min-slaves-to-write") && value != "0")
    return "min-replicas-to-write is not supported: writes would not wait for replicas as asked";
  if (n == "tls-cluster" && !store::EqualsIgnoreCase(value, "no")) return "tls-cluster needs cluster mode";
  return std::nullopt;
}

}  // namespace

ServerOptions DefaultStartupOptions() {
  ServerOptions o;
  o.save = kDefaultSaveSchedule;
  return o;
}

std::optional<std::string> ApplyConfigDirectives(ConfigRegistry& registry,
                                                 const std::vector<ConfigDirective>& directives,
                                                 ServerOptions* options, std::vector<std::string>* warnings) {
  const ConfigDirective* last_dir = nullptr;  // checked once every directive applied
  bool save_seen = false;
  std::string save;
  for (const ConfigDirective& d : directives) {
    const std::string& name = d.name;
    if (name == "save") {
      // Each line adds "<seconds> <changes>" pairs (one word or several: Redis 7.0 splits
      // the value at blanks); the first replaces the default; `save ""` clears.
      if (!save_seen) save.clear();
      save_seen = true;
      std::string pairs;
      for (const std::string& a : d.args)
        for (const std::string& w : SplitWords(a)) pairs += (pairs.empty() ? "" : " ") + w;
      if (pairs.empty()) {
        if (d.args.empty()) return FatalError(d, "Invalid save parameters");
        save.clear();
        if (auto err = registry.SetAtStartup("save", "")) return FatalError(d, *err);
        continue;
      }
      std::string next = save.empty() ? pairs : save + " " + pairs;
      if (auto err = registry.SetAtStartup("save", next)) return FatalError(d, *err);
      save = next;
      continue;
    }
    if (name == "user") {
      if (d.args.empty()) return FatalError(d, "user needs a name and rules");
      options->users.push_back(Join(d.args));
      continue;
    }
    if (name == "replicaof" || name == "slaveof") {
      // "<host> <port>" as Redis, or Darter's "<host>:<port>" in one word.
      std::vector<std::string> hp = d.args;
      if (hp.size() == 1 && hp[0].rfind(':') != std::string::npos) {
        size_t colon = hp[0].rfind(':');
        hp = {hp[0].substr(0, colon), hp[0].substr(colon + 1)};
      }
      if (hp.size() != 2) return FatalError(d, "Bad directive or wrong number of arguments");
      auto port = store::ParseInt64(hp[1]);
      if (!port || *port <= 0 || *port > 65535) return FatalError(d, "Invalid master port");
      options->replicaof = hp[0] + " " + hp[1];
      continue;
    }
    if (name == "dir") last_dir = &d;
    if (name == "list-compress-depth" && d.args.size() == 1 && d.args[0] != "0") {
      warnings->push_back(d.origin + ": '" + d.text + "': Darter does not compress list nodes; ignored");
      continue;
    }
    if (registry.Known(name)) {
      // Parameters whose value is a list take the line's words; the rest take one.
      bool list = name == "bind" || name == "client-output-buffer-limit";
      if (d.args.empty() || (!list && d.args.size() != 1))
        return FatalError(d, "Bad directive or wrong number of arguments");
      if (auto err = registry.SetAtStartup(name, list ? Join(d.args) : d.args[0])) return FatalError(d, *err);
      continue;
    }
    if (IsRedisDirective(name)) {
      if (auto reason = RefusedRedisDirective(d)) return FatalError(d, *reason);
      warnings->push_back(d.origin + ": '" + d.text + "': Darter does not implement '" + name + "'; ignored");
      continue;
    }
    return FatalError(d, "Bad directive or wrong number of arguments");
  }
  if (last_dir) {
    // The directory that won must exist and be writable (CONFIG SET's check).
    std::string dir = registry.Snapshot().dir;
    if (auto err = registry.Set("dir", dir)) return FatalError(*last_dir, *err);
  }
  return std::nullopt;
}

}  // namespace darter::server
