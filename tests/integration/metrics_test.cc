// The metrics page (docs/metrics.md). darter-server answers GET /metrics on its client
// port (recognised on the first line of a connection) and on --metrics-port;
// darter-migrate answers /metrics and /status on --status-port. Each page is parsed by
// Prometheus's own text parser (metrics_check.py, python3-prometheus-client) and its
// figures are checked against what the test did. RESP clients on the same port, inline
// commands that look like HTTP, and malformed or oversized requests are checked too.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "migrate_test_support.h"
#include "support/client.h"
#include "support/raw_conn.h"
#include "support/reply.h"
#include "support/server_process.h"

namespace darter::test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using repl::InfoInt;
using repl::WaitFor;

struct HttpReply {
  std::string status_line, head, body;
  bool closed = false;
};

HttpReply Exchange(int port, const std::string& request) {
  RawConn c(port);
  REQUIRE(c.ok());
  REQUIRE(c.Send(request));
  RawConn::Received r = c.Read(2000ms);
  HttpReply h;
  h.closed = r.closed;
  size_t end = r.data.find("\r\n\r\n");
  h.head = r.data.substr(0, end);
  h.status_line = h.head.substr(0, h.head.find("\r\n"));
  if (end != std::string::npos) h.body = r.data.substr(end + 4);
  return h;
}

HttpReply Get(int port, const std::string& path) {
  return Exchange(port, "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: metrics-test\r\n\r\n");
}

std::string ThisDir() {
  std::string f = __FILE__;
  return f.substr(0, f.rfind('/'));
}

// Runs metrics_check.py on `text` with `expectations` ("redis_db_keys{db=db0}==10"):
// the page must parse and every expectation hold. `mode` "--json" checks a JSON document.
bool Check(const std::string& text, const std::vector<std::string>& expectations, const std::string& mode = "") {
  static int seq = 0;
  std::filesystem::path file = std::filesystem::temp_directory_path() /
                               ("darter-metrics-test-" + std::to_string(getpid()) + "-" + std::to_string(seq++));
  std::ofstream(file) << text;
  std::string cmd = "/usr/bin/python3 " + ThisDir() + "/metrics_check.py " + mode + " " + file.string();
  for (const auto& e : expectations) cmd += " '" + e + "'";
  int rc = std::system(cmd.c_str());
  std::filesystem::remove(file);
  return rc == 0;
}

TEST_CASE("GET /metrics on the server port: a valid page whose figures follow the commands run") {
  StartedServer darter = StartDarter(0, {"--threads", "2", "--save", ""});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  const int port = darter.port();
  Client c(port);
  for (int i = 0; i < 10; ++i) REQUIRE(c.Cmd({"SET", "k" + std::to_string(i), "v"}).str == "OK");
  c.Cmd({"SET", "ttl", "v", "EX", "1000"});
  for (int i = 0; i < 3; ++i) c.Cmd({"GET", "k" + std::to_string(i)});
  c.Cmd({"GET", "missing"});
  CHECK(c.Cmd({"GET"}).type == Reply::Type::kError);  // an arity error: rejected
  c.Cmd({"SELECT", "3"});
  c.Cmd({"SET", "in-db3", "v"});

  HttpReply page = Get(port, "/metrics");
  CHECK(page.status_line == "HTTP/1.1 200 OK");
  CHECK(page.head.find("Content-Type: text/plain; version=0.0.4") != std::string::npos);
  CHECK(page.head.find("Connection: close") != std::string::npos);
  CHECK(page.closed);
  CHECK(Check(page.body, {"redis_up==1", "redis_db_keys{db=db0}==11", "redis_db_keys_expiring{db=db0}==1",
                          "redis_db_keys{db=db3}==1", "redis_commands_total{cmd=set}==12",
                          "redis_commands_total{cmd=get}==4", "redis_commands_rejected_calls_total{cmd=get}==1",
                          "redis_commands_duration_seconds_total{cmd=set}>=0", "redis_errors_total{err=ERR}==1",
                          "redis_keyspace_hits_total==3", "redis_keyspace_misses_total==1",
                          "redis_connected_clients>=1", "redis_memory_used_bytes>=1", "redis_uptime_in_seconds>=0",
                          "redis_rdb_last_bgsave_status==1", "redis_connected_slaves==0",
                          "redis_evicted_keys_total==0", "redis_expired_keys_total==0",
                          "redis_net_input_bytes_total>=1", "redis_latency_percentiles_usec_count{cmd=set}==12"}));
  // The RESP client on the same port goes on as before, and the scrape ran no command.
  CHECK(c.Cmd({"ECHO", "still here"}).str == "still here");
  Client c2(port);
  CHECK(c2.Cmd({"DBSIZE"}).integer == 11);
  HttpReply again = Get(port, "/metrics");
  CHECK(Check(again.body, {"redis_commands_total{cmd=echo}==1", "redis_commands_total{cmd=set}==12"}));

  // Other paths: 404; the query string is ignored.
  CHECK(Get(port, "/").status_line == "HTTP/1.1 404 Not Found");
  CHECK(Get(port, "/metrics?x=1").status_line == "HTTP/1.1 200 OK");
}

