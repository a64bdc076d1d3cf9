#include "server/core/config.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "server/acl/acl_registry.h"
#include "server/core/command_stats.h"
#include "server/core/config_values.h"
#include "server/core/eviction.h"
#include "server/core/output_limits.h"
#include "server/core/protected_actions.h"
#include "store/eviction.h"
#include "store/keyspace_events.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

// The policy as the store reads it (eviction, OBJECT FREQ/IDLETIME, RDB LRU/LFU fields).
void ApplyEvictionPolicy(const std::string& name) {
  store::EvictionPolicy p = store::ParseEvictionPolicy(name).value_or(store::EvictionPolicy::kNoEviction);
  store::StoreConfig& sc = store::GetStoreConfig();
  sc.eviction_policy.store(static_cast<uint8_t>(p));
  sc.lfu_policy.store(name.find("lfu") != std::string::npos);
  sc.lru_policy.store(name.find("lru") != std::string::npos);
}

std::optional<std::string> SetUnsigned(uint64_t* field, std::string_view v) {
  auto n = store::ParseInt64(v);
  if (!n || *n < 0) return "argument couldn't be parsed into an integer";
  *field = static_cast<uint64_t>(*n);
  return std::nullopt;
}

std::optional<std::string> SetSaveParams(ServerOptions& o, std::string_view v) {
  std::vector<std::pair<int64_t, int64_t>> points;
  if (!ParseSavePoints(v, &points)) return "Invalid save parameters";
  o.save.clear();
  for (auto [s, c] : points) o.save += (o.save.empty() ? "" : " ") + std::to_string(s) + " " + std::to_string(c);
  return std::nullopt;
}

}  // namespace

