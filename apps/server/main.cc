// darter-server: flags (Redis/Dragonfly names) → ServerOptions → Server.
#include <iostream>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>

#include "server/access/acl_family.h"
#include "server/core/log.h"
#include "server/core/output_limits.h"
#include "server/core/protected_actions.h"
#include "server/core/server.h"

namespace po = boost::program_options;
using darter::server::ServerOptions;

int main(int argc, char** argv) {
  ServerOptions o;
  std::string maxmemory = "0";
  std::string proto_max_bulk_len = "512mb";
  std::string client_query_buffer_limit = "1gb";
  std::string multi_flow = "yes";
  std::string protected_mode = "yes";
  std::string maxmemory_samples = "5", lfu_log_factor = "10", lfu_decay_time = "1", replica_ignore_maxmemory = "yes";
  std::string tracking_table_max_keys = "1000000";
  std::string acllog_max_len = "128";
  std::vector<std::string> output_limits;
  // TLS (docs/tls.md): yes/no flags as strings, checked by CONFIG SET's rules below.
  std::string tls_replication = "no", tls_prefer_server_ciphers = "no", tls_session_caching = "yes",
              tls_replication_insecure = "no";
  po::options_description desc("darter-server: a Redis-compatible, multi-threaded in-memory server\n\nOptions");
  desc.add_options()
      ("help,h", "show this help and exit")
      ("port", po::value(&o.port)->default_value(o.port), "TCP port to listen on")
      ("bind", po::value(&o.bind)->default_value(o.bind), "address to listen on")
      ("threads", po::value(&o.threads)->default_value(0), "shard threads (0: one per core)")
      ("requirepass", po::value(&o.requirepass), "password clients must AUTH with")
      ("aclfile", po::value(&o.aclfile), "ACL file (Redis's format: one \"user <name> <rules>\" a line), for ACL LOAD/SAVE")
      ("user", po::value(&o.users)->composing(), "\"<name> <rules>\": an ACL user (repeatable; not with --aclfile)")
      ("acllog-max-len", po::value(&acllog_max_len)->default_value("128"), "entries ACL LOG keeps")
      ("acl-pubsub-default", po::value(&o.acl_pubsub_default)->default_value(o.acl_pubsub_default), "channels a new ACL user starts with: resetchannels or allchannels")
      ("protected-mode", po::value(&protected_mode)->default_value("yes"), "yes: with no password, serve loopback clients only")
      ("enable-debug-command", po::value(&o.enable_debug_command)->default_value(o.enable_debug_command), "DEBUG: no, yes, or local (loopback clients)")
      ("enable-protected-configs", po::value(&o.enable_protected_configs)->default_value(o.enable_protected_configs), "CONFIG SET dir/dbfilename: no, yes, or local")
      ("dbnum", po::value(&o.dbnum)->default_value(o.dbnum), "number of logical databases")
      ("databases", po::value(&o.dbnum), "alias of --dbnum (Redis's name)")
      ("maxmemory", po::value(&maxmemory)->default_value("0"), "memory limit (bytes, or 100mb, 2gb, ...); 0: none")
      ("maxmemory-policy", po::value(&o.maxmemory_policy)->default_value(o.maxmemory_policy), "what goes over maxmemory: noeviction (writes get -OOM), allkeys-lru/lfu/random, volatile-lru/lfu/random/ttl")
      ("maxmemory-samples", po::value(&maxmemory_samples)->default_value("5"), "keys sampled per eviction (LRU, LFU, TTL policies)")
      ("lfu-log-factor", po::value(&lfu_log_factor)->default_value("10"), "LFU counter growth: higher, slower")
      ("lfu-decay-time", po::value(&lfu_decay_time)->default_value("1"), "minutes per LFU counter decrement (0: no decay)")
      ("replica-ignore-maxmemory", po::value(&replica_ignore_maxmemory)->default_value("yes"), "yes: a replica never evicts (its primary's DELs do)")
      ("tracking-table-max-keys", po::value(&tracking_table_max_keys)->default_value("1000000"), "keys client-side caching remembers before it invalidates some (0: no limit)")
      ("proto-max-bulk-len", po::value(&proto_max_bulk_len)->default_value("512mb"), "largest bulk argument a client may send")
      ("client-query-buffer-limit", po::value(&client_query_buffer_limit)->default_value("1gb"), "a client whose pending input passes this is closed")
      ("maxclients", po::value(&o.maxclients)->default_value(o.maxclients), "maximum connected clients")
      ("dir", po::value(&o.dir)->default_value(o.dir), "working directory for RDB files")
      ("dbfilename", po::value(&o.dbfilename)->default_value(o.dbfilename), "RDB file name")
      ("save", po::value(&o.save), "save schedule \"<seconds> <changes> ...\" (Redis's); empty: none")
      ("logfile", po::value(&o.logfile), "log file (default: stderr)")
      ("loglevel", po::value(&o.loglevel)->default_value(o.loglevel), "debug, verbose, notice or warning")
      ("replicaof", po::value(&o.replicaof), "start as a replica of host:port")
      ("masterauth", po::value(&o.masterauth), "password for the primary")
      ("masteruser", po::value(&o.masteruser), "ACL user for the primary (Redis 6+)")
      ("repl-timeout", po::value(&o.repl_timeout)->default_value(o.repl_timeout), "seconds of silence before the link to the primary is dropped")
      ("repl-multi-flow", po::value(&multi_flow)->default_value("yes"), "yes: replicate from a Darter primary over one link per shard")
      ("repl-flow-compression", po::value(&o.repl_flow_compression)->default_value(o.repl_flow_compression), "full-sync compression asked of a Darter primary: auto (lz4 unless loopback), none, lz4, zstd")
      ("repl-backlog-size", po::value(&o.repl_backlog_size)->default_value(o.repl_backlog_size), "bytes of replication stream kept for partial resyncs")
      ("repl-ping-replica-period", po::value(&o.repl_ping_replica_period)->default_value(o.repl_ping_replica_period), "seconds between PINGs to replicas")
      ("notify-keyspace-events", po::value(&o.notify_keyspace_events), "keyspace notification classes (Redis's flags, e.g. KEA); empty: none")
      ("client-output-buffer-limit", po::value(&output_limits)->composing(), "\"<class> <hard> <soft> <seconds>\" (repeatable), e.g. \"pubsub 32mb 8mb 60\"")
      ("tls-port", po::value(&o.tls_port)->default_value(o.tls_port), "TLS port to listen on (0: none; with it, --port 0 means no plain TCP port)")
      ("tls-cert-file", po::value(&o.tls_cert_file), "server certificate (PEM, may hold the chain)")
      ("tls-key-file", po::value(&o.tls_key_file), "private key of --tls-cert-file (PEM)")
      ("tls-key-file-pass", po::value(&o.tls_key_file_pass), "passphrase of --tls-key-file")
      ("tls-client-cert-file", po::value(&o.tls_client_cert_file), "certificate presented to a primary under --tls-replication (default: --tls-cert-file)")
      ("tls-client-key-file", po::value(&o.tls_client_key_file), "private key of --tls-client-cert-file")
      ("tls-client-key-file-pass", po::value(&o.tls_client_key_file_pass), "passphrase of --tls-client-key-file")
      ("tls-ca-cert-file", po::value(&o.tls_ca_cert_file), "CA bundle that client and primary certificates are verified against")
      ("tls-ca-cert-dir", po::value(&o.tls_ca_cert_dir), "directory of CA certificates (c_rehash layout)")
      ("tls-dh-params-file", po::value(&o.tls_dh_params_file), "DH parameters (PEM) for DHE ciphers; default: OpenSSL's built-in groups")
      ("tls-auth-clients", po::value(&o.tls_auth_clients)->default_value(o.tls_auth_clients), "client certificates: yes (required), optional (verified if sent), no")
      ("tls-protocols", po::value(&o.tls_protocols), "e.g. \"TLSv1.2 TLSv1.3\" (the default)")
      ("tls-ciphers", po::value(&o.tls_ciphers), "OpenSSL cipher list for TLSv1.2 and older")
      ("tls-ciphersuites", po::value(&o.tls_ciphersuites), "OpenSSL ciphersuites for TLSv1.3")
      ("tls-prefer-server-ciphers", po::value(&tls_prefer_server_ciphers)->default_value("no"), "yes: the server's cipher order wins")
      ("tls-session-caching", po::value(&tls_session_caching)->default_value("yes"), "yes: clients may resume TLS sessions")
      ("tls-session-cache-size", po::value(&o.tls_session_cache_size)->default_value(o.tls_session_cache_size), "TLS sessions kept")
      ("tls-session-cache-timeout", po::value(&o.tls_session_cache_timeout)->default_value(o.tls_session_cache_timeout), "seconds a TLS session may be resumed")
      ("tls-replication", po::value(&tls_replication)->default_value("no"), "yes: connect to the primary with TLS")
      ("tls-replication-sni", po::value(&o.tls_replication_sni), "server name sent to a TLS primary (default: its host name)")
      ("tls-replication-insecure", po::value(&tls_replication_insecure)->default_value("no"), "yes: do not verify the primary's certificate");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::cerr << "darter-server: " << e.what() << "\n" << desc << "\n";
    return 2;
  }
  if (vm.count("help")) {
    std::cout << desc << "\n";
    return 0;
  }
  const std::string policy = o.maxmemory_policy;
  darter::server::ConfigRegistry probe(o);
  if (auto err = probe.Set("maxmemory", maxmemory)) {
    std::cerr << "darter-server: --maxmemory: " << *err << "\n";
    return 2;
  }
  if (auto err = probe.Set("maxmemory-policy", policy)) {
    std::cerr << "darter-server: --maxmemory-policy: " << *err << "\n";
    return 2;
  }
  for (auto [name, value] : {std::pair<const char*, std::string>{"maxmemory-samples", maxmemory_samples},
                             {"lfu-log-factor", lfu_log_factor},
                             {"lfu-decay-time", lfu_decay_time},
                             {"replica-ignore-maxmemory", replica_ignore_maxmemory},
                             {"tracking-table-max-keys", tracking_table_max_keys}}) {
    if (auto err = probe.Set(name, value)) {
      std::cerr << "darter-server: --" << name << ": " << *err << "\n";
      return 2;
    }
  }
  o.maxmemory = probe.maxmemory();
  o.maxmemory_policy = probe.Snapshot().maxmemory_policy;
  for (auto [name, value] : {std::pair<const char*, std::string>{"repl-multi-flow", multi_flow},
                             {"repl-flow-compression", o.repl_flow_compression}}) {
    if (auto err = probe.Set(name, value)) {
      std::cerr << "darter-server: --" << name << ": " << *err << "\n";
      return 2;
    }
  }
  for (auto [name, value] : {std::pair<const char*, std::string>{"enable-debug-command", o.enable_debug_command},
                             {"enable-protected-configs", o.enable_protected_configs}}) {
    if (!darter::server::ParseProtectedAction(value)) {
      std::cerr << "darter-server: --" << name << ": argument must be 'yes', 'no' or 'local'\n";
      return 2;
    }
  }
  if (auto err = probe.Set("notify-keyspace-events", o.notify_keyspace_events)) {
    std::cerr << "darter-server: --notify-keyspace-events: " << *err << "\n";
    return 2;
  }
  for (auto [name, value] : {std::pair<const char*, std::string>{"acllog-max-len", acllog_max_len},
                             {"acl-pubsub-default", o.acl_pubsub_default}}) {
    if (auto err = probe.Set(name, value)) {
      std::cerr << "darter-server: --" << name << ": " << *err << "\n";
      return 2;
    }
  }
  o.acllog_max_len = probe.Snapshot().acllog_max_len;
  o.acl_pubsub_default = probe.Snapshot().acl_pubsub_default;
  if (auto err = probe.Set("protected-mode", protected_mode)) {
    std::cerr << "darter-server: --protected-mode: " << *err << "\n";
    return 2;
  }
  for (auto [name, value] : {std::pair<const char*, std::string>{"proto-max-bulk-len", proto_max_bulk_len},
                             {"client-query-buffer-limit", client_query_buffer_limit}}) {
    if (auto err = probe.Set(name, value)) {
      std::cerr << "darter-server: --" << name << ": " << *err << "\n";
      return 2;
    }
  }
  for (auto [name, value] : {std::pair<const char*, std::string>{"tls-replication", tls_replication},
                             {"tls-prefer-server-ciphers", tls_prefer_server_ciphers},
                             {"tls-session-caching", tls_session_caching},
                             {"tls-replication-insecure", tls_replication_insecure},
                             {"tls-auth-clients", o.tls_auth_clients},
                             {"tls-session-cache-size", std::to_string(o.tls_session_cache_size)},
                             {"tls-session-cache-timeout", std::to_string(o.tls_session_cache_timeout)}}) {
    if (auto err = probe.Set(name, value)) {
      std::cerr << "darter-server: --" << name << ": " << *err << "\n";
      return 2;
    }
  }
  o.tls_replication = probe.Snapshot().tls_replication;
  o.tls_prefer_server_ciphers = probe.Snapshot().tls_prefer_server_ciphers;
  o.tls_session_caching = probe.Snapshot().tls_session_caching;
  o.tls_replication_insecure = probe.Snapshot().tls_replication_insecure;
  o.tls_auth_clients = probe.Snapshot().tls_auth_clients;
  if (o.tls_port < 0 || o.tls_port > 65535) {
    std::cerr << "darter-server: --tls-port must be between 0 and 65535\n";
    return 2;
  }
  if (o.tls_port != 0 && (o.tls_cert_file.empty() || o.tls_key_file.empty())) {
    std::cerr << "darter-server: --tls-port needs --tls-cert-file and --tls-key-file\n";
    return 2;
  }
  o.proto_max_bulk_len = probe.Snapshot().proto_max_bulk_len;
  o.client_query_buffer_limit = probe.Snapshot().client_query_buffer_limit;
  o.protected_mode = probe.Snapshot().protected_mode;
  o.repl_multi_flow = probe.Snapshot().repl_multi_flow;
  o.repl_flow_compression = probe.Snapshot().repl_flow_compression;
  for (const std::string& limit : output_limits) {
    if (auto err = darter::server::SetOutputBufferLimits(limit)) {
      std::cerr << "darter-server: --client-output-buffer-limit: " << *err << "\n";
      return 2;
    }
  }
  if (o.dbnum < 1 || o.dbnum > 1024 * 1024) {
    std::cerr << "darter-server: --dbnum must be between 1 and 1048576\n";
    return 2;
  }
  if (!darter::server::SetLogFile(o.logfile)) {
    std::cerr << "darter-server: cannot open log file " << o.logfile << "\n";
    return 1;
  }
  darter::server::SetLogLevel(darter::server::ParseLogLevel(o.loglevel));

  // Signals are handled by the server's main loop; block them in every other thread.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  darter::server::Server server(o);
  // ACL users, once the command table is complete (the server registered it): an error
  // stops the start, as Redis's ACLLoadUsersAtStartup.
  if (auto err = darter::server::LoadAclAtStartup(o.aclfile, o.users)) {
    LOG_WARNING("%s", err->c_str());
    return 1;
  }
  if (auto err = server.Start()) {
    LOG_WARNING("%s", err->c_str());
    return 1;
  }
  if (server.bound_port())
    LOG_NOTICE("Darter %s listening on %s:%u with %u threads; connect with: redis-cli -h %s -p %u", "0.1.0",
               o.bind.c_str(), server.bound_port(), server.shards().size(), o.bind.c_str(), server.bound_port());
  if (server.tls_bound_port())
    LOG_NOTICE("Darter %s listening for TLS on %s:%u with %u threads; connect with: redis-cli --tls -h %s -p %u",
               "0.1.0", o.bind.c_str(), server.tls_bound_port(), server.shards().size(), o.bind.c_str(),
               server.tls_bound_port());
  server.Run();
  return 0;
}
