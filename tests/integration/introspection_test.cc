// Command introspection against redis-server 7.0 (docs/introspection.md): SLOWLOG's
// entries (fields, truncation, redaction, MULTI/EXEC and script commands, trimming),
// LATENCY's replies with DEBUG SLEEP, LATENCY HISTOGRAM's shape, INFO commandstats /
// errorstats / latencystats after a known sequence, CONFIG RESETSTAT, INFO's section
// selection, and redis-py's slowlog_get on Darter.
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/client.h"
#include "support/reply.h"
#include "support/server_health.h"
#include "support/server_pair.h"
#include "support/server_process.h"

using namespace darter::test;

namespace {

// The pair of servers each case compares.
ServerPair StartBoth(std::vector<std::string> darter_args = {"--threads", "3"}) {
  return StartRedisAndDarter(std::move(darter_args));
}

void Same(Client& r, Client& d, const std::vector<std::string>& argv) { SameReply(r, d, argv); }

// SLOWLOG GET -1's entries as comparable text: the arguments and the client name, and
// whether the address is a loopback one or the script client's "?:0". The id, time and
// duration are checked for shape only.
std::vector<std::string> SlowlogEntries(Client& c) {
  Reply all = c.Cmd({"SLOWLOG", "GET", "-1"});
  REQUIRE(all.type == Reply::Type::kArray);
  std::vector<std::string> out;
  for (const Reply& e : all.elements) {
    REQUIRE(e.elements.size() == 6);
    CHECK(e.elements[0].type == Reply::Type::kInteger);
    CHECK(e.elements[1].type == Reply::Type::kInteger);
    CHECK(e.elements[1].integer > 1600000000);
    CHECK(e.elements[2].type == Reply::Type::kInteger);
    CHECK(e.elements[2].integer >= 0);
    const std::string& addr = e.elements[4].str;
    std::string where = addr == "?:0" ? "script" : addr.rfind("127.0.0.1:", 0) == 0 ? "loopback" : "other:" + addr;
    out.push_back(Format(e.elements[3]) + " " + where + " name=" + e.elements[5].str);
  }
  return out;
}

// INFO `section`'s lines "key:value" as a map.
std::map<std::string, std::string> InfoFields(Client& c, const std::string& section) {
  std::string text = c.Cmd({"INFO", section}).str;
  if (text.rfind("txt:", 0) == 0) text = text.substr(4);
  std::map<std::string, std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find("\r\n", pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 2;
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon != std::string::npos) out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

// "calls=3,usec=..,usec_per_call=..,rejected_calls=1,failed_calls=0" without the timings.
std::string Counts(const std::string& v) {
  std::string out;
  size_t pos = 0;
  while (pos <= v.size()) {
    size_t end = v.find(',', pos);
    if (end == std::string::npos) end = v.size();
    std::string field = v.substr(pos, end - pos);
    if (field.rfind("usec", 0) != 0) out += (out.empty() ? "" : ",") + field;
    pos = end + 1;
  }
  return out;
}

std::vector<std::string> InfoTitles(Client& c, std::vector<std::string> args) {
  args.insert(args.begin(), "INFO");
  std::string text = c.Cmd(args).str;
  std::vector<std::string> titles;
  size_t pos = 0;
  while ((pos = text.find("# ", pos)) != std::string::npos) {
    size_t end = text.find("\r\n", pos);
    titles.push_back(text.substr(pos + 2, end - pos - 2));
    pos = end;
  }
  return titles;
}

}  // namespace

TEST_CASE("SLOWLOG GET entries: fields, truncation of long and many arguments, redaction, client name") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  for (Client* c : {&r, &d}) {
    CHECK(c->Cmd({"CONFIG", "SET", "slowlog-log-slower-than", "0"}).str == "OK");
    CHECK(c->Cmd({"SLOWLOG", "RESET"}).str == "OK");
  }
  std::vector<std::string> many = {"RPUSH", "list"};
  for (int i = 0; i < 40; ++i) many.push_back("e" + std::to_string(i));
  const std::vector<std::vector<std::string>> sequence = {
      {"SET", "k", "v"},
      {"SET", "long", std::string(300, 'x')},
      {"SET", "exact", std::string(128, 'y')},
      many,
      {"AUTH", "user", "secret"},
      {"HELLO", "2", "AUTH", "user", "secret"},
      {"CONFIG", "SET", "masterauth", "secret"},
      {"ACL", "SETUSER", "someone", "on", ">pw"},
      {"CLIENT", "SETNAME", "tester"},
      {"GET", "k"},
      {"SET"},  // refused before it runs: not logged
      {"NOSUCHCOMMAND"},
  };
  for (const auto& argv : sequence) {
    CAPTURE(FormatCommand(argv));
    CHECK(Format(d.Cmd(argv)) == Format(r.Cmd(argv)));
  }
  CHECK(SlowlogEntries(d) == SlowlogEntries(r));
  // The exact bounds: 32 arguments, the last "... (11 more arguments)"; 128 bytes then
  // "... (172 more bytes)".
  Reply entries = d.Cmd({"SLOWLOG", "GET", "-1"});
  bool saw_many = false, saw_long = false;
  for (const Reply& e : entries.elements) {
    const auto& args = e.elements[3].elements;
    if (args[0].str == "RPUSH") {
      saw_many = true;
      CHECK(args.size() == 32);
      CHECK(args.back().str == "... (11 more arguments)");
    }
    if (args.size() == 3 && args[1].str == "long") {
      saw_long = true;
      CHECK(args[2].str == std::string(128, 'x') + "... (172 more bytes)");
    }
  }
  CHECK(saw_many);
  CHECK(saw_long);
}