TEST_CASE("Inline RESP commands that start like HTTP stay RESP") {
  StartedServer darter = StartDarter(0, {"--save", ""});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  const int port = darter.port();
  Client c(port);
  REQUIRE(c.Cmd({"SET", "/k", "slash"}).str == "OK");
  {
    RawConn r(port);
    REQUIRE(r.Send("PING\r\n"));
    RawConn::Received got = r.Read(300ms);
    CHECK(got.data == "+PONG\r\n");
    CHECK_FALSE(got.closed);
  }
  {
    // No HTTP version: an inline GET of the key "/k".
    RawConn r(port);
    REQUIRE(r.Send("GET /k\r\n"));
    CHECK(r.Read(300ms).data == "$5\r\nslash\r\n");
  }
  {
    // After a RESP command, an HTTP-looking line is RESP again: GET with two arguments.
    RawConn r(port);
    REQUIRE(r.Send("PING\r\nGET /metrics HTTP/1.1\r\n"));
    RawConn::Received got = r.Read(300ms);
    CHECK(got.data == "+PONG\r\n-ERR wrong number of arguments for 'get' command\r\n");
  }
  {
    // The request line trickled byte by byte is still recognised.
    RawConn r(port);
    std::string req = "GET /metrics HTTP/1.0\r\n\r\n";
    for (char ch : req) {
      REQUIRE(r.Send(std::string(1, ch)));
      std::this_thread::sleep_for(2ms);
    }
    RawConn::Received got = r.Read(2000ms);
    CHECK(got.data.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
    CHECK(got.closed);
  }
}

TEST_CASE("Malformed and oversized HTTP requests are closed without harm") {
  StartedServer darter = StartDarter(0, {"--save", ""});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  const int port = darter.port();
  // Headers past 8 KiB: 431, closed.
  HttpReply big = Exchange(port, "GET /metrics HTTP/1.1\r\nX-Pad: " + std::string(9000, 'a') + "\r\n\r\n");
  CHECK(big.status_line == "HTTP/1.1 431 Request Header Fields Too Large");
  CHECK(big.closed);
  // Endless headers: the connection ends at 8 KiB, it does not grow.
  {
    RawConn r(port);
    REQUIRE(r.Send("GET /metrics HTTP/1.1\r\n"));
    for (int i = 0; i < 1000 && r.Send("X-Header: value\r\n"); ++i) {
    }
    RawConn::Received got = r.Read(2000ms);
    CHECK(got.data.rfind("HTTP/1.1 431", 0) == 0);
    CHECK(got.closed);
  }
  // A request line longer than a head may be: left to the RESP parser, which refuses the
  // arity (GET with two arguments) and never answers HTTP.
  {
    RawConn r(port);
    REQUIRE(r.Send("GET /" + std::string(10000, 'p') + " HTTP/1.1\r\n"));
    RawConn::Received got = r.Read(500ms);
    CHECK(got.data == "-ERR wrong number of arguments for 'get' command\r\n");
  }
  // A half request, then the client goes away.
  {
    RawConn r(port);
    REQUIRE(r.Send("GET /metr"));
  }
  // Binary junk after a valid request line.
  static const char kJunk[] = "GET /metrics HTTP/1.1\r\n\x01\x02\xff\r\n\r\n";
  HttpReply junk = Exchange(port, std::string(kJunk, sizeof kJunk - 1));
  CHECK(junk.status_line == "HTTP/1.1 200 OK");
  Client c(port);
  CHECK(c.Cmd({"PING"}).str == "PONG");
}

TEST_CASE("A password keeps the client port's page closed; --metrics-port serves it") {
  const int metrics_port = FreePort();
  StartedServer darter =
      StartDarter(0, {"--requirepass", "s3cret", "--metrics-port", std::to_string(metrics_port), "--save", ""});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  CHECK(Get(darter.port(), "/metrics").status_line == "HTTP/1.1 403 Forbidden");
  Client c(darter.port());
  CHECK(c.Cmd({"AUTH", "s3cret"}).str == "OK");
  CHECK(c.Cmd({"SET", "a", "1"}).str == "OK");
  HttpReply page = Get(metrics_port, "/metrics");
  CHECK(page.status_line == "HTTP/1.1 200 OK");
  CHECK(Check(page.body, {"redis_db_keys{db=db0}==1", "redis_commands_total{cmd=auth}==1"}));
  CHECK(c.Cmd({"CONFIG", "GET", "metrics-port"}).elements.at(1).str == std::to_string(metrics_port));
  // The metrics port speaks only HTTP.
  CHECK(Get(metrics_port, "/nothing").status_line == "HTTP/1.1 404 Not Found");
  CHECK(Exchange(metrics_port, "POST /metrics HTTP/1.1\r\n\r\n").status_line == "HTTP/1.1 405 Method Not Allowed");
  HttpReply resp = Exchange(metrics_port, "*1\r\n$4\r\nPING\r\n");
  CHECK(resp.status_line == "HTTP/1.1 400 Bad Request");
  CHECK(resp.closed);
  // A client that says nothing is dropped by the request deadline, not kept.
  {
    RawConn r(metrics_port);
    auto t0 = Clock::now();
    RawConn::Received got = r.Read(15000ms, 15000ms);
    CHECK(got.closed);
    CHECK(Clock::now() - t0 < 14s);
  }
  CHECK(Get(metrics_port, "/metrics").status_line == "HTTP/1.1 200 OK");
}

TEST_CASE("Replication state: a replica's link and its primary's replicas") {
  StartedServer primary = StartDarter(0, {"--save", ""});
  REQUIRE_MESSAGE(primary.status.ok, primary.status.message);
  StartedServer replica = StartDarter(0, {"--save", "", "--replicaof", "127.0.0.1:" + std::to_string(primary.port())});
  REQUIRE_MESSAGE(replica.status.ok, replica.status.message);
  Client p(primary.port()), r(replica.port());
  p.Cmd({"SET", "x", "1"});
  REQUIRE(WaitFor([&] { return r.Cmd({"GET", "x"}).str == "1"; }, 20s));
  const std::string link = "master_host=127.0.0.1,master_port=" + std::to_string(primary.port());
  CHECK(Check(Get(replica.port(), "/metrics").body,
              {"redis_master_link_up{" + link + "}==1", "redis_master_sync_in_progress{" + link + "}==0",
               "redis_slave_repl_offset{" + link + "}>=1", "redis_db_keys{db=db0}==1"}));
  REQUIRE(WaitFor([&] { return InfoInt(p, "replication", "connected_slaves") == 1; }, 10s));
  // A Darter replica follows per-shard flows, so the PSYNC stream's offset may stay 0.
  CHECK(Check(Get(primary.port(), "/metrics").body, {"redis_connected_slaves==1", "redis_master_repl_offset"}));
}

TEST_CASE("darter-migrate --status-port during a --follow migration") {
  StartedServer redis = StartRedis(0, {"--repl-diskless-sync-delay", "0", "--save", ""});
  REQUIRE_MESSAGE(redis.status.ok, redis.status.message);
  Client src(redis.port());
  for (int i = 0; i < 25; ++i) src.Cmd({"SET", "key" + std::to_string(i), "value"});
  const int status_port = FreePort(), target_port = FreePort();
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("darter-metrics-migrate-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  migrate::MigrateProcess m({"--source", "redis://127.0.0.1:" + std::to_string(redis.port()), "--follow", "--port",
                             std::to_string(target_port), "--status-port", std::to_string(status_port), "--dir",
                             dir.string(), "--no-save"});
  REQUIRE_MESSAGE(WaitFor([&] { return m.out().find("following the source") != std::string::npos; }, 60s), m.out());
  src.Cmd({"SET", "after-sync", "1"});
  Client target(target_port);
  REQUIRE(WaitFor([&] { return target.Cmd({"GET", "after-sync"}).str == "1"; }, 20s));
  // The follow loop samples every quarter second: wait for a sample showing the write.
  std::string page;
  REQUIRE(WaitFor(
      [&] {
        page = Get(status_port, "/metrics").body;
        return page.find("darter_migrate_phase{phase=\"in-sync\"} 1") != std::string::npos;
      },
      10s));
  CHECK(Check(page, {"darter_migrate_phase{phase=in-sync}==1", "darter_migrate_phase{phase=transfer}==0",
                     "darter_migrate_keys_loaded==25", "darter_migrate_keys_expected==25",
                     "darter_migrate_lag_bytes==0", "darter_migrate_lag_seconds>=0",
                     "darter_migrate_elapsed_seconds>=0",
                     "darter_migrate_info{mode=follow,source=127.0.0.1:" + std::to_string(redis.port()) + "}==1"}));
  HttpReply status = Get(status_port, "/status");
  CHECK(status.head.find("Content-Type: application/json") != std::string::npos);
  CHECK(Check(status.body, {"phase=in-sync", "mode=follow", "keys_loaded=25", "lag_bytes=0"}, "--json"));
  CHECK(Get(status_port, "/other").status_line == "HTTP/1.1 404 Not Found");
  // The embedded target's own page, on its client port: the migrated keys and the link.
  CHECK(Check(Get(target_port, "/metrics").body,
              {"redis_db_keys{db=db0}==26", "redis_master_link_up{master_host=127.0.0.1,master_port=" +
                                                std::to_string(redis.port()) + "}==1"}));
  m.Signal(SIGINT);
  migrate::RunResult done = m.Wait(60s);
  CHECK(done.exit_code == 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace darter::test
