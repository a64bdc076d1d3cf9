// The parameters fixed once the server runs: CONFIG GET shows them, CONFIG SET answers
// "can't set immutable config" (as Redis for most of these), and only a directive of the
// configuration file or the command line sets them (ConfigRegistry::SetAtStartup).
#include <cstdint>
#include <string>

#include "server/core/config.h"
#include "server/core/config_values.h"
#include "server/core/protected_actions.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using Setter = std::function<std::optional<std::string>(ServerOptions&, std::string_view)>;

Setter IntSetter(int64_t lo, int64_t hi, std::function<void(ServerOptions&, int64_t)> store) {
  return [lo, hi, store](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
    int64_t n = 0;
    if (auto err = ParseBounded(v, lo, hi, &n)) return err;
    store(o, n);
    return std::nullopt;
  };
}

Setter StringSetter(std::string ServerOptions::*field) {
  return [field](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
    o.*field = v;
    return std::nullopt;
  };
}

}  // namespace

void ConfigRegistry::AddStartupParams() {
  auto fixed = [](std::function<std::string(const ServerOptions&)> get, Setter at_start) {
    return Param{std::move(get), nullptr, false, std::move(at_start)};
  };
  // Redis's bind list: words separated by blanks; Server::Start listens on each.
  params_["bind"] = fixed([](const ServerOptions& o) { return o.bind; },
                          [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                            std::string list;
                            size_t count = 0;
                            for (size_t i = 0; i < v.size();) {
                              size_t j = v.find(' ', i);
                              if (j == std::string_view::npos) j = v.size();
                              if (j > i) {
                                list += (list.empty() ? "" : " ") + std::string(v.substr(i, j - i));
                                ++count;
                              }
                              i = j + 1;
                            }
                            if (count == 0) return "bind needs at least one address";
                            if (count > 16) return "Too many bind addresses specified.";
                            o.bind = list;
                            return std::nullopt;
                          });
  params_["port"] = fixed([](const ServerOptions& o) { return std::to_string(o.port); },
                          IntSetter(0, 65535, [](ServerOptions& o, int64_t n) { o.port = static_cast<int>(n); }));
  params_["tls-port"] =
      fixed([](const ServerOptions& o) { return std::to_string(o.tls_port); },
            IntSetter(0, 65535, [](ServerOptions& o, int64_t n) { o.tls_port = static_cast<int>(n); }));
  params_["metrics-port"] =
      fixed([](const ServerOptions& o) { return std::to_string(o.metrics_port); },
            IntSetter(0, 65535, [](ServerOptions& o, int64_t n) { o.metrics_port = static_cast<int>(n); }));
  // Darter's `threads` (0: one shard thread per core). Redis's io-threads asks for that
  // many threads too, so a redis.conf that sets it gets as many shard threads.
  auto threads = [](const ServerOptions& o) { return std::to_string(o.threads); };
  params_["threads"] =
      fixed(threads, IntSetter(0, 1024, [](ServerOptions& o, int64_t n) { o.threads = static_cast<unsigned>(n); }));
  params_["io-threads"] =
      fixed(threads, IntSetter(1, 128, [](ServerOptions& o, int64_t n) { o.threads = static_cast<unsigned>(n); }));
  auto databases = IntSetter(1, 1024 * 1024, [](ServerOptions& o, int64_t n) { o.dbnum = static_cast<unsigned>(n); });
  params_["databases"] = fixed([](const ServerOptions& o) { return std::to_string(o.dbnum); }, databases);
  params_["dbnum"] = fixed([](const ServerOptions& o) { return std::to_string(o.dbnum); }, databases);
  params_["logfile"] = fixed([](const ServerOptions& o) { return o.logfile; }, StringSetter(&ServerOptions::logfile));
  params_["pidfile"] = fixed([](const ServerOptions& o) { return o.pidfile; }, StringSetter(&ServerOptions::pidfile));
  params_["aclfile"] = fixed([](const ServerOptions& o) { return o.aclfile; }, StringSetter(&ServerOptions::aclfile));
  params_["daemonize"] = fixed([](const ServerOptions& o) { return std::string(o.daemonize ? "yes" : "no"); },
                               [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                 if (store::EqualsIgnoreCase(v, "yes")) o.daemonize = true;
                                 else if (store::EqualsIgnoreCase(v, "no")) o.daemonize = false;
                                 else return "argument must be 'yes' or 'no'";
                                 return std::nullopt;
                               });
  // There is no append-only file: `appendonly no` states the truth and is accepted;
  // `yes` is refused rather than ignored (the data would not be as durable as asked).
  params_["appendonly"] = fixed([](const ServerOptions&) { return std::string("no"); },
                                [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
                                  if (store::EqualsIgnoreCase(v, "no")) return std::nullopt;
                                  if (store::EqualsIgnoreCase(v, "yes"))
                                    return "appendonly yes is not supported: Darter has no append-only file; "
                                           "snapshots (save, BGSAVE) and replicas are its durability";
                                  return "argument must be 'yes' or 'no'";
                                });
  for (auto field : {&ServerOptions::enable_debug_command, &ServerOptions::enable_protected_configs}) {
    params_[field == &ServerOptions::enable_debug_command ? "enable-debug-command" : "enable-protected-configs"] =
        fixed([field](const ServerOptions& o) { return o.*field; },
              [field](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                if (!ParseProtectedAction(v)) return "argument(s) must be one of the following: no, yes, local";
                o.*field = store::ToLower(v);
                return std::nullopt;
              });
  }
}

}  // namespace darter::server