TEST_CASE("SLOWLOG LEN, RESET, GET count, max-len trimming and errors") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  for (const std::vector<std::string>& argv :
       std::vector<std::vector<std::string>>{{"CONFIG", "SET", "slowlog-log-slower-than", "0"},
                                             {"CONFIG", "SET", "slowlog-max-len", "3"},
                                             {"SLOWLOG", "RESET"},
                                             {"SET", "a", "1"},
                                             {"SET", "b", "2"},
                                             {"SET", "c", "3"},
                                             {"SET", "d", "4"},
                                             {"SLOWLOG", "LEN"},
                                             {"SLOWLOG", "GET", "0"},
                                             {"SLOWLOG", "GET", "-2"},
                                             {"SLOWLOG", "GET", "x"},
                                             {"SLOWLOG", "Get", "1", "2"},
                                             {"SLOWLOG", "HELP", "x"},
                                             {"SLOWLOG", "LEN", "x"},
                                             {"SLOWLOG", "RESET", "x"},
                                             {"SLOWLOG", "FOO"},
                                             {"SLOWLOG"},
                                             {"SLOWLOG", "HELP"},
                                             {"CONFIG", "SET", "slowlog-log-slower-than", "-2"},
                                             {"CONFIG", "SET", "slowlog-max-len", "-1"},
                                             {"CONFIG", "SET", "slowlog-max-len", "abc"},
                                             {"SLOWLOG", "LEN"}})
    Same(r, d, argv);
  CHECK(SlowlogEntries(d) == SlowlogEntries(r));
  // GET's count and the newest-first order with increasing ids.
  Reply two = d.Cmd({"SLOWLOG", "GET", "2"});
  REQUIRE(two.elements.size() == 2);
  CHECK(two.elements[0].elements[0].integer == two.elements[1].elements[0].integer + 1);
  // -1 disables: nothing more is logged; the length stays.
  for (Client* c : {&r, &d}) {
    c->Cmd({"CONFIG", "SET", "slowlog-log-slower-than", "-1"});
    c->Cmd({"SET", "e", "5"});
  }
  Same(r, d, {"SLOWLOG", "LEN"});
  // A high threshold logs nothing but slow commands (DEBUG SLEEP 0.02 s is 20000 µs).
  for (Client* c : {&r, &d}) {
    c->Cmd({"CONFIG", "SET", "slowlog-log-slower-than", "15000"});
    c->Cmd({"SLOWLOG", "RESET"});
    c->Cmd({"SET", "f", "6"});
    c->Cmd({"DEBUG", "SLEEP", "0.02"});
  }
  Same(r, d, {"SLOWLOG", "LEN"});
  Reply slow = d.Cmd({"SLOWLOG", "GET"});
  REQUIRE(slow.elements.size() == 1);
  CHECK(slow.elements[0].elements[2].integer >= 15000);
  CHECK(Format(slow.elements[0].elements[3]) == Format(r.Cmd({"SLOWLOG", "GET"}).elements[0].elements[3]));
}

