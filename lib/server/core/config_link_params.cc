// The parameters of the server's links: its client sockets (tcp-*) and its replication
// link, as the replica (replica-*, replicaof) and as the primary (repl-disable-tcp-nodelay).
// Names, ranges and error texts are Redis 7.0's; the slave-* spellings are aliases.
#include <cstdint>
#include <limits>
#include <string>

#include "server/core/config.h"
#include "server/core/config_values.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

constexpr int64_t kIntMax = std::numeric_limits<int32_t>::max();

}  // namespace

void ConfigRegistry::AddLinkParams() {
  params_["tcp-keepalive"] = Param{[](const ServerOptions& o) { return std::to_string(o.tcp_keepalive); },
                                   [this](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                     if (auto err = ParseBounded(v, 0, kIntMax, &o.tcp_keepalive)) return err;
                                     tcp_keepalive_.store(o.tcp_keepalive, std::memory_order_relaxed);
                                     return std::nullopt;
                                   }};
  // Fixed once the listeners exist (Server::Start passes it to listen()).
  params_["tcp-backlog"] = Param{[](const ServerOptions& o) { return std::to_string(o.tcp_backlog); }, nullptr, false,
                                 [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                   return ParseBounded(v, 0, kIntMax, &o.tcp_backlog);
                                 }};
  for (const char* name : {"replica-serve-stale-data", "slave-serve-stale-data"}) {
    params_[name] = Param{[](const ServerOptions& o) { return std::string(o.replica_serve_stale_data ? "yes" : "no"); },
                          [this](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                            if (auto err = ParseYesNo(v, &o.replica_serve_stale_data)) return err;
                            replica_serve_stale_data_.store(o.replica_serve_stale_data, std::memory_order_relaxed);
                            return std::nullopt;
                          }};
  }
  for (const char* name : {"replica-priority", "slave-priority"}) {
    params_[name] = Param{[](const ServerOptions& o) { return std::to_string(o.replica_priority); },
                          [](ServerOptions& o, std::string_view v) {
                            return ParseBounded(v, 0, kIntMax, &o.replica_priority);
                          }};
  }
  // Sent at the next handshake with the primary, as in Redis.
  for (const char* name : {"replica-announce-ip", "slave-announce-ip"}) {
    params_[name] = Param{[](const ServerOptions& o) { return o.replica_announce_ip; },
                          [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                            o.replica_announce_ip = v;
                            return std::nullopt;
                          }};
  }
  for (const char* name : {"replica-announce-port", "slave-announce-port"}) {
    params_[name] = Param{[](const ServerOptions& o) { return std::to_string(o.replica_announce_port); },
                          [](ServerOptions& o, std::string_view v) {
                            return ParseBounded(v, 0, 65535, &o.replica_announce_port);
                          }};
  }
  // Applies to replica links set up from then on (a full or partial sync's socket).
  params_["repl-disable-tcp-nodelay"] =
      Param{[](const ServerOptions& o) { return std::string(o.repl_disable_tcp_nodelay ? "yes" : "no"); },
            [](ServerOptions& o, std::string_view v) { return ParseYesNo(v, &o.repl_disable_tcp_nodelay); }};
  // Shown, never set here: REPLICAOF changes it, and a directive at start-up is read by
  // ApplyConfigDirectives (it takes "<host> <port>" or "<host>:<port>").
  for (const char* name : {"replicaof", "slaveof"})
    params_[name] = Param{[](const ServerOptions& o) { return o.replicaof; }, nullptr};
}

void ConfigRegistry::NoteReplicaOf(std::string host_port) {
  MutexLock lk(&mu_);
  opts_.replicaof = std::move(host_port);
}

}  // namespace darter::server
