#include "server/core/config_file.h"

#include <glob.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

#include "resp/split_args.h"

namespace darter::server {

namespace {

bool IsBlank(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'; }

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && IsBlank(s[b])) ++b;
  while (e > b && IsBlank(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

// The names Redis 7.0 accepts in a configuration file: `CONFIG GET *` of redis-server
// 7.0.15 (aliases included) and the directives that are not parameters.
constexpr std::string_view kRedisDirectives[] = {
    "acl-pubsub-default", "aclfile", "acllog-max-len", "active-defrag-cycle-max", "active-defrag-cycle-min",
    "active-defrag-ignore-bytes", "active-defrag-max-scan-fields", "active-defrag-threshold-lower",
    "active-defrag-threshold-upper", "active-expire-effort", "activedefrag", "activerehashing",
    "always-show-logo", "aof-disable-auto-gc", "aof-load-truncated", "aof-rewrite-incremental-fsync",
    "aof-timestamp-enabled", "aof-use-rdb-preamble", "aof_rewrite_cpulist", "appenddirname", "appendfilename",
    "appendfsync", "appendonly", "auto-aof-rewrite-min-size", "auto-aof-rewrite-percentage", "bgsave_cpulist",
    "bind", "bind-source-addr", "bio_cpulist", "busy-reply-threshold", "client-output-buffer-limit",
    "client-query-buffer-limit", "cluster-allow-pubsubshard-when-down", "cluster-allow-reads-when-down",
    "cluster-allow-replica-migration", "cluster-announce-bus-port", "cluster-announce-hostname",
    "cluster-announce-ip", "cluster-announce-port", "cluster-announce-tls-port", "cluster-config-file",
    "cluster-enabled", "cluster-link-sendbuf-limit", "cluster-migration-barrier", "cluster-node-timeout",
    "cluster-port", "cluster-preferred-endpoint-type", "cluster-replica-no-failover",
    "cluster-replica-validity-factor", "cluster-require-full-coverage", "cluster-slave-no-failover",
    "cluster-slave-validity-factor", "crash-log-enabled", "crash-memcheck-enabled", "daemonize", "databases",
    "dbfilename", "dir", "disable-thp", "dynamic-hz", "enable-debug-command", "enable-module-command",
    "enable-protected-configs", "hash-max-listpack-entries", "hash-max-listpack-value",
    "hash-max-ziplist-entries", "hash-max-ziplist-value", "hll-sparse-max-bytes", "hz", "ignore-warnings",
    "include", "io-threads", "io-threads-do-reads", "jemalloc-bg-thread", "latency-monitor-threshold",
    "latency-tracking", "latency-tracking-info-percentiles", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
    "lazyfree-lazy-server-del", "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush", "lfu-decay-time",
    "lfu-log-factor", "list-compress-depth", "list-max-listpack-size", "list-max-ziplist-size", "loadmodule",
    "logfile", "loglevel", "lua-time-limit", "masterauth", "masteruser", "maxclients", "maxmemory",
    "maxmemory-clients", "maxmemory-eviction-tenacity", "maxmemory-policy", "maxmemory-samples",
    "min-replicas-max-lag", "min-replicas-to-write", "min-slaves-max-lag", "min-slaves-to-write",
    "no-appendfsync-on-rewrite", "notify-keyspace-events", "oom-score-adj", "oom-score-adj-values", "pidfile",
    "port", "proc-title-template", "propagation-error-behavior", "protected-mode", "proto-max-bulk-len",
    "rdb-del-sync-files", "rdb-save-incremental-fsync", "rdbchecksum", "rdbcompression", "rename-command",
    "repl-backlog-size", "repl-backlog-ttl", "repl-disable-tcp-nodelay", "repl-diskless-load",
    "repl-diskless-sync", "repl-diskless-sync-delay", "repl-diskless-sync-max-replicas",
    "repl-ping-replica-period", "repl-ping-slave-period", "repl-timeout", "replica-announce-ip",
    "replica-announce-port", "replica-announced", "replica-ignore-disk-write-errors",
    "replica-ignore-maxmemory", "replica-lazy-flush", "replica-priority", "replica-read-only",
    "replica-serve-stale-data", "replicaof", "requirepass", "sanitize-dump-payload", "save", "sentinel",
    "server_cpulist", "set-max-intset-entries", "set-proc-title", "shutdown-on-sigint", "shutdown-on-sigterm",
    "shutdown-timeout", "slave-announce-ip", "slave-announce-port", "slave-ignore-maxmemory",
    "slave-lazy-flush", "slave-priority", "slave-read-only", "slave-serve-stale-data", "slaveof",
    "slowlog-log-slower-than", "slowlog-max-len", "socket-mark-id", "stop-writes-on-bgsave-error",
    "stream-node-max-bytes", "stream-node-max-entries", "supervised", "syslog-enabled", "syslog-facility",
    "syslog-ident", "tcp-backlog", "tcp-keepalive", "timeout", "tls-auth-clients", "tls-ca-cert-dir",
    "tls-ca-cert-file", "tls-cert-file", "tls-ciphers", "tls-ciphersuites", "tls-client-cert-file",
    "tls-client-key-file", "tls-client-key-file-pass", "tls-cluster", "tls-dh-params-file", "tls-key-file",
    "tls-key-file-pass", "tls-port", "tls-prefer-server-ciphers", "tls-protocols", "tls-replication",
    "tls-session-cache-size", "tls-session-cache-timeout", "tls-session-caching", "tracking-table-max-keys",
    "unixsocket", "unixsocketperm", "user", "zset-max-listpack-entries", "zset-max-listpack-value",
    "zset-max-ziplist-entries", "zset-max-ziplist-value",
};

}  // namespace

std::optional<std::vector<std::string>> SplitConfigLine(std::string_view line) {
  std::vector<std::string> out;
  std::string error;
  if (!resp::SplitArgs(line, &out, &error)) return std::nullopt;
  return out;
}

bool ParseConfigText(std::string_view text, const std::string& file, std::vector<ConfigDirective>* out,
                     std::string* error, int max_depth) {
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view raw = text.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    std::string line = Trim(raw);
    if (line.empty() || line[0] == '#') {
      if (eol == text.size()) break;
      continue;
    }
    const std::string origin = file + ":" + std::to_string(line_no);
    auto words = SplitConfigLine(line);
    if (!words) {
      *error = origin + ": unbalanced quotes in configuration line >>> '" + line + "'";
      return false;
    }
    if (words->empty()) continue;
    ConfigDirective d;
    d.name = Lower((*words)[0]);
    d.args.assign(words->begin() + 1, words->end());
    d.origin = origin;
    d.text = line;
    if (d.name == "include") {
      if (d.args.size() != 1) {
        *error = origin + ": include takes one file name >>> '" + line + "'";
        return false;
      }
      if (max_depth <= 0) {
        *error = origin + ": includes nested too deep (a file including itself?) >>> '" + line + "'";
        return false;
      }
      glob_t g{};
      int rc = glob(d.args[0].c_str(), GLOB_ERR, nullptr, &g);
      if (rc != 0) {
        globfree(&g);
        *error = origin + ": cannot read the included file '" + d.args[0] + "'" +
                 (rc == GLOB_NOMATCH ? ": no such file" : "");
        return false;
      }
      std::vector<std::string> files(g.gl_pathv, g.gl_pathv + g.gl_pathc);
      globfree(&g);
      std::sort(files.begin(), files.end());
      for (const std::string& f : files)
        if (!ReadConfigFile(f, out, error, max_depth - 1)) return false;
      continue;
    }
    out->push_back(std::move(d));
    if (eol == text.size()) break;
  }
  return true;
}

bool ReadConfigFile(const std::string& path, std::vector<ConfigDirective>* out, std::string* error, int max_depth) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open the configuration file '" + path + "'";
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    *error = "cannot read the configuration file '" + path + "'";
    return false;
  }
  return ParseConfigText(text.str(), path, out, error, max_depth);
}

bool ParseCommandLineDirectives(const std::vector<std::string>& words, std::vector<ConfigDirective>* out,
                                std::string* error) {
  ConfigDirective* cur = nullptr;
  for (const std::string& w : words) {
    if (w.size() > 2 && w.compare(0, 2, "--") == 0) {
      // `--name=value` too (getopt's form, which earlier Darter versions took).
      size_t eq = w.find('=');
      out->push_back(ConfigDirective{Lower(w.substr(2, eq == std::string::npos ? std::string::npos : eq - 2)), {},
                                     "command line", w});
      cur = &out->back();
      if (eq != std::string::npos) cur->args.push_back(w.substr(eq + 1));
      continue;
    }
    if (!cur) {
      *error = "'" + w + "' is not an option (options are --name value; a configuration file comes first)";
      return false;
    }
    cur->args.push_back(w);
    cur->text += " " + w;
  }
  return true;
}

bool IsRedisDirective(std::string_view name) {
  return std::binary_search(std::begin(kRedisDirectives), std::end(kRedisDirectives), name);
}

}  // namespace darter::server