TEST_CASE("SLOWLOG logs a transaction's commands and a script's, not EXEC; a blocking command served at once") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  const std::vector<std::vector<std::string>> sequence = {
      {"CONFIG", "SET", "slowlog-log-slower-than", "0"},
      {"SLOWLOG", "RESET"},
      {"MULTI"},
      {"SET", "b", "2"},
      {"GET", "b"},
      {"EXEC"},
      {"EVAL", "redis.call('set', KEYS[1], 'y'); return redis.call('get', KEYS[1])", "1", "x"},
      {"RPUSH", "bl", "a"},
      {"BLPOP", "bl", "1"},    // served at once: logged
      {"BLPOP", "bl", "0.1"},  // waits and times out: Redis logs nothing
  };
  for (const auto& argv : sequence) Same(r, d, argv);
  CHECK(SlowlogEntries(d) == SlowlogEntries(r));
}

TEST_CASE("LATENCY: monitor events with DEBUG SLEEP, replies and errors") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  // Before the monitor is on.
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"LATENCY", "DOCTOR"},
           {"LATENCY", "LATEST"},
           {"LATENCY", "HISTORY", "command"},
           {"LATENCY", "GRAPH", "command"},
           {"LATENCY", "HELP"},
           {"LATENCY", "FOO"},
           {"LATENCY", "GRAPH"},
           {"LATENCY", "LATEST", "x"},
           {"LATENCY", "RESET"},
           {"CONFIG", "SET", "latency-monitor-threshold", "-1"},
           {"CONFIG", "SET", "latency-tracking", "maybe"},
           {"CONFIG", "SET", "latency-tracking-info-percentiles", "50 abc"},
           {"CONFIG", "SET", "latency-tracking-info-percentiles", "101"},
           {"CONFIG", "SET", "latency-monitor-threshold", "20"},
           {"LATENCY", "DOCTOR"},
       })
    Same(r, d, argv);
  // CONFIG GET's pairs, in any order.
  auto pairs = [](Client& c, const std::string& pattern) {
    Reply all = c.Cmd({"CONFIG", "GET", pattern});
    std::map<std::string, std::string> out;
    for (size_t i = 0; i + 1 < all.elements.size(); i += 2) out[all.elements[i].str] = all.elements[i + 1].str;
    return out;
  };
  CHECK(pairs(d, "latency-*") == pairs(r, "latency-*"));
  CHECK(pairs(d, "slowlog-*") == pairs(r, "slowlog-*"));
  for (Client* c : {&r, &d}) {
    c->Cmd({"DEBUG", "SLEEP", "0.05"});
    c->Cmd({"DEBUG", "SLEEP", "0"});  // under the threshold: no sample
  }
  for (Client* c : {&r, &d}) {
    const std::string who = c == &d ? "darter" : "redis";
    CAPTURE(who);
    Reply latest = c->Cmd({"LATENCY", "LATEST"});
    REQUIRE(latest.elements.size() == 1);
    const Reply& e = latest.elements[0];
    REQUIRE(e.elements.size() == 4);
    CHECK(e.elements[0].str == "command");
    CHECK(e.elements[2].integer >= 50);
    CHECK(e.elements[3].integer == e.elements[2].integer);
    Reply history = c->Cmd({"LATENCY", "HISTORY", "command"});
    REQUIRE(history.elements.size() == 1);
    CHECK(history.elements[0].elements[1].integer == e.elements[2].integer);
    std::string graph = c->Cmd({"LATENCY", "GRAPH", "command"}).str;
    CHECK(graph.find("command - high ") != std::string::npos);
    // One sample: it is the graph's low, drawn on the bottom row.
    CHECK(graph.find(std::string(80, '-') + "\n \n \n \n_\n") != std::string::npos);
    std::string doctor = c->Cmd({"LATENCY", "DOCTOR"}).str;
    CHECK(doctor.find("Dave, I have observed latency spikes") != std::string::npos);
    CHECK(doctor.find("1. command: 1 latency spikes (average ") != std::string::npos);
    CHECK(c->Cmd({"LATENCY", "HISTORY", "fast-command"}).elements.empty());
  }
  Same(r, d, {"LATENCY", "RESET", "command", "nosuch"});
  Same(r, d, {"LATENCY", "LATEST"});
}