ConfigRegistry::ConfigRegistry(ServerOptions initial)
    : opts_(initial),
      startup_(initial),
      maxmemory_(initial.maxmemory),
      proto_max_bulk_len_(initial.proto_max_bulk_len),
      client_query_buffer_limit_(initial.client_query_buffer_limit),
      replica_read_only_(initial.replica_read_only),
      replica_serve_stale_data_(initial.replica_serve_stale_data),
      tcp_keepalive_(initial.tcp_keepalive),
      stop_writes_on_bgsave_error_(initial.stop_writes_on_bgsave_error) {
  AddStartupParams();
  AddLinkParams();
  // Protected, as in Redis 7.0: settable only where enable-protected-configs allows.
  params_["dir"] = Param{[](const ServerOptions& o) { return o.dir; },
                         [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                           std::string d(v);
                           struct stat st;
                           if (stat(d.c_str(), &st) != 0) return std::string(std::strerror(errno));
                           if (!S_ISDIR(st.st_mode)) return std::string(std::strerror(ENOTDIR));
                           if (access(d.c_str(), W_OK | X_OK) != 0) return std::string(std::strerror(errno));
                           o.dir = d;
                           return std::nullopt;
                         },
                         /*is_protected=*/true,
                         // At start-up only the final value must exist (ApplyConfigDirectives
                         // checks it): an option may override the file's directory.
                         [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                           o.dir = v;
                           return std::nullopt;
                         }};
  params_["save"] = Param{[](const ServerOptions& o) { return o.save; }, SetSaveParams};
  for (bool ServerOptions::*field : {&ServerOptions::rdbcompression, &ServerOptions::rdbchecksum}) {
    params_[field == &ServerOptions::rdbcompression ? "rdbcompression" : "rdbchecksum"] =
        Param{[field](const ServerOptions& o) { return std::string(o.*field ? "yes" : "no"); },
              [field](ServerOptions& o, std::string_view v) { return ParseYesNo(v, &(o.*field)); }};
  }
  params_["stop-writes-on-bgsave-error"] =
      Param{[](const ServerOptions& o) { return std::string(o.stop_writes_on_bgsave_error ? "yes" : "no"); },
            [this](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
              if (auto err = ParseYesNo(v, &o.stop_writes_on_bgsave_error)) return err;
              stop_writes_on_bgsave_error_.store(o.stop_writes_on_bgsave_error, std::memory_order_relaxed);
              return std::nullopt;
            }};
  // requirepass sets the default user's password (empty: nopass), as Redis 7.0 does, and
  // only when the value changes: CONFIG SET of the current value leaves the user alone
  // (ACL SETUSER default may have changed it since).
  params_["requirepass"] = Param{[](const ServerOptions& o) { return o.requirepass; },
                                 [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                   if (o.requirepass == v) return std::nullopt;
                                   o.requirepass = v;
                                   acl::Registry::Global().SetDefaultPassword(v);
                                   return std::nullopt;
                                 }};
  params_["acllog-max-len"] = Param{[](const ServerOptions& o) { return std::to_string(o.acllog_max_len); },
                                    [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                      auto n = store::ParseInt64(v);
                                      if (!n) return "argument couldn't be parsed into an integer";
                                      if (*n < 0) return "argument must be between 0 and 9223372036854775807 inclusive";
                                      o.acllog_max_len = static_cast<uint64_t>(*n);
                                      acl::Registry::Global().SetLogMaxLen(o.acllog_max_len);
                                      return std::nullopt;
                                    }};
  params_["acl-pubsub-default"] = Param{
      [](const ServerOptions& o) { return o.acl_pubsub_default; },
      [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
        if (!store::EqualsIgnoreCase(v, "allchannels") && !store::EqualsIgnoreCase(v, "resetchannels"))
          return "argument(s) must be one of the following: allchannels, resetchannels";
        o.acl_pubsub_default = store::ToLower(v);
        acl::SetPubsubDefaultAllChannels(o.acl_pubsub_default == "allchannels");
        return std::nullopt;
      }};
  params_["maxmemory"] = Param{[](const ServerOptions& o) { return std::to_string(o.maxmemory); },
                               [this](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                 auto m = store::ParseMemorySize(v);
                                 if (!m) return "argument must be a memory value";
                                 o.maxmemory = *m;
                                 maxmemory_.store(*m, std::memory_order_relaxed);
                                 GetEvictionSettings().maxmemory.store(*m, std::memory_order_relaxed);
                                 return std::nullopt;
                               }};
  params_["maxmemory-policy"] = Param{
      [](const ServerOptions& o) { return o.maxmemory_policy; },
      [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
        auto policy = store::ParseEvictionPolicy(v);
        if (!policy)
          return "argument(s) must be one of the following: volatile-lru, volatile-lfu, volatile-random, "
                 "volatile-ttl, allkeys-lru, allkeys-lfu, allkeys-random, noeviction";
        o.maxmemory_policy = store::EvictionPolicyName(*policy);
        ApplyEvictionPolicy(o.maxmemory_policy);
        return std::nullopt;
      }};
  for (const char* name : {"replica-ignore-maxmemory", "slave-ignore-maxmemory"}) {
    params_[name] = Param{
        [](const ServerOptions&) {
          return std::string(GetEvictionSettings().replica_ignore_maxmemory.load() ? "yes" : "no");
        },
        [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
          if (store::EqualsIgnoreCase(v, "yes")) GetEvictionSettings().replica_ignore_maxmemory.store(true);
          else if (store::EqualsIgnoreCase(v, "no")) GetEvictionSettings().replica_ignore_maxmemory.store(false);
          else return "argument must be 'yes' or 'no'";
          return std::nullopt;
        }};
  }
  params_["dbfilename"] = Param{[](const ServerOptions& o) { return o.dbfilename; },
                                [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                  if (v.empty() || v.find('/') != std::string_view::npos)
                                    return "dbfilename can't be a path, just a filename";
                                  o.dbfilename = v;
                                  return std::nullopt;
                                },
                                /*is_protected=*/true};
  // The ACL settings given at start-up take effect now (the users themselves are loaded
  // once the command table is complete: LoadAclAtStartup).
  if (!initial.requirepass.empty()) acl::Registry::Global().SetDefaultPassword(initial.requirepass);
  acl::Registry::Global().SetLogMaxLen(initial.acllog_max_len);
  acl::SetPubsubDefaultAllChannels(store::EqualsIgnoreCase(initial.acl_pubsub_default, "allchannels"));
  params_["loglevel"] = Param{[](const ServerOptions& o) { return o.loglevel; },
                              [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                for (const char* l : {"debug", "verbose", "notice", "warning"}) {
                                  if (store::EqualsIgnoreCase(v, l)) {
                                    o.loglevel = l;
                                    return std::nullopt;
                                  }
                                }
                                return "argument(s) must be one of the following: debug, verbose, notice, warning";
                              }};
  params_["maxclients"] = Param{[](const ServerOptions& o) { return std::to_string(o.maxclients); },
                                [](ServerOptions& o, std::string_view v) { return SetUnsigned(&o.maxclients, v); }};
  params_["timeout"] = Param{[](const ServerOptions& o) { return std::to_string(o.timeout); },
                             [](ServerOptions& o, std::string_view v) { return SetUnsigned(&o.timeout, v); }};
  // Redis 7.0 takes any memory value from 1mb to LLONG_MAX for both, independently.
  auto buffer_size = [](uint64_t* field, std::atomic<uint64_t>* live, std::string_view v) -> std::optional<std::string> {
    bool overflow = false;
    auto m = store::ParseMemorySize(v, &overflow);
    if (!m && !overflow) return "argument must be a memory value";
    if (overflow || *m < 1024 * 1024 || *m > static_cast<uint64_t>(INT64_MAX))
      return "argument must be between 1048576 and 9223372036854775807 inclusive";
    *field = *m;
    live->store(*m, std::memory_order_relaxed);
    return std::nullopt;
  };
  params_["proto-max-bulk-len"] =
      Param{[](const ServerOptions& o) { return std::to_string(o.proto_max_bulk_len); },
            [this, buffer_size](ServerOptions& o, std::string_view v) {
              auto err = buffer_size(&o.proto_max_bulk_len, &proto_max_bulk_len_, v);
              // The store's families bound string growth and bit offsets by it too.
              if (!err) store::GetStoreConfig().proto_max_bulk_len.store(static_cast<int64_t>(o.proto_max_bulk_len));
              return err;
            }};
  params_["client-query-buffer-limit"] =
      Param{[](const ServerOptions& o) { return std::to_string(o.client_query_buffer_limit); },
            [this, buffer_size](ServerOptions& o, std::string_view v) {
              return buffer_size(&o.client_query_buffer_limit, &client_query_buffer_limit_, v);
            }};
  params_["masterauth"] = Param{[](const ServerOptions& o) { return o.masterauth; },
                                [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                  o.masterauth = v;
                                  return std::nullopt;
                                }};
  params_["masteruser"] = Param{[](const ServerOptions& o) { return o.masteruser; },
                                [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
                                  o.masteruser = v;
                                  return std::nullopt;
                                }};
  params_["repl-timeout"] = Param{[](const ServerOptions& o) { return std::to_string(o.repl_timeout); },
                                  [](ServerOptions& o, std::string_view v) { return SetUnsigned(&o.repl_timeout, v); }};
  auto yes_no = [](bool* field, std::string_view v) { return ParseYesNo(v, field); };
  params_["protected-mode"] = Param{[](const ServerOptions& o) { return std::string(o.protected_mode ? "yes" : "no"); },
                                    [yes_no](ServerOptions& o, std::string_view v) { return yes_no(&o.protected_mode, v); }};
  for (const char* name : {"replica-read-only", "slave-read-only"}) {
    params_[name] = Param{[](const ServerOptions& o) { return std::string(o.replica_read_only ? "yes" : "no"); },
                          [this, yes_no](ServerOptions& o, std::string_view v) {
                            auto err = yes_no(&o.replica_read_only, v);
                            replica_read_only_.store(o.replica_read_only, std::memory_order_relaxed);
                            return err;
                          }};
  }
  params_["repl-multi-flow"] =
      Param{[](const ServerOptions& o) { return std::string(o.repl_multi_flow ? "yes" : "no"); },
            [yes_no](ServerOptions& o, std::string_view v) { return yes_no(&o.repl_multi_flow, v); }};
  params_["repl-flow-compression"] =
      Param{[](const ServerOptions& o) { return o.repl_flow_compression; },
            [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
              for (const char* c : {"auto", "none", "lz4", "zstd"}) {
                if (store::EqualsIgnoreCase(v, c)) {
                  o.repl_flow_compression = c;
                  return std::nullopt;
                }
              }
              return "argument must be one of the following: auto, none, lz4, zstd";
            }};
  params_["client-output-buffer-limit"] =
      Param{[](const ServerOptions&) { return FormatOutputBufferLimits(); },
            [](ServerOptions&, std::string_view v) { return SetOutputBufferLimits(v); }};
  params_["tracking-table-max-keys"] =
      Param{[](const ServerOptions&) { return std::to_string(TrackingTableMaxKeys().load()); },
            [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
              auto n = store::ParseInt64(v);
              if (!n) return "argument couldn't be parsed into an integer";
              if (*n < 0) return "argument must be between 0 and 9223372036854775807 inclusive";
              TrackingTableMaxKeys().store(static_cast<uint64_t>(*n));
              return std::nullopt;
            }};
  for (const char* name : {"lua-time-limit", "busy-reply-threshold"}) {  // script_family.h
    params_[name] = Param{[](const ServerOptions&) { return std::to_string(LuaTimeLimitMs().load()); },
                          [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
                            auto n = store::ParseInt64(v);
                            if (!n) return "argument couldn't be parsed into an integer";
                            LuaTimeLimitMs().store(*n);
                            return std::nullopt;
                          }};
  }
  params_["lua-allow-undeclared-keys"] =
      Param{[](const ServerOptions&) { return std::string(LuaAllowUndeclaredKeys().load() ? "yes" : "no"); },
            [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
              if (store::EqualsIgnoreCase(v, "yes")) LuaAllowUndeclaredKeys().store(true);
              else if (store::EqualsIgnoreCase(v, "no")) LuaAllowUndeclaredKeys().store(false);
              else return "argument must be 'yes' or 'no'";
              return std::nullopt;
            }};
  params_["repl-backlog-size"] =
      Param{[](const ServerOptions& o) { return std::to_string(o.repl_backlog_size); },
            [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
              auto m = store::ParseMemorySize(v);
              if (!m || *m < 1) return "argument must be a memory value";
              o.repl_backlog_size = *m;
              return std::nullopt;
            }};
  for (const char* name : {"repl-ping-replica-period", "repl-ping-slave-period"}) {
    params_[name] = Param{[](const ServerOptions& o) { return std::to_string(o.repl_ping_replica_period); },
                          [](ServerOptions& o, std::string_view v) {
                            return SetUnsigned(&o.repl_ping_replica_period, v);
                          }};
  }
  // The enabled classes live in one atomic the shard threads read on every event.
  params_["notify-keyspace-events"] =
      Param{[](const ServerOptions&) {
              return store::FormatKeyspaceEventFlags(store::keyspace_event_flags.load(std::memory_order_relaxed));
            },
            [](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
              auto flags = store::ParseKeyspaceEventFlags(v);
              if (!flags) return "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.";
              store::keyspace_event_flags.store(*flags, std::memory_order_relaxed);
              o.notify_keyspace_events = store::FormatKeyspaceEventFlags(*flags);
              return std::nullopt;
            }};
  if (auto flags = store::ParseKeyspaceEventFlags(opts_.notify_keyspace_events))
    store::keyspace_event_flags.store(*flags, std::memory_order_relaxed);
  AddStoreParams();
  AddTlsParams();
  AddIntrospectionParams();
  ApplyEvictionPolicy(opts_.maxmemory_policy);
  GetEvictionSettings().maxmemory.store(opts_.maxmemory, std::memory_order_relaxed);
  store::GetStoreConfig().proto_max_bulk_len.store(static_cast<int64_t>(opts_.proto_max_bulk_len));
}

