#include "server/admin/prometheus_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>

namespace darter::server {

namespace {

const char* TypeName(MetricType t) {
  switch (t) {
    case MetricType::kGauge: return "gauge";
    case MetricType::kCounter: return "counter";
    case MetricType::kSummary: return "summary";
    case MetricType::kUntyped: return "untyped";
  }
  return "untyped";
}

}  // namespace

std::string FormatMetricValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[40];
  // Integers (counters, bytes) exactly; anything else with full precision.
  if (v == std::floor(v) && std::fabs(v) < 9.007199254740992e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
    return buf;
  }
  // The shortest of 15..17 digits that reads back as the same double (12.031, not
  // 12.031000000000001).
  for (int digits = 15; digits <= 17; ++digits) {
    std::snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

namespace {

// A label value as the format quotes it: backslash, double quote and newline escaped.
std::string EscapeLabel(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// HELP text escapes backslash and newline only.
std::string EscapeHelp(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::optional<double> ParseNumber(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::string copy(s);
  char* end = nullptr;
  double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size()) return std::nullopt;
  return v;
}

// "a=1,b=x": the fields of an INFO value.
std::map<std::string, std::string, std::less<>> SplitFields(std::string_view v) {
  std::map<std::string, std::string, std::less<>> out;
  while (!v.empty()) {
    size_t comma = v.find(',');
    std::string_view part = v.substr(0, comma);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos) out.emplace(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
  return out;
}

double FieldNumber(const std::map<std::string, std::string, std::less<>>& f, std::string_view name) {
  auto it = f.find(name);
  if (it == f.end()) return 0;
  return ParseNumber(it->second).value_or(0);
}

struct InfoMetric {
  const char* field;  // INFO's name
  const char* name;   // redis_exporter's, without the redis_ prefix
  MetricType type;
  const char* help;
};

constexpr MetricType kG = MetricType::kGauge;
constexpr MetricType kC = MetricType::kCounter;

// The plain numeric fields, named and typed as redis_exporter names and types them.
constexpr InfoMetric kInfoMetrics[] = {
    {"uptime_in_seconds", "uptime_in_seconds", kG, "Seconds since the server started"},
    {"process_id", "process_id", kG, "The server's process id"},
    {"connected_clients", "connected_clients", kG, "Client connections open (this scrape's included)"},
    {"blocked_clients", "blocked_clients", kG, "Clients waiting in a blocking command"},
    {"tracking_clients", "tracking_clients", kG, "Clients with CLIENT TRACKING on"},
    {"client_recent_max_output_buffer", "client_recent_max_output_buffer_bytes", kG, "Largest recent client output buffer"},
    {"client_recent_max_input_buffer", "client_recent_max_input_buffer_bytes", kG, "Largest recent client input buffer"},
    {"used_memory", "memory_used_bytes", kG, "Bytes allocated by the server (INFO used_memory)"},
    {"used_memory_rss", "memory_used_rss_bytes", kG, "Resident set size"},
    {"used_memory_peak", "memory_used_peak_bytes", kG, "Peak of used_memory"},
    {"used_memory_lua", "memory_used_lua_bytes", kG, "Bytes used by the Lua engine"},
    {"used_memory_overhead", "memory_used_overhead_bytes", kG, "Bytes used beyond the dataset"},
    {"used_memory_startup", "memory_used_startup_bytes", kG, "used_memory at start-up"},
    {"used_memory_dataset", "memory_used_dataset_bytes", kG, "Bytes used by the dataset"},
    {"used_memory_scripts", "memory_used_scripts_bytes", kG, "Bytes used by cached scripts"},
    {"maxmemory", "memory_max_bytes", kG, "maxmemory (0: no limit)"},
    {"allocator_allocated", "allocator_allocated_bytes", kG, "Allocator: bytes allocated"},
    {"allocator_active", "allocator_active_bytes", kG, "Allocator: bytes in active pages"},
    {"allocator_resident", "allocator_resident_bytes", kG, "Allocator: resident bytes"},
    {"mem_fragmentation_ratio", "mem_fragmentation_ratio", kG, "RSS over used_memory"},
    {"mem_fragmentation_bytes", "mem_fragmentation_bytes", kG, "RSS less used_memory"},
    {"mem_clients_slaves", "mem_clients_slaves", kG, "Bytes used by replica connections"},
    {"mem_clients_normal", "mem_clients_normal", kG, "Bytes used by client connections"},
    {"mem_not_counted_for_evict", "mem_not_counted_for_eviction_bytes", kG, "Bytes not counted against maxmemory"},
    {"lazyfree_pending_objects", "lazyfree_pending_objects", kG, "Objects waiting to be freed"},
    {"expired_stale_perc", "expired_stale_percentage", kG, "Estimated share of expired keys not yet removed"},
    {"expired_time_cap_reached_count", "expired_time_cap_reached_total", kG, "Active expiry cycles cut short"},
    {"loading", "loading_dump_file", kG, "1 while an RDB file is being loaded"},
    {"rdb_changes_since_last_save", "rdb_changes_since_last_save", kG, "Writes since the last snapshot"},
    {"rdb_bgsave_in_progress", "rdb_bgsave_in_progress", kG, "1 while a snapshot is being written"},
    {"rdb_last_save_time", "rdb_last_save_timestamp_seconds", kG, "Unix time of the last successful snapshot"},
    {"rdb_last_bgsave_time_sec", "rdb_last_bgsave_duration_sec", kG, "Duration of the last snapshot"},
    {"rdb_current_bgsave_time_sec", "rdb_current_bgsave_duration_sec", kG, "Duration of the snapshot in progress"},
    {"rdb_last_cow_size", "rdb_last_cow_size_bytes", kG, "Copy-on-write bytes of the last snapshot"},
    {"aof_enabled", "aof_enabled", kG, "1 when the append-only file is on"},
    {"aof_rewrite_in_progress", "aof_rewrite_in_progress", kG, "1 while the AOF is being rewritten"},
    {"pubsub_channels", "pubsub_channels", kG, "Channels with subscribers"},
    {"pubsub_patterns", "pubsub_patterns", kG, "Pattern subscriptions"},
    {"latest_fork_usec", "latest_fork_usec", kG, "Duration of the latest fork (Darter does not fork)"},
    {"connected_slaves", "connected_slaves", kG, "Replicas attached to this server"},
    {"repl_backlog_size", "replication_backlog_bytes", kG, "repl-backlog-size"},
    {"repl_backlog_active", "repl_backlog_is_active", kG, "1 when the backlog exists"},
    {"repl_backlog_first_byte_offset", "repl_backlog_first_byte_offset", kG, "Replication offset of the backlog's first byte"},
    {"repl_backlog_histlen", "repl_backlog_history_bytes", kG, "Bytes held in the backlog"},
    {"master_repl_offset", "master_repl_offset", kG, "This server's replication offset"},
    {"second_repl_offset", "second_repl_offset", kG, "Offset up to which the previous replication id is valid"},
    {"slave_priority", "slave_priority", kG, "replica-priority"},
    {"sync_full", "replica_resyncs_full", kG, "Full resyncs served to replicas"},
    {"sync_partial_ok", "replica_partial_resync_accepted", kG, "Partial resyncs accepted"},
    {"sync_partial_err", "replica_partial_resync_denied", kG, "Partial resyncs denied"},
    {"total_connections_received", "connections_received_total", kC, "Connections accepted"},
    {"total_commands_processed", "commands_processed_total", kC, "Commands processed"},
    {"rejected_connections", "rejected_connections_total", kC, "Connections refused (maxclients)"},
    {"total_net_input_bytes", "net_input_bytes_total", kC, "Bytes read from clients"},
    {"total_net_output_bytes", "net_output_bytes_total", kC, "Bytes written to clients"},
    {"expired_keys", "expired_keys_total", kC, "Keys removed on expiry"},
    {"evicted_keys", "evicted_keys_total", kC, "Keys evicted under maxmemory"},
    {"keyspace_hits", "keyspace_hits_total", kC, "Key lookups that found the key"},
    {"keyspace_misses", "keyspace_misses_total", kC, "Key lookups that did not"},
    {"used_cpu_sys", "cpu_sys_seconds_total", kC, "System CPU seconds"},
    {"used_cpu_user", "cpu_user_seconds_total", kC, "User CPU seconds"},
};

const InfoMetric* FindInfoMetric(std::string_view field) {
  for (const InfoMetric& m : kInfoMetrics)
    if (field == m.field) return &m;
  return nullptr;
}

}  // namespace

void PrometheusText::Declare(std::string_view name, MetricType type, std::string_view help) {
  if (families_.find(name) != families_.end()) return;
  order_.emplace_back(name);
  families_.emplace(std::string(name), Family{type, std::string(help), {}});
}

void PrometheusText::Sample(std::string_view family, std::string_view sample_name, double value,
                            const MetricLabels& labels) {
  auto it = families_.find(family);
  if (it == families_.end()) return;  // REQUIRES: declared
  std::string line(sample_name);
  if (!labels.empty()) {
    line += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i) line += ',';
      line += labels[i].first + "=\"" + EscapeLabel(labels[i].second) + '"';
    }
    line += '}';
  }
  line += ' ' + FormatMetricValue(value);
  it->second.samples.push_back(std::move(line));
}

void PrometheusText::Add(std::string_view name, MetricType type, std::string_view help, double value,
                         const MetricLabels& labels) {
  Declare(name, type, help);
  Sample(name, name, value, labels);
}

std::string PrometheusText::Render() const {
  std::string out;
  for (const std::string& name : order_) {
    const Family& f = families_.find(name)->second;
    out += "# HELP " + name + ' ' + EscapeHelp(f.help) + '\n';
    out += "# TYPE " + name + ' ' + TypeName(f.type) + '\n';
    for (const std::string& s : f.samples) out += s + '\n';
  }
  return out;
}

std::string InfoToPrometheus(std::string_view info) {
  PrometheusText p;
  p.Add("redis_up", kG, "1: the server answered", 1);
  std::map<std::string, std::string, std::less<>> values;  // every field, for the labels below
  std::string section;
  // Per command: calls and usec from commandstats, for the latency summary.
  std::map<std::string, std::pair<double, double>, std::less<>> command_totals;
  std::vector<std::pair<std::string, std::map<std::string, std::string, std::less<>>>> percentiles;
  while (!info.empty()) {
    size_t eol = info.find('\n');
    std::string_view line = info.substr(0, eol);
    info.remove_prefix(eol == std::string_view::npos ? info.size() : eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 2) == "# ") {
      section = std::string(line.substr(2));
      continue;
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = line.substr(0, colon), value = line.substr(colon + 1);
    values.emplace(std::string(key), std::string(value));
    if (section == "Commandstats" && key.substr(0, 8) == "cmdstat_") {
      auto f = SplitFields(value);
      MetricLabels l = {{"cmd", std::string(key.substr(8))}};
      const double calls = FieldNumber(f, "calls"), usec = FieldNumber(f, "usec");
      p.Add("redis_commands_total", kC, "Calls per command", calls, l);
      p.Add("redis_commands_duration_seconds_total", kC, "Seconds spent per command", usec / 1e6, l);
      p.Add("redis_commands_rejected_calls_total", kC, "Calls refused before running, per command",
            FieldNumber(f, "rejected_calls"), l);
      p.Add("redis_commands_failed_calls_total", kC, "Calls that answered an error, per command",
            FieldNumber(f, "failed_calls"), l);
      command_totals[std::string(key.substr(8))] = {calls, usec};
    } else if (section == "Errorstats" && key.substr(0, 10) == "errorstat_") {
      p.Add("redis_errors_total", kC, "Error replies per error prefix", FieldNumber(SplitFields(value), "count"),
            {{"err", std::string(key.substr(10))}});
    } else if (section == "Latencystats" && key.substr(0, 25) == "latency_percentiles_usec_") {
      percentiles.emplace_back(std::string(key.substr(25)), SplitFields(value));
    } else if (section == "Keyspace" && key.substr(0, 2) == "db") {
      auto f = SplitFields(value);
      MetricLabels l = {{"db", std::string(key)}};
      p.Add("redis_db_keys", kG, "Keys per database", FieldNumber(f, "keys"), l);
      p.Add("redis_db_keys_expiring", kG, "Keys with a TTL per database", FieldNumber(f, "expires"), l);
      p.Add("redis_db_avg_ttl_seconds", kG, "Mean remaining TTL per database", FieldNumber(f, "avg_ttl") / 1000, l);
    } else if (section == "Replication" && key.substr(0, 5) == "slave" && key.size() > 5 &&
               key.find_first_not_of("0123456789", 5) == std::string_view::npos) {
      auto f = SplitFields(value);
      MetricLabels l = {{"slave_ip", f["ip"]}, {"slave_port", f["port"]}, {"slave_state", f["state"]}};
      p.Add("redis_connected_slave_offset_bytes", kG, "Replication offset a replica acknowledged",
            FieldNumber(f, "offset"), l);
      p.Add("redis_connected_slave_lag_seconds", kG, "Seconds since a replica's last acknowledgement",
            FieldNumber(f, "lag"), l);
    } else if (key == "rdb_last_bgsave_status") {
      p.Add("redis_rdb_last_bgsave_status", kG, "1: the last snapshot succeeded", value == "ok" ? 1 : 0);
    } else if (key == "aof_last_bgrewrite_status" || key == "aof_last_write_status") {
      p.Add("redis_" + std::string(key), kG, "1: ok", value == "ok" ? 1 : 0);
    } else if (const InfoMetric* m = FindInfoMetric(key)) {
      if (auto v = ParseNumber(value)) p.Add(std::string("redis_") + m->name, m->type, m->help, *v);
    }
  }
  // A replica's link, labelled with its primary as redis_exporter labels it.
  if (values["role"] == "slave") {
    MetricLabels l = {{"master_host", values["master_host"]}, {"master_port", values["master_port"]}};
    p.Add("redis_master_link_up", kG, "1: the link to the primary is up", values["master_link_status"] == "up", l);
    p.Add("redis_master_sync_in_progress", kG, "1: a full sync from the primary is in progress",
          ParseNumber(values["master_sync_in_progress"]).value_or(0), l);
    p.Add("redis_master_last_io_seconds_ago", kG, "Seconds since the primary last sent anything",
          ParseNumber(values["master_last_io_seconds_ago"]).value_or(-1), l);
    p.Add("redis_slave_repl_offset", kG, "Replication offset this replica applied",
          ParseNumber(values["slave_repl_offset"]).value_or(0), l);
    p.Add("redis_slave_info", kG, "This server is a replica",
          1, {{"master_host", values["master_host"]}, {"master_port", values["master_port"]},
              {"read_only", values["slave_read_only"]}});
  }
  // latencystats' percentiles, with commandstats' count and sum, as one summary per
  // command (quantiles as fractions: p99.9 is quantile 0.999).
  if (!percentiles.empty()) {
    p.Declare("redis_latency_percentiles_usec", MetricType::kSummary, "Command latency percentiles in microseconds");
    for (auto& [cmd, fields] : percentiles) {
      for (auto& [name, v] : fields) {
        auto q = ParseNumber(std::string_view(name).substr(1));
        auto val = ParseNumber(v);
        if (!q || !val || name[0] != 'p') continue;
        char qbuf[32];
        std::snprintf(qbuf, sizeof qbuf, "%g", *q / 100);
        p.Sample("redis_latency_percentiles_usec", "redis_latency_percentiles_usec", *val,
                 {{"cmd", cmd}, {"quantile", qbuf}});
      }
      auto totals = command_totals.find(cmd);
      if (totals == command_totals.end()) continue;
      p.Sample("redis_latency_percentiles_usec", "redis_latency_percentiles_usec_sum", totals->second.second,
               {{"cmd", cmd}});
      p.Sample("redis_latency_percentiles_usec", "redis_latency_percentiles_usec_count", totals->second.first,
               {{"cmd", cmd}});
    }
  }
  p.Add("redis_instance_info", kG, "Information about the server",
        1, {{"role", values["role"]}, {"redis_version", values["redis_version"]},
            {"redis_build_id", values["redis_build_id"]}, {"redis_mode", values["redis_mode"]},
            {"os", values["os"]}, {"maxmemory_policy", values["maxmemory_policy"]},
            {"tcp_port", values["tcp_port"]}, {"run_id", values["run_id"]},
            {"process_id", values["process_id"]}, {"master_replid", values["master_replid"]},
            {"darter_version", values["darter_version"]}});
  if (auto up = ParseNumber(values["uptime_in_seconds"])) {
    // redis_exporter's start_time_seconds: from server_time_usec, not a second clock.
    if (auto now = ParseNumber(values["server_time_usec"]))
      p.Add("redis_start_time_seconds", kG, "Unix time the server started", std::floor(*now / 1e6 - *up));
  }
  return p.Render();
}

}  // namespace darter::server