TEST_CASE("LATENCY HISTOGRAM and INFO latencystats") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"CONFIG", "RESETSTAT"}, {"SET", "a", "1"}, {"SET", "a", "2"}, {"SET", "a", "3"}, {"GET", "a"},
           {"GET", "a"}, {"CONFIG", "SET", "latency-tracking-info-percentiles", "50 99.9 100"}})
    Same(r, d, argv);
  for (Client* c : {&r, &d}) {
    const std::string who = c == &d ? "darter" : "redis";
    CAPTURE(who);
    Reply h = c->Cmd({"LATENCY", "HISTOGRAM", "set", "get", "nosuch", "set"});
    REQUIRE(h.elements.size() == 6);  // set, get, set again (nosuch: none): name, details
    std::map<std::string, long long> calls;
    for (size_t i = 0; i < h.elements.size(); i += 2) {
      const Reply& details = h.elements[i + 1];
      REQUIRE(details.elements.size() == 4);
      CHECK(details.elements[0].str == "calls");
      CHECK(details.elements[2].str == "histogram_usec");
      calls[h.elements[i].str] = details.elements[1].integer;
      // Cumulative counts growing to `calls`, at bucket bounds that at least double.
      const auto& rows = details.elements[3].elements;
      REQUIRE(!rows.empty());
      for (size_t j = 2; j < rows.size(); j += 2) {
        CHECK(rows[j].integer >= 2 * rows[j - 2].integer);
        CHECK(rows[j + 1].integer > rows[j - 1].integer);
      }
      CHECK(rows[rows.size() - 1].integer == details.elements[1].integer);
    }
    CHECK(calls == std::map<std::string, long long>{{"get", 2}, {"set", 3}});
    CHECK(c->Cmd({"LATENCY", "HISTOGRAM", "CONFIG|SET"}).elements.size() == 2);
    // A container stands for its subcommands.
    Reply config = c->Cmd({"LATENCY", "HISTOGRAM", "config"});
    REQUIRE(config.elements.size() >= 2);
    CHECK(config.elements[0].str.rfind("config|", 0) == 0);
    auto stats = InfoFields(*c, "latencystats");
    REQUIRE(stats.count("latency_percentiles_usec_set"));
    const std::string& line = stats["latency_percentiles_usec_set"];
    CHECK(line.rfind("p50=", 0) == 0);
    CHECK(line.find(",p99.9=") != std::string::npos);
    CHECK(line.find(",p100=") != std::string::npos);
    // RESETSTAT's own call is counted after the reset, as Redis does.
    CHECK(stats.count("latency_percentiles_usec_config|resetstat") == 1);
  }
  // latency-tracking no: no more samples.
  for (Client* c : {&r, &d}) {
    const std::string who = c == &d ? "darter" : "redis";
    CAPTURE(who);
    c->Cmd({"CONFIG", "SET", "latency-tracking", "no"});
    c->Cmd({"SET", "a", "4"});
    Reply h = c->Cmd({"LATENCY", "HISTOGRAM", "set"});
    REQUIRE(h.elements.size() == 2);
    CHECK(h.elements[1].elements[1].integer == 3);
  }
}