// The settings live in command_stats.h's atomics, read on every command.
void ConfigRegistry::AddIntrospectionParams() {
  auto integer = [this](const char* name, std::atomic<int64_t>* field, int64_t min) {
    params_[name] = Param{[field](const ServerOptions&) { return std::to_string(field->load()); },
                          [field, min](ServerOptions&, std::string_view v) -> std::optional<std::string> {
                            auto n = store::ParseInt64(v);
                            if (!n) return "argument couldn't be parsed into an integer";
                            if (*n < min)
                              return "argument must be between " + std::to_string(min) +
                                     " and 9223372036854775807 inclusive";
                            field->store(*n);
                            return std::nullopt;
                          }};
  };
  IntrospectionSettings& s = Introspection();
  integer("slowlog-log-slower-than", &s.slowlog_log_slower_than, -1);
  integer("slowlog-max-len", &s.slowlog_max_len, 0);
  integer("latency-monitor-threshold", &s.latency_monitor_threshold, 0);
  params_["latency-tracking"] =
      Param{[](const ServerOptions&) { return std::string(Introspection().latency_tracking.load() ? "yes" : "no"); },
            [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
              if (store::EqualsIgnoreCase(v, "yes")) Introspection().latency_tracking.store(true);
              else if (store::EqualsIgnoreCase(v, "no")) Introspection().latency_tracking.store(false);
              else return "argument must be 'yes' or 'no'";
              return std::nullopt;
            }};
  params_["latency-tracking-info-percentiles"] =
      Param{[](const ServerOptions&) { return InfoPercentilesText(); },
            [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
              std::string error = SetInfoPercentiles(v);
              if (!error.empty()) return error;
              return std::nullopt;
            }};
}

