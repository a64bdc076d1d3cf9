#include "server/admin/slowlog_family.h"

#include <deque>
#include <string>
#include <vector>

#include "server/core/command_stats.h"
#include "server/core/observer_hooks.h"
#include "server/core/connection.h"
#include "store/errors.h"
#include "store/shard.h"
#include "store/string_util.h"
#include "store/thread_annotations.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

constexpr size_t kMaxArgs = 32;       // Redis's SLOWLOG_ENTRY_MAX_ARGC
constexpr size_t kMaxArgBytes = 128;  // Redis's SLOWLOG_ENTRY_MAX_STRING

struct Entry {
  int64_t id;
  int64_t time_s;
  int64_t duration_us;
  std::vector<std::string> args;
  std::string client_addr, client_name;
};

struct Log {
  Mutex mu;
  std::deque<Entry> entries GUARDED_BY(mu);  // newest first
  int64_t next_id GUARDED_BY(mu) = 0;        // not reset by SLOWLOG RESET, as Redis
};

Log& TheLog() {
  static Log log;
  return log;
}

// CONFIG SET parameters whose values Redis 7.0 redacts (its SENSITIVE_CONFIG).
bool SensitiveConfig(std::string_view name) {
  for (std::string_view s : {"requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass"})
    if (EqualsIgnoreCase(name, s)) return true;
  return false;
}

// Which arguments Redis 7.0's handlers redact (redactClientCommandArgument).
std::vector<bool> Redactions(const store::CommandSpec& spec, store::ArgList args) {
  std::vector<bool> r(args.size(), false);
  const std::string& name = spec.name;
  if (name == "auth") {
    for (size_t j = 1; j < args.size(); ++j) r[j] = true;
  } else if (name == "hello") {
    for (size_t j = 2; j < args.size(); ++j) {
      if (EqualsIgnoreCase(args[j], "auth") && j + 2 < args.size()) {
        r[j + 1] = r[j + 2] = true;
        j += 2;
      } else if (EqualsIgnoreCase(args[j], "setname") && j + 1 < args.size()) {
        ++j;
      }
    }
  } else if (name == "acl" && args.size() >= 3 && EqualsIgnoreCase(args[1], "setuser")) {
    for (size_t j = 2; j < args.size(); ++j) r[j] = true;
  } else if (name == "config" && args.size() >= 4 && EqualsIgnoreCase(args[1], "set")) {
    for (size_t j = 2; j + 1 < args.size(); j += 2)
      if (SensitiveConfig(args[j])) r[j + 1] = true;
  } else if (name == "migrate") {
    for (size_t j = 6; j < args.size(); ++j) {
      if (EqualsIgnoreCase(args[j], "auth") && j + 1 < args.size()) {
        r[++j] = true;
      } else if (EqualsIgnoreCase(args[j], "auth2") && j + 2 < args.size()) {
        r[j + 1] = r[j + 2] = true;
        j += 2;
      } else if (EqualsIgnoreCase(args[j], "keys")) {
        break;
      }
    }
  }
  return r;
}

Entry MakeEntry(const store::CommandSpec& spec, store::ArgList args, int64_t duration_us,
                std::string_view client_addr, std::string_view client_name) {
  Entry e;
  e.time_s = store::UnixTimeMs() / 1000;
  e.duration_us = duration_us;
  const std::vector<bool> redacted = Redactions(spec, args);
  const size_t n = std::min(args.size(), kMaxArgs);
  e.args.reserve(n);
  for (size_t j = 0; j < n; ++j) {
    if (n != args.size() && j == n - 1) {
      e.args.push_back("... (" + std::to_string(args.size() - n + 1) + " more arguments)");
    } else if (redacted[j]) {
      e.args.emplace_back("(redacted)");
    } else if (args[j].size() > kMaxArgBytes) {
      e.args.push_back(std::string(args[j].substr(0, kMaxArgBytes)) + "... (" +
                       std::to_string(args[j].size() - kMaxArgBytes) + " more bytes)");
    } else {
      e.args.emplace_back(args[j]);
    }
  }
  e.client_addr = client_addr;
  e.client_name = client_name;
  return e;
}