TEST_CASE("INFO commandstats and errorstats after a known sequence; CONFIG RESETSTAT") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  const std::vector<std::vector<std::string>> sequence = {
      {"CONFIG", "RESETSTAT"},
      {"SET", "a", "1"},
      {"SET", "a", "2"},
      {"GET", "a"},
      {"INCR", "a"},
      {"SET"},                   // rejected: arity
      {"LPUSH", "a", "x"},       // failed: WRONGTYPE
      {"INCR", "nosuch"},
      {"SET", "s", "abc"},
      {"INCR", "s"},             // failed: ERR not an integer
      {"NOSUCHCOMMAND", "x"},    // errorstats only
      {"CLIENT", "NOSUCH"},      // errorstats only (unknown subcommand)
      {"MULTI"},
      {"INCR", "s"},             // fails inside EXEC
      {"GET", "a"},
      {"EXEC"},
      {"MULTI"},
      {"GET"},                   // rejected while queueing
      {"EXEC"},                  // EXECABORT: failed
      {"EVAL", "redis.call('set', KEYS[1], 'z') return redis.call('get', KEYS[1])", "1", "y"},
      {"EVAL", "return redis.call('incr', KEYS[1])", "1", "s"},   // the script fails
      {"EVAL", "return redis.pcall('incr', KEYS[1])", "1", "s"},  // its error table is the reply
      {"EVAL", "return redis.call('nosuchcmd', KEYS[1])", "1", "s"},
      {"EVAL", "return redis.call('get')", "0"},                  // get: rejected
      {"CLIENT", "SETNAME", "n"},
      {"CONFIG", "GET", "maxmemory"},
  };
  for (const auto& argv : sequence) Same(r, d, argv);
  auto rs = InfoFields(r, "commandstats"), ds = InfoFields(d, "commandstats");
  for (const char* cmd : {"cmdstat_set", "cmdstat_get", "cmdstat_incr", "cmdstat_lpush", "cmdstat_multi",
                          "cmdstat_exec", "cmdstat_eval", "cmdstat_client|setname", "cmdstat_config|get",
                          "cmdstat_config|resetstat"}) {
    CAPTURE(cmd);
    REQUIRE(rs.count(cmd) == ds.count(cmd));
    if (rs.count(cmd)) CHECK(Counts(ds[cmd]) == Counts(rs[cmd]));
  }
  // Field layout: usec and usec_per_call present, the latter with 2 decimals.
  REQUIRE(ds.count("cmdstat_set"));
  CHECK(ds["cmdstat_set"].find(",usec=") != std::string::npos);
  CHECK(ds["cmdstat_set"].find(",usec_per_call=") != std::string::npos);
  CHECK(ds.count("cmdstat_nosuchcommand") == 0);
  CHECK(ds.count("cmdstat_client") == 0);
  CHECK(InfoFields(d, "errorstats") == InfoFields(r, "errorstats"));
  CHECK(InfoFields(d, "stats")["total_error_replies"] == InfoFields(r, "stats")["total_error_replies"]);

  // RESETSTAT clears counters and error counts, and leaves the slowlog.
  for (Client* c : {&r, &d}) {
    c->Cmd({"CONFIG", "SET", "slowlog-log-slower-than", "0"});
    c->Cmd({"SET", "x", "1"});
  }
  Same(r, d, {"CONFIG", "RESETSTAT"});
  for (Client* c : {&r, &d}) {
    const std::string who = c == &d ? "darter" : "redis";
    CAPTURE(who);
    auto cs = InfoFields(*c, "commandstats");
    CHECK(cs.count("cmdstat_set") == 0);
    CHECK(InfoFields(*c, "errorstats").empty());
    CHECK(InfoFields(*c, "stats")["total_error_replies"] == "0");
    CHECK(c->Cmd({"SLOWLOG", "LEN"}).integer >= 2);
  }
}