void ConfigRegistry::AddStoreParams() {
  // Encoding thresholds live in StoreConfig (read by the families on shard threads).
  // Redis 7.0 accepts the 6.2 "ziplist" names as aliases of the "listpack" ones; CONFIG
  // GET lists both.
  store::StoreConfig& sc = store::GetStoreConfig();
  struct IntParam {
    const char* name;
    std::atomic<int64_t>* field;
    int64_t min, max;
  } ints[] = {
      {"hash-max-listpack-entries", &sc.hash_max_listpack_entries, 0, INT64_MAX},
      {"hash-max-ziplist-entries", &sc.hash_max_listpack_entries, 0, INT64_MAX},
      {"hash-max-listpack-value", &sc.hash_max_listpack_value, 0, INT64_MAX},
      {"hash-max-ziplist-value", &sc.hash_max_listpack_value, 0, INT64_MAX},
      {"zset-max-listpack-entries", &sc.zset_max_listpack_entries, 0, INT64_MAX},
      {"zset-max-ziplist-entries", &sc.zset_max_listpack_entries, 0, INT64_MAX},
      {"zset-max-listpack-value", &sc.zset_max_listpack_value, 0, INT64_MAX},
      {"zset-max-ziplist-value", &sc.zset_max_listpack_value, 0, INT64_MAX},
      {"set-max-intset-entries", &sc.set_max_intset_entries, 0, INT64_MAX},
      {"list-max-listpack-size", &sc.list_max_listpack_size, INT32_MIN, INT32_MAX},
      {"list-max-ziplist-size", &sc.list_max_listpack_size, INT32_MIN, INT32_MAX},
      {"stream-node-max-bytes", &sc.stream_node_max_bytes, 0, INT64_MAX},
      {"stream-node-max-entries", &sc.stream_node_max_entries, 0, INT64_MAX},
      {"maxmemory-samples", &sc.maxmemory_samples, 1, INT32_MAX},
      {"lfu-log-factor", &sc.lfu_log_factor, 0, INT32_MAX},
      {"lfu-decay-time", &sc.lfu_decay_time, 0, INT32_MAX},
  };
  // Darter never compresses list nodes, so only Redis's default (0: none) is accepted;
  // a configuration file's other value is warned about at start (config_directives.cc).
  params_["list-compress-depth"] = Param{[](const ServerOptions&) { return std::string("0"); },
                                         [](ServerOptions&, std::string_view v) -> std::optional<std::string> {
                                           auto n = store::ParseInt64(v);
                                           if (!n) return "argument couldn't be parsed into an integer";
                                           if (*n != 0)
                                             return "Darter does not compress list nodes: list-compress-depth "
                                                    "must be 0";
                                           return std::nullopt;
                                         }};
  for (const IntParam& p : ints) {
    params_[p.name] = Param{
        [f = p.field](const ServerOptions&) { return std::to_string(f->load()); },
        [f = p.field, lo = p.min, hi = p.max](ServerOptions&, std::string_view v) -> std::optional<std::string> {
          auto n = store::ParseInt64(v);
          if (!n) return "argument couldn't be parsed into an integer";
          if (*n < lo || *n > hi) return "argument must be between " + std::to_string(lo) + " and " + std::to_string(hi) + " inclusive";
          f->store(*n);
          return std::nullopt;
        }};
  }
}

