#include <doctest/doctest.h>

#include <string>

#include "server/admin/prometheus_text.h"
#include "server/core/http_request.h"

using namespace darter::server;

TEST_CASE("HTTP is recognised only on a whole 'GET /<target> HTTP/1.x' line") {
  CHECK(DetectHttpRequest("").kind == HttpDetect::kNeedMore);
  CHECK(DetectHttpRequest("G").kind == HttpDetect::kNeedMore);
  CHECK(DetectHttpRequest("GET ").kind == HttpDetect::kNeedMore);
  CHECK(DetectHttpRequest("GET /metrics").kind == HttpDetect::kNeedMore);
  CHECK(DetectHttpRequest("GET /metrics HTTP/1.1\r\nHost: x\r\n").kind == HttpDetect::kNeedMore);
  HttpRequestHead h = DetectHttpRequest("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\nrest");
  CHECK(h.kind == HttpDetect::kHttp);
  CHECK(h.path == "/metrics");
  CHECK(h.head_len == std::string("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").size());
  CHECK(DetectHttpRequest("GET /metrics HTTP/1.0\n\n").kind == HttpDetect::kHttp);
  // RESP: other commands, GET of a key, GET without the version, other methods.
  CHECK(DetectHttpRequest("PING\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("*1\r\n$4\r\nPING\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("GET key\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("GET /key\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("GET /a b HTTP/1.1\r\n\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("GET /metrics HTTP/2.0\r\n\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("get /metrics HTTP/1.1\r\n\r\n").kind == HttpDetect::kNotHttp);
  CHECK(DetectHttpRequest("POST /metrics HTTP/1.1\r\n\r\n").kind == HttpDetect::kNotHttp);
  // Bounds: a head past kMaxHttpHead is too large; a request line that long is RESP's.
  std::string headers = "GET /metrics HTTP/1.1\r\nX: " + std::string(kMaxHttpHead, 'a');
  CHECK(DetectHttpRequest(headers).kind == HttpDetect::kTooLarge);
  CHECK(DetectHttpRequest("GET /" + std::string(kMaxHttpHead, 'a')).kind == HttpDetect::kNotHttp);
}

TEST_CASE("The text format: families grouped, labels escaped, values exact") {
  PrometheusText p;
  p.Add("a_total", MetricType::kCounter, "first", 1, {{"k", "x"}});
  p.Add("b", MetricType::kGauge, "line\nbreak", 0.25);
  p.Add("a_total", MetricType::kCounter, "first", 2, {{"k", "q\"uote\\back\nnl"}});
  CHECK(p.Render() ==
        "# HELP a_total first\n# TYPE a_total counter\na_total{k=\"x\"} 1\n"
        "a_total{k=\"q\\\"uote\\\\back\\nnl\"} 2\n"
        "# HELP b line\\nbreak\n# TYPE b gauge\nb 0.25\n");
  CHECK(FormatMetricValue(12.031) == "12.031");
  CHECK(FormatMetricValue(1e18) == "1e+18");
  CHECK(FormatMetricValue(123456789012.0) == "123456789012");
  CHECK(FormatMetricValue(-3) == "-3");
}

TEST_CASE("INFO fields become redis_exporter's metrics") {
  const std::string info =
      "# Server\r\nredis_version:7.0.15\r\nuptime_in_seconds:42\r\nserver_time_usec:1000000000\r\n"
      "# Clients\r\nconnected_clients:3\r\n"
      "# Memory\r\nused_memory:1024\r\nmaxmemory:0\r\n"
      "# Persistence\r\nrdb_last_bgsave_status:err\r\nrdb_changes_since_last_save:7\r\n"
      "# Stats\r\nexpired_keys:5\r\nevicted_keys:2\r\n"
      "# Replication\r\nrole:master\r\nconnected_slaves:1\r\n"
      "slave0:ip=10.0.0.2,port=6380,state=online,offset=99,lag=1\r\nmaster_repl_offset:120\r\n"
      "# Commandstats\r\ncmdstat_get:calls=4,usec=2000000,usec_per_call=500000.00,rejected_calls=1,failed_calls=0\r\n"
      "cmdstat_client|list:calls=1,usec=10,usec_per_call=10.00,rejected_calls=0,failed_calls=0\r\n"
      "# Errorstats\r\nerrorstat_WRONGTYPE:count=2\r\n"
      "# Latencystats\r\nlatency_percentiles_usec_get:p50=1.003,p99=2.007,p99.9=3.007\r\n"
      "# Keyspace\r\ndb0:keys=10,expires=1,avg_ttl=5000\r\n";
  const std::string page = InfoToPrometheus(info);
  auto has = [&](const std::string& line) { return page.find("\n" + line + "\n") != std::string::npos; };
  CHECK(has("redis_up 1"));
  CHECK(has("redis_uptime_in_seconds 42"));
  CHECK(has("redis_start_time_seconds 958"));
  CHECK(has("redis_connected_clients 3"));
  CHECK(has("redis_memory_used_bytes 1024"));
  CHECK(has("redis_rdb_last_bgsave_status 0"));
  CHECK(has("redis_rdb_changes_since_last_save 7"));
  CHECK(has("# TYPE redis_expired_keys_total counter"));
  CHECK(has("redis_expired_keys_total 5"));
  CHECK(has("redis_evicted_keys_total 2"));
  CHECK(has("redis_connected_slave_offset_bytes{slave_ip=\"10.0.0.2\",slave_port=\"6380\",slave_state=\"online\"} 99"));
  CHECK(has("redis_connected_slave_lag_seconds{slave_ip=\"10.0.0.2\",slave_port=\"6380\",slave_state=\"online\"} 1"));
  CHECK(has("redis_master_repl_offset 120"));
  CHECK(has("redis_commands_total{cmd=\"get\"} 4"));
  CHECK(has("redis_commands_total{cmd=\"client|list\"} 1"));
  CHECK(has("redis_commands_duration_seconds_total{cmd=\"get\"} 2"));
  CHECK(has("redis_commands_rejected_calls_total{cmd=\"get\"} 1"));
  CHECK(has("redis_errors_total{err=\"WRONGTYPE\"} 2"));
  CHECK(has("redis_latency_percentiles_usec{cmd=\"get\",quantile=\"0.999\"} 3.007"));
  CHECK(has("redis_latency_percentiles_usec_count{cmd=\"get\"} 4"));
  CHECK(has("redis_db_keys{db=\"db0\"} 10"));
  CHECK(has("redis_db_keys_expiring{db=\"db0\"} 1"));
  CHECK(has("redis_db_avg_ttl_seconds{db=\"db0\"} 5"));
  CHECK(page.find("redis_master_link_up") == std::string::npos);  // a primary has no link
}