TEST_CASE("Commandstats count squashed pipelines exactly") {
  StartedServer darter = StartDarter(0, {"--threads", "3"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  d.Cmd({"CONFIG", "RESETSTAT"});
  std::vector<std::vector<std::string>> batch;
  for (int i = 0; i < 100; ++i) batch.push_back({"SET", "key" + std::to_string(i), "v"});
  for (int i = 0; i < 50; ++i) batch.push_back({"LPUSH", "key" + std::to_string(i), "v"});  // WRONGTYPE
  d.Pipeline(batch);
  auto cs = InfoFields(d, "commandstats");
  CHECK(Counts(cs["cmdstat_set"]) == "calls=100,rejected_calls=0,failed_calls=0");
  CHECK(Counts(cs["cmdstat_lpush"]) == "calls=50,rejected_calls=0,failed_calls=50");
  CHECK(InfoFields(d, "errorstats")["errorstat_WRONGTYPE"] == "count=50");
  Reply h = d.Cmd({"LATENCY", "HISTOGRAM", "set"});
  REQUIRE(h.elements.size() == 2);
  CHECK(h.elements[1].elements[1].integer == 100);
}

TEST_CASE("INFO's default, all and everything select sections as Redis 7.0") {
  ServerPair p = StartBoth();
  Client r(p.redis.port()), d(p.darter.port());
  const std::set<std::string> ours = {"Commandstats", "Errorstats", "Latencystats"};
  for (std::vector<std::string> args : std::vector<std::vector<std::string>>{
           {}, {"default"}, {"all"}, {"everything"}, {"commandstats"}, {"errorstats"}, {"latencystats"},
           {"default", "commandstats"}, {"server", "latencystats"}, {"all", "latencystats"}}) {
    CAPTURE(FormatCommand(args));
    std::vector<std::string> want, got;
    for (auto& t : InfoTitles(r, args))
      if (ours.count(t)) want.push_back(t);
    for (auto& t : InfoTitles(d, args))
      if (ours.count(t)) got.push_back(t);
    CHECK(got == want);
  }
}

TEST_CASE("redis-py reads Darter's SLOWLOG and MEMORY USAGE, and pauses it with CLIENT PAUSE") {
  StartedServer darter = StartDarter(0, {"--slowlog-log-slower-than", "0"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  std::string script = std::string(__FILE__);
  script = script.substr(0, script.rfind('/')) + "/introspection_redis_py.py";
  std::string cmd = "/usr/bin/python3 " + script + " " + std::to_string(darter.port());
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("Hostile: big arguments, many arguments and many names stay bounded") {
  StartedServer darter = StartDarter(0, {"--threads", "2", "--slowlog-log-slower-than", "0"});
  REQUIRE_MESSAGE(darter.status.ok, darter.status.message);
  Client d(darter.port());
  // Each entry keeps at most 32 arguments of at most 128 bytes (and their notes), however
  // big the command: 128 entries of 4 MB commands hold well under a megabyte.
  const std::string big(4 * 1024 * 1024, 'v');
  for (int i = 0; i < 20; ++i) REQUIRE(d.Cmd({"SET", "k" + std::to_string(i), big}).str == "OK");
  d.Cmd({"DEL", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9", "k10", "k11", "k12", "k13", "k14",
         "k15", "k16", "k17", "k18", "k19"});
  std::vector<std::string> wide = {"DEL"};
  for (int i = 0; i < 100000; ++i) wide.push_back("key" + std::to_string(i));
  CHECK(d.Cmd(wide).integer == 0);
  Reply last = d.Cmd({"SLOWLOG", "GET", "1"});
  REQUIRE(last.elements.size() == 1);
  CHECK(last.elements[0].elements[3].elements.size() == 32);
  CHECK(last.elements[0].elements[3].elements[31].str == "... (99970 more arguments)");
  // LATENCY HISTOGRAM naming a hundred thousand commands, known or not.
  std::vector<std::string> names = {"LATENCY", "HISTOGRAM"};
  for (int i = 0; i < 100000; ++i) names.push_back(i % 2 ? "set" : "nosuch" + std::to_string(i));
  Reply h = d.Cmd(names);
  CHECK(h.type == Reply::Type::kArray);
  CHECK(h.elements.size() == 100000);  // "set" named 50000 times
  HealthReport health = CheckServerHealthy(*darter.process, 300ull * 1024 * 1024);
  CHECK_MESSAGE(health.ok, health.message);
}