void ConfigRegistry::AddTlsParams() {
  // Redis's tls-* parameters. Changing one that shapes the contexts rebuilds them from
  // the files (re-read even when the value is the same, as Redis's volatile file
  // parameters); a failure refuses the change with Redis's reply and keeps the old ones.
  // tls-auth-clients and the replication SNI apply to each new connection as it starts.
  // tls-port, like port, is fixed at start.
  auto tls_apply = [this](ServerOptions& o, const std::function<std::optional<std::string>(ServerOptions&)>& change)
      -> std::optional<std::string> {
    if (tls_deferred_) return change(o);  // SetAll applies them together
    ServerOptions next = o;
    if (auto err = change(next)) return err;
    if (tls_reconfigure_ && (next.tls_port != 0 || next.tls_replication) && tls_reconfigure_(next))
      return std::string("Unable to update TLS configuration. Check server logs.");
    o = std::move(next);
    return std::nullopt;
  };
  struct StringParam {
    const char* name;
    std::string ServerOptions::*field;
    bool rebuild;
  } strings[] = {
      {"tls-cert-file", &ServerOptions::tls_cert_file, true},
      {"tls-key-file", &ServerOptions::tls_key_file, true},
      {"tls-key-file-pass", &ServerOptions::tls_key_file_pass, true},
      {"tls-client-cert-file", &ServerOptions::tls_client_cert_file, true},
      {"tls-client-key-file", &ServerOptions::tls_client_key_file, true},
      {"tls-client-key-file-pass", &ServerOptions::tls_client_key_file_pass, true},
      {"tls-ca-cert-file", &ServerOptions::tls_ca_cert_file, true},
      {"tls-ca-cert-dir", &ServerOptions::tls_ca_cert_dir, true},
      {"tls-dh-params-file", &ServerOptions::tls_dh_params_file, true},
      {"tls-protocols", &ServerOptions::tls_protocols, true},
      {"tls-ciphers", &ServerOptions::tls_ciphers, true},
      {"tls-ciphersuites", &ServerOptions::tls_ciphersuites, true},
      {"tls-replication-sni", &ServerOptions::tls_replication_sni, false},
  };
  for (const StringParam& p : strings) {
    auto field = p.field;
    params_[p.name] = Param{
        [field](const ServerOptions& o) { return o.*field; },
        [tls_apply, field, rebuild = p.rebuild](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
          if (!rebuild) {
            o.*field = std::string(v);
            return std::nullopt;
          }
          return tls_apply(o, [&](ServerOptions& n) -> std::optional<std::string> {
            n.*field = std::string(v);
            return std::nullopt;
          });
        }};
  }
  struct BoolParam {
    const char* name;
    bool ServerOptions::*field;
  } bools[] = {
      {"tls-replication", &ServerOptions::tls_replication},
      {"tls-prefer-server-ciphers", &ServerOptions::tls_prefer_server_ciphers},
      {"tls-session-caching", &ServerOptions::tls_session_caching},
      {"tls-replication-insecure", &ServerOptions::tls_replication_insecure},
  };
  for (const BoolParam& p : bools) {
    auto field = p.field;
    params_[p.name] = Param{
        [field](const ServerOptions& o) { return std::string(o.*field ? "yes" : "no"); },
        [tls_apply, field](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
          return tls_apply(o, [&](ServerOptions& n) -> std::optional<std::string> {
            if (store::EqualsIgnoreCase(v, "yes")) n.*field = true;
            else if (store::EqualsIgnoreCase(v, "no")) n.*field = false;
            else return "argument must be 'yes' or 'no'";
            return std::nullopt;
          });
        }};
  }
  for (const auto& entry : {std::pair<const char*, uint64_t ServerOptions::*>{"tls-session-cache-size",
                                                                               &ServerOptions::tls_session_cache_size},
                            {"tls-session-cache-timeout", &ServerOptions::tls_session_cache_timeout}}) {
    uint64_t ServerOptions::*field = entry.second;  // a plain variable: lambdas capture it
    params_[entry.first] = Param{
        [field](const ServerOptions& o) { return std::to_string(o.*field); },
        [tls_apply, field](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
          return tls_apply(o, [&](ServerOptions& n) -> std::optional<std::string> {
            auto x = store::ParseInt64(v);
            if (!x) return "argument couldn't be parsed into an integer";
            if (*x < 0 || *x > INT32_MAX) return "argument must be between 0 and 2147483647 inclusive";
            n.*field = static_cast<uint64_t>(*x);
            return std::nullopt;
          });
        }};
  }
  params_["tls-auth-clients"] =
      Param{[](const ServerOptions& o) { return o.tls_auth_clients; },
            [tls_apply](ServerOptions& o, std::string_view v) -> std::optional<std::string> {
              // Per connection; rebuilt too, since it decides whether a CA is required.
              return tls_apply(o, [&](ServerOptions& n) -> std::optional<std::string> {
                for (const char* c : {"no", "yes", "optional"}) {
                  if (store::EqualsIgnoreCase(v, c)) {
                    n.tls_auth_clients = c;
                    return std::nullopt;
                  }
                }
                return "argument(s) must be one of the following: no, yes, optional";
              });
            }};
}