void TrimLocked(Log& log, size_t max_len) REQUIRES(log.mu) {
  while (log.entries.size() > max_len) log.entries.pop_back();
}

void ReplyEntry(resp::ReplyBuilder& rb, const Entry& e) {
  rb.ArrayHeader(6);
  rb.Integer(e.id);
  rb.Integer(e.time_s);
  rb.Integer(e.duration_us);
  rb.ArrayHeader(e.args.size());
  for (const std::string& a : e.args) rb.Bulk(a);
  rb.Bulk(e.client_addr);
  rb.Bulk(e.client_name);
}

void SlowlogCommand(ConnectionContext& c) {
  const std::string sub = store::ToLower(c.args[1]);
  Log& log = TheLog();
  if (sub == "help" && c.args.size() == 2) {
    c.reply.SimpleStringArray(std::initializer_list<const char*>{"SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "GET [<count>]",
                               "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                               "    Entries are made of:",
                               "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                               "    client name", "LEN", "    Return the length of the slowlog.", "RESET",
                               "    Reset the slowlog.", "HELP", "    Prints this help."});
  } else if (sub == "reset" && c.args.size() == 2) {
    MutexLock lock(&log.mu);
    log.entries.clear();
    c.reply.Ok();
  } else if (sub == "len" && c.args.size() == 2) {
    MutexLock lock(&log.mu);
    c.reply.Integer(static_cast<int64_t>(log.entries.size()));
  } else if (sub == "get" && (c.args.size() == 2 || c.args.size() == 3)) {
    int64_t count = 10;
    if (c.args.size() == 3) {
      auto v = store::ParseInt64(c.args[2]);
      if (!v || *v < -1) {
        c.reply.Error("ERR count should be greater than or equal to -1");
        return;
      }
      count = *v;
    }
    MutexLock lock(&log.mu);
    size_t n = log.entries.size();
    if (count >= 0) n = std::min(n, static_cast<size_t>(count));
    c.reply.ArrayHeader(n);
    for (size_t i = 0; i < n; ++i) ReplyEntry(c.reply, log.entries[i]);
  } else if (sub == "get" && c.args.size() > 3) {
    // Redis's addReplySubcommandSyntaxError (the subcommand as the client wrote it).
    c.reply.Error("ERR unknown subcommand or wrong number of arguments for '" +
                  std::string(c.args[1].substr(0, 128)) + "'. Try SLOWLOG HELP.");
  } else if (sub == "get" || sub == "len" || sub == "reset" || sub == "help") {
    c.reply.Error(store::errors::WrongArity("slowlog|" + sub));
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try SLOWLOG HELP.");
  }
}

}  // namespace

void SlowlogOffer(const store::CommandSpec& spec, store::ArgList args, int64_t duration_us,
                  std::string_view client_addr, std::string_view client_name) {
  const IntrospectionSettings& s = Introspection();
  const int64_t slower_than = s.slowlog_log_slower_than.load(std::memory_order_relaxed);
  const int64_t max_len = s.slowlog_max_len.load(std::memory_order_relaxed);
  if (slower_than < 0 || max_len <= 0 || duration_us < slower_than) return;
  // EXEC carries Redis's skip_slowlog: its queued commands are logged instead.
  if (spec.name == "exec") return;
  Entry e = MakeEntry(spec, args, duration_us, client_addr, client_name);
  Log& log = TheLog();
  MutexLock lock(&log.mu);
  e.id = log.next_id++;
  log.entries.push_front(std::move(e));
  TrimLocked(log, static_cast<size_t>(max_len));
}

void RegisterSlowlogFamily(store::CommandTable& t) {
  GetObserverHooks().slow_command = SlowlogOffer;
  using namespace store;
  constexpr uint32_t kAnyState = kCmdLoading | kCmdStale;
  CommandFamily family(t, 0);
  family << CommandRow("slowlog", -2, kCmdAdmin | kAnyState)
                .Connection(SlowlogCommand)
                .Container()
                .Subcommands({Sub("get", -2, kCmdAdmin | kAnyState), Sub("help", 2, kAnyState),
                              Sub("reset", 2, kCmdAdmin | kAnyState), Sub("len", 2, kCmdAdmin | kAnyState)});
}

}  // namespace darter::server