void ConfigRegistry::SetTlsReconfigure(std::function<std::optional<std::string>(const ServerOptions&)> fn) {
  tls_reconfigure_ = std::move(fn);
}

std::vector<std::pair<std::string, std::string>> ConfigRegistry::Get(std::string_view pattern) const {
  MutexLock lk(&mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [name, p] : params_)
    if (store::GlobMatch(pattern, name, /*nocase=*/true)) out.emplace_back(name, p.get(opts_));
  return out;
}

bool ConfigRegistry::Known(std::string_view name) const {
  return params_.count(store::ToLower(name)) > 0;
}

std::optional<std::string> ConfigRegistry::Set(std::string_view name, std::string_view value,
                                               bool protected_allowed) {
  MutexLock lk(&mu_);
  return SetLocked(name, value, protected_allowed);
}

namespace {
// The fields the tls-* parameters set, copied back when a combined change fails.
void CopyTlsFields(const ServerOptions& from, ServerOptions& to) {
  to.tls_cert_file = from.tls_cert_file;
  to.tls_key_file = from.tls_key_file;
  to.tls_key_file_pass = from.tls_key_file_pass;
  to.tls_client_cert_file = from.tls_client_cert_file;
  to.tls_client_key_file = from.tls_client_key_file;
  to.tls_client_key_file_pass = from.tls_client_key_file_pass;
  to.tls_ca_cert_file = from.tls_ca_cert_file;
  to.tls_ca_cert_dir = from.tls_ca_cert_dir;
  to.tls_dh_params_file = from.tls_dh_params_file;
  to.tls_auth_clients = from.tls_auth_clients;
  to.tls_protocols = from.tls_protocols;
  to.tls_ciphers = from.tls_ciphers;
  to.tls_ciphersuites = from.tls_ciphersuites;
  to.tls_prefer_server_ciphers = from.tls_prefer_server_ciphers;
  to.tls_replication = from.tls_replication;
  to.tls_session_caching = from.tls_session_caching;
  to.tls_session_cache_size = from.tls_session_cache_size;
  to.tls_session_cache_timeout = from.tls_session_cache_timeout;
  to.tls_replication_sni = from.tls_replication_sni;
  to.tls_replication_insecure = from.tls_replication_insecure;
}
}  // namespace

std::optional<std::string> ConfigRegistry::SetAll(
    const std::vector<std::pair<std::string_view, std::string_view>>& pairs, bool protected_allowed,
    std::string* failed) {
  MutexLock lk(&mu_);
  const ServerOptions before = opts_;
  tls_deferred_ = true;
  tls_touched_.clear();
  std::optional<std::string> err;
  for (auto& [name, value] : pairs) {
    err = SetLocked(name, value, protected_allowed);
    if (err) {
      *failed = std::string(name);
      break;
    }
    if (tls_touched_.empty() && store::ToLower(name).rfind("tls-", 0) == 0) tls_touched_ = store::ToLower(name);
  }
  tls_deferred_ = false;
  if (err) {
    CopyTlsFields(before, opts_);  // the tls-* part of a failed call never applied
    return err;
  }
  if (!tls_touched_.empty() && tls_reconfigure_ && (opts_.tls_port != 0 || opts_.tls_replication) &&
      tls_reconfigure_(opts_)) {
    CopyTlsFields(before, opts_);
    *failed = tls_touched_;
    return std::string("Unable to update TLS configuration. Check server logs.");
  }
  return std::nullopt;
}

std::optional<std::string> ConfigRegistry::SetAtStartup(std::string_view name, std::string_view value) {
  MutexLock lk(&mu_);
  auto it = params_.find(store::ToLower(name));
  if (it == params_.end()) return "Bad directive or wrong number of arguments";
  if (it->second.at_start) return it->second.at_start(opts_, value);
  if (it->second.set) return SetLocked(name, value, /*protected_allowed=*/true);
  return "can't set immutable config";
}

bool ConfigRegistry::Mutable(std::string_view name) const {
  auto it = params_.find(store::ToLower(name));
  return it != params_.end() && it->second.set != nullptr;
}

std::optional<std::string> ConfigRegistry::SetLocked(std::string_view name, std::string_view value,
                                                     bool protected_allowed) {
  auto it = params_.find(store::ToLower(name));
  if (it == params_.end()) return "Unknown option or number of arguments for CONFIG SET - '" + std::string(name) + "'";
  if (!it->second.set) return "can't set immutable config";
  if (it->second.is_protected && !protected_allowed) return "can't set protected config";
  return it->second.set(opts_, value);
}

std::string ConfigRegistry::requirepass() const {
  MutexLock lk(&mu_);
  return opts_.requirepass;
}

std::string ConfigRegistry::maxmemory_policy() const {
  MutexLock lk(&mu_);
  return opts_.maxmemory_policy;
}

ServerOptions ConfigRegistry::Snapshot() const {
  MutexLock lk(&mu_);
  return opts_;
}

bool ParseSavePoints(std::string_view text, std::vector<std::pair<int64_t, int64_t>>* out) {
  // As Redis's CONFIG SET save: "" clears; otherwise split at every single space (so
  // doubled spaces make empty words), an even count, seconds >= 1, changes >= 0.
  out->clear();
  if (text.empty()) return true;
  std::vector<std::string> words;
  size_t start = 0;
  while (true) {
    size_t sp = text.find(' ', start);
    words.emplace_back(text.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  if (words.size() % 2) return false;
  std::vector<int64_t> vals;
  for (size_t i = 0; i < words.size(); ++i) {
    char* end = nullptr;
    long long v = std::strtoll(words[i].c_str(), &end, 10);
    if (*end != '\0' || (i % 2 == 0 && v < 1) || (i % 2 == 1 && v < 0)) return false;
    vals.push_back(v);
  }
  for (size_t i = 0; i < vals.size(); i += 2) out->emplace_back(vals[i], vals[i + 1]);
  return true;
}

std::atomic<uint64_t>& TrackingTableMaxKeys() {
  static std::atomic<uint64_t> keys{1000000};
  return keys;
}

std::atomic<int64_t>& LuaTimeLimitMs() {
  static std::atomic<int64_t> ms{5000};
  return ms;
}

std::atomic<bool>& LuaAllowUndeclaredKeys() {
  static std::atomic<bool> allow{false};
  return allow;
}

}  // namespace darter::server
