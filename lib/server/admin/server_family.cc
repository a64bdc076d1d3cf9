#include "server/admin/server_family.h"

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <sstream>

#include "darter_version.h"
#include "server/access/acl_admission.h"
#include "server/acl/acl_registry.h"
#include "server/blocking/blocking.h"
#include "server/core/command_stats.h"
#include "server/core/config_rewrite.h"
#include "server/core/connection.h"
#include "server/core/eviction.h"
#include "server/core/log.h"
#include "server/core/observer_hooks.h"
#include "server/multi/multi_family.h"
#include "server/core/cross_thread.h"
#include "server/admin/info_text.h"
#include "server/admin/metrics_http.h"
#include "server/admin/client_pause.h"
#include "server/admin/memory_family.h"
#include "server/persist/persistence.h"
#include "server/core/protected_actions.h"
#include "server/pubsub/pubsub_family.h"
#include "server/repl/repl_master.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/tracking/tracking_family.h"
#include "store/errors.h"
#include "store/shard.h"
#include "store/store_config.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;
using store::ToLower;

constexpr const char* kRedisVersion = "7.0.15";
constexpr const char* kDarterVersion = DARTER_VERSION;

// Redis 7.0 checks each subcommand's arity like a command's, naming it "container|sub".
// `arity` follows the command-table convention (negative: at least).
bool SubcommandArityOk(ConnectionContext& c, std::string_view container, int arity) {
  if (!store::CommandSpec::ArityAllows(arity, c.args.size())) {
    c.reply.Error(store::errors::WrongArity(std::string(container) + "|" + ToLower(c.args[1])));
    return false;
  }
  return true;
}

void ReplyHelp(ConnectionContext& c, std::initializer_list<const char*> lines) { c.reply.SimpleStringArray(lines); }

bool ValidClientName(std::string_view name) {
  for (char ch : name)
    if (ch < '!' || ch > '~') return false;
  return true;
}

// ---- PING, ECHO, QUIT, TIME ----

void PingCommand(ConnectionContext& c) {
  if (c.args.size() > 2) {
    c.reply.Error(store::errors::WrongArity("ping"));
    return;
  }
  if (c.conn.protocol() == 2 && InSubscribedMode(c.conn)) {  // RESP2 subscribed mode: ["pong", msg]
    c.reply.ArrayHeader(2);
    c.reply.Bulk("pong");
    c.reply.Bulk(c.args.size() == 2 ? c.args[1] : "");
    return;
  }
  if (c.args.size() == 2) c.reply.Bulk(c.args[1]);
  else c.reply.SimpleString("PONG");
}

void EchoCommand(ConnectionContext& c) { c.reply.Bulk(c.args[1]); }

void QuitCommand(ConnectionContext& c) {
  c.reply.Ok();
  c.conn.close_after_reply = true;
}

void TimeCommand(ConnectionContext& c) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  c.reply.ArrayHeader(2);
  c.reply.Bulk(std::to_string(tv.tv_sec));
  c.reply.Bulk(std::to_string(tv.tv_usec));
}

// ---- AUTH, HELLO, SELECT ----

// Returns true when (user, pass) authenticates, and the client then runs as that user;
// otherwise replies WRONGPASS (unknown user, disabled user or wrong password alike, so
// the reply tells nothing about which) and logs the failure, changing nothing.
bool CheckAuth(ConnectionContext& c, std::string_view user, std::string_view pass) {
  if (auto u = acl::Registry::Global().Authenticate(user, pass)) {
    c.conn.authenticated = true;
    c.conn.acl.Set(std::move(u));
    return true;
  }
  LogAuthFailure(c.conn, c.args[0], user, InMulti(c.conn));
  c.reply.Error("WRONGPASS invalid username-password pair or user is disabled.");
  return false;
}

void AuthCommand(ConnectionContext& c) {
  if (c.args.size() > 3) {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  if (c.args.size() == 2 && !acl::Registry::Global().DefaultUserHasPassword()) {
    c.reply.Error(
        "ERR AUTH <password> called without any password configured for the default user. Are you sure your "
        "configuration is correct?");
    return;
  }
  std::string_view user = c.args.size() == 3 ? c.args[1] : "default";
  if (CheckAuth(c, user, c.args.back())) c.reply.Ok();
}

void HelloCommand(ConnectionContext& c) {
  int64_t ver = 0;
  if (c.args.size() >= 2) {
    auto v = store::ParseInt64(c.args[1]);
    if (!v) {
      c.reply.Error("ERR Protocol version is not an integer or out of range");
      return;
    }
    ver = *v;
  }
  std::optional<std::string_view> user, pass, setname;
  for (size_t j = 2; j < c.args.size(); ++j) {
    size_t more = c.args.size() - j - 1;
    if (EqualsIgnoreCase(c.args[j], "auth") && more >= 2) {
      user = c.args[j + 1];
      pass = c.args[j + 2];
      j += 2;
    } else if (EqualsIgnoreCase(c.args[j], "setname") && more >= 1) {
      setname = c.args[j + 1];
      j += 1;
    } else {
      c.reply.Error("ERR Syntax error in HELLO option '" + std::string(c.args[j]) + "'");
      return;
    }
  }
  if (c.args.size() >= 2 && (ver < 2 || ver > 3)) {
    c.reply.Error("NOPROTO unsupported protocol version");
    return;
  }
  if (user && !CheckAuth(c, *user, *pass)) return;
  if (!c.conn.authenticated) {
    c.reply.Error(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> "
        "option can be used to authenticate the client and select the RESP protocol version at the same time");
    return;
  }
  if (setname) {
    if (!ValidClientName(*setname)) {
      c.reply.Error("ERR Client names cannot contain spaces, newlines or special characters.");
      return;
    }
    c.conn.name = *setname;
  }
  if (ver) c.conn.set_protocol(static_cast<int>(ver));
  c.reply.MapHeader(7);
  c.reply.Bulk("server");
  c.reply.Bulk("redis");
  c.reply.Bulk("version");
  c.reply.Bulk(kRedisVersion);
  c.reply.Bulk("proto");
  c.reply.Integer(c.conn.protocol());
  c.reply.Bulk("id");
  c.reply.Integer(static_cast<int64_t>(c.conn.id()));
  c.reply.Bulk("mode");
  c.reply.Bulk("standalone");
  c.reply.Bulk("role");
  c.reply.Bulk("master");
  c.reply.Bulk("modules");
  c.reply.ArrayHeader(0);
}

void SelectCommand(ConnectionContext& c) {
  auto v = store::ParseInt64(c.args[1]);
  if (!v) {
    c.reply.Error(store::errors::kNotInteger);
    return;
  }
  if (*v < INT32_MIN || *v > INT32_MAX) {
    c.reply.Error(store::errors::kNotInt32);
    return;
  }
  if (*v < 0 || *v >= static_cast<int64_t>(c.server.db_count())) {
    c.reply.Error(store::errors::kDbIndexOutOfRange);
    return;
  }
  c.conn.db = static_cast<unsigned>(*v);
  c.reply.Ok();
}

// ---- CLIENT ----

void ReplyUnknownSubcommand(ConnectionContext& c, std::string_view container) {
  c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try " +
                std::string(container) + " HELP.");
}

void ClientId(ConnectionContext& c) { c.reply.Integer(static_cast<int64_t>(c.conn.id())); }

void ClientGetName(ConnectionContext& c) {
  if (c.conn.name.empty()) c.reply.Null();
  else c.reply.Bulk(c.conn.name);
}

void ClientSetName(ConnectionContext& c) {
  if (!ValidClientName(c.args[2])) {
    c.reply.Error("ERR Client names cannot contain spaces, newlines or special characters.");
    return;
  }
  c.conn.name = c.args[2];
  c.reply.Ok();
}

void ClientInfo(ConnectionContext& c) { c.reply.Verbatim(c.conn.Describe(store::UnixTimeMs()) + "\n"); }

// CLIENT LIST [TYPE type] [ID id ...]: every thread describes its own connections.
void ClientList(ConnectionContext& c) {
  std::optional<std::vector<uint64_t>> ids;
  std::optional<std::string> type;
  for (size_t j = 2; j < c.args.size(); ++j) {
    if (EqualsIgnoreCase(c.args[j], "type") && j + 1 < c.args.size()) {
      std::string t = ToLower(c.args[j + 1]);
      if (t != "normal" && t != "master" && t != "replica" && t != "slave" && t != "pubsub") {
        c.reply.Error("ERR Unknown client type '" + std::string(c.args[j + 1]) + "'");
        return;
      }
      type = t;
      ++j;
    } else if (EqualsIgnoreCase(c.args[j], "id") && j + 1 < c.args.size()) {
      ids = std::vector<uint64_t>{};
      for (++j; j < c.args.size(); ++j) {
        auto v = store::ParseInt64(c.args[j]);
        if (!v || *v <= 0) {
          c.reply.Error("ERR Invalid client ID");
          return;
        }
        ids->push_back(static_cast<uint64_t>(*v));
      }
    } else {
      c.reply.Error(store::errors::kSyntax);
      return;
    }
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb, ids, type]() -> awaitable<void> {
    unsigned n = srv.shards().size();
    std::vector<std::vector<std::pair<uint64_t, std::string>>> lines(n);
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    int64_t now = store::UnixTimeMs();
    co_await AwaitAll(ctxs, [&](size_t t) {
      for (auto& [id, conn] : srv.connections(static_cast<unsigned>(t))) {
        if (ids && std::find(ids->begin(), ids->end(), id) == ids->end()) continue;
        if (type && !ClientTypeIs(*conn, *type)) continue;
        lines[t].emplace_back(id, conn->Describe(now));
      }
    });
    std::vector<std::pair<uint64_t, std::string>> all;
    for (auto& v : lines) all.insert(all.end(), v.begin(), v.end());
    std::sort(all.begin(), all.end());
    std::string text;
    for (auto& [id, line] : all) text += line + "\n";
    rb.Verbatim(text);
  };
}

struct ClientFilter {
  std::optional<uint64_t> id;
  std::optional<std::string> addr, laddr, type;
  std::optional<uint64_t> user;  // the ACL user's identity (acl_user.h)
  bool skipme = true;
  std::optional<int64_t> maxage;
};

// CLIENT KILL's filters, from "<option> <value>" pairs at args[2...]; false (with the
// error replied) on a bad one.
bool ParseClientFilter(ConnectionContext& c, ClientFilter* f) {
  for (size_t j = 2; j < c.args.size(); j += 2) {
    if (j + 1 >= c.args.size()) {
      c.reply.Error(store::errors::kSyntax);
      return false;
    }
    std::string_view opt = c.args[j], val = c.args[j + 1];
    if (EqualsIgnoreCase(opt, "id")) {
      auto v = store::ParseInt64(val);
      if (!v || *v <= 0) {
        c.reply.Error("ERR client-id should be greater than 0");
        return false;
      }
      f->id = static_cast<uint64_t>(*v);
    } else if (EqualsIgnoreCase(opt, "addr")) {
      f->addr = std::string(val);
    } else if (EqualsIgnoreCase(opt, "laddr")) {
      f->laddr = std::string(val);
    } else if (EqualsIgnoreCase(opt, "user")) {
      auto u = acl::Registry::Global().Find(val);
      if (!u) {
        c.reply.Error("ERR No such user '" + std::string(val) + "'");
        return false;
      }
      f->user = u->identity;
    } else if (EqualsIgnoreCase(opt, "type")) {
      f->type = ToLower(val);
    } else if (EqualsIgnoreCase(opt, "skipme")) {
      if (EqualsIgnoreCase(val, "yes")) f->skipme = true;
      else if (EqualsIgnoreCase(val, "no")) f->skipme = false;
      else {
        c.reply.Error(store::errors::kSyntax);
        return false;
      }
    } else if (EqualsIgnoreCase(opt, "maxage")) {
      auto v = store::ParseInt64(val);
      if (!v) {
        c.reply.Error(store::errors::kNotInteger);
        return false;
      }
      f->maxage = *v;
    } else {
      c.reply.Error(store::errors::kSyntax);
      return false;
    }
  }
  return true;
}

// CLIENT KILL <ip:port> (the old form: +OK or "No such client") or CLIENT KILL <filters>
// (the count killed). Each thread closes its own matching connections; this one is closed
// after its reply is written.
void ClientKill(ConnectionContext& c) {
  ClientFilter f;
  bool old_style = c.args.size() == 3;
  if (old_style) {
    f.addr = std::string(c.args[2]);
    f.skipme = false;
  } else if (!ParseClientFilter(c, &f)) {
    return;
  }
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  uint64_t me = c.conn.id();
  Connection* self = &c.conn;
  c.then = [&srv, &rb, f, me, old_style, self]() -> awaitable<void> {
    unsigned n = srv.shards().size();
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    std::vector<int> killed(n, 0);
    int64_t now = store::UnixTimeMs();
    bool kill_self = false;
    co_await AwaitAll(ctxs, [&](size_t t) {
      for (auto& [id, conn] : srv.connections(static_cast<unsigned>(t))) {
        if (f.id && *f.id != id) continue;
        if (f.addr && *f.addr != conn->peer_address) continue;
        if (f.laddr && *f.laddr != conn->local_address) continue;
        if (f.user && *f.user != conn->acl.identity()) continue;
        if (f.type && !ClientTypeIs(*conn, *f.type)) continue;
        if (f.maxage && (now - conn->created_ms) / 1000 < *f.maxage) continue;
        if (id == me) {
          if (f.skipme) continue;
          kill_self = true;  // closed after its reply is written
          killed[t]++;
          continue;
        }
        conn->Close();
        killed[t]++;
      }
    });
    int total = 0;
    for (int k : killed) total += k;
    if (old_style) {
      if (total == 0) rb.Error("ERR No such client");
      else rb.Ok();
    } else {
      rb.Integer(total);
    }
    if (kill_self) self->close_after_reply = true;
  };
}

// CLIENT UNBLOCK <id> [TIMEOUT|ERROR]; with more arguments it is no CLIENT subcommand.
void ClientUnblock(ConnectionContext& c) {
  if (c.args.size() > 4) {
    ReplyUnknownSubcommand(c, "CLIENT");
    return;
  }
  bool with_error = false;
  if (c.args.size() == 4) {
    if (EqualsIgnoreCase(c.args[3], "error")) with_error = true;
    else if (!EqualsIgnoreCase(c.args[3], "timeout")) {
      c.reply.Error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
      return;
    }
  }
  auto id = store::ParseInt64(c.args[2]);
  if (!id) {
    c.reply.Error(store::errors::kNotInteger);
    return;
  }
  c.reply.Integer(*id > 0 && UnblockClient(static_cast<uint64_t>(*id), with_error) ? 1 : 0);
}

// CLIENT NO-EVICT on|off: there is no client eviction (maxmemory-clients), so every
// client is already exempt and either answer is true; the setting shows as flag e.
void ClientNoEvict(ConnectionContext& c) {
  if (EqualsIgnoreCase(c.args[2], "on")) c.conn.no_evict = true;
  else if (EqualsIgnoreCase(c.args[2], "off")) c.conn.no_evict = false;
  else {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  c.reply.Ok();
}

// CLIENT REPLY ON|OFF|SKIP (the connection applies them: Connection::DispatchDroppingReply).
// Only ON replies; SKIP under OFF changes nothing.
void ClientReply(ConnectionContext& c) {
  Connection& conn = c.conn;
  if (EqualsIgnoreCase(c.args[2], "on")) {
    conn.reply_off = false;
    conn.reply_skip_this = false;
    c.reply.Ok();
  } else if (EqualsIgnoreCase(c.args[2], "off")) {
    conn.reply_off = true;
  } else if (EqualsIgnoreCase(c.args[2], "skip")) {
    if (!conn.reply_off) conn.reply_skip_next = true;
  } else {
    c.reply.Error(store::errors::kSyntax);
  }
}

void ClientHelp(ConnectionContext& c) {
  ReplyHelp(c, {"CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "CACHING (YES|NO)",
                "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.", "GETREDIR",
                "    Return the client ID we are redirecting to when tracking is enabled.", "GETNAME",
                "    Return the name of the current connection.", "ID", "    Return the ID of the current connection.",
                "INFO", "    Return information about the current client connection.",
                "KILL <ip:port>", "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are: ID, ADDR, LADDR, TYPE, USER, SKIPME, MAXAGE.",
                "LIST [options ...]", "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)", "      Return clients of specified type.",
                "    * ID <client-id> [<client-id> ...]", "      Return clients of specified IDs only.",
                "UNPAUSE", "    Stop the current client pause, resuming traffic.", "PAUSE <timeout> [WRITE|ALL]",
                "    Suspend all, or just write, clients for <timeout> milliseconds.", "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>", "    Assign the name <name> to the current connection.",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                "         [OPTIN] [OPTOUT] [NOLOOP]", "    Control server assisted client side caching.",
                "TRACKINGINFO", "    Report tracking status for the current connection.", "HELP",
                "    Print this help."});
}

struct ClientSubcommand {
  const char* name;
  int arity;  // of the whole command, as a command-table row's
  void (*run)(ConnectionContext&);
};

constexpr ClientSubcommand kClientSubcommands[] = {
    {"id", 2, ClientId},         {"getname", 2, ClientGetName}, {"setname", 3, ClientSetName},
    {"info", 2, ClientInfo},     {"list", -2, ClientList},      {"kill", -3, ClientKill},
    {"no-evict", 3, ClientNoEvict}, {"help", 2, ClientHelp},    {"unblock", -3, ClientUnblock},
    {"reply", 3, ClientReply},      {"pause", -3, ClientPauseCommand}, {"unpause", 2, ClientUnpauseCommand},
    // Client-side caching (tracking_family.h).
    {"tracking", -3, ClientTrackingCommand}, {"caching", 3, ClientCachingCommand},
    {"getredir", 2, ClientGetRedirCommand},  {"trackinginfo", 2, ClientTrackingInfoCommand}};

void ClientCommand(ConnectionContext& c) {
  std::string sub = ToLower(c.args[1]);
  for (const ClientSubcommand& s : kClientSubcommands) {
    if (sub != s.name) continue;
    if (SubcommandArityOk(c, "client", s.arity)) s.run(c);
    return;
  }
  ReplyUnknownSubcommand(c, "CLIENT");
}

// ---- CONFIG ----

void ConfigCommand(ConnectionContext& c) {
  std::string sub = ToLower(c.args[1]);
  ConfigRegistry& cfg = c.server.config();
  static const std::pair<const char*, int> kArity[] = {
      {"get", -3}, {"set", -4}, {"resetstat", 2}, {"rewrite", 2}, {"help", 2}};
  for (auto& [name, arity] : kArity)
    if (sub == name && !SubcommandArityOk(c, "config", arity)) return;
  if (sub == "get") {
    std::vector<std::pair<std::string, std::string>> all;
    for (size_t j = 2; j < c.args.size(); ++j) {
      for (auto& kv : cfg.Get(c.args[j])) {
        if (std::none_of(all.begin(), all.end(), [&](auto& e) { return e.first == kv.first; })) all.push_back(kv);
      }
    }
    c.reply.MapHeader(all.size());
    for (auto& [k, v] : all) {
      c.reply.Bulk(k);
      c.reply.Bulk(v);
    }
  } else if (sub == "set") {
    if (c.args.size() % 2 != 0) {
      c.reply.Error(store::errors::WrongArity("config|set"));
      return;
    }
    for (size_t j = 2; j < c.args.size(); j += 2) {
      if (!cfg.Known(c.args[j])) {
        c.reply.Error("ERR Unknown option or number of arguments for CONFIG SET - '" + std::string(c.args[j]) + "'");
        return;
      }
    }
    bool protected_allowed = AllowProtectedAction(
        ParseProtectedAction(cfg.Snapshot().enable_protected_configs).value_or(ProtectedAction::kNo),
        c.conn.local_client);
    std::vector<std::pair<std::string_view, std::string_view>> pairs;
    for (size_t j = 2; j < c.args.size(); j += 2) pairs.emplace_back(c.args[j], c.args[j + 1]);
    std::string failed;
    if (auto err = cfg.SetAll(pairs, protected_allowed, &failed)) {
      c.reply.Error("ERR CONFIG SET failed (possibly related to argument '" + failed + "') - " + *err);
      return;
    }
    c.reply.Ok();
  } else if (sub == "resetstat") {
    Server& srv = c.server;
    resp::ReplyBuilder& rb = c.reply;
    c.then = [&srv, &rb]() -> awaitable<void> {
      std::vector<asio::io_context*> ctxs;
      for (unsigned t = 0; t < srv.shards().size(); ++t) ctxs.push_back(&srv.shards().at(t).ctx());
      co_await AwaitAll(ctxs, [&](size_t t) {
        srv.shards().at(static_cast<unsigned>(t)).shard().stats() = store::ShardStats{};
        srv.thread_stats(static_cast<unsigned>(t)) = ThreadStats{};
        // commandstats, errorstats, latencystats; not the slowlog (Redis keeps it).
        ResetLocalStats(/*include_shared=*/t == 0);
      });
      rb.Ok();
    };
  } else if (sub == "rewrite") {
    const std::string& path = cfg.startup().config_file;
    if (path.empty()) {
      c.reply.Error("ERR The server is running without a config file");
      return;
    }
    ConfigRewriteInput in;
    in.values = cfg.Get("*");
    in.defaults = ConfigDefaults();
    // The users live in the configuration unless an ACL file holds them (Redis's rule).
    if (cfg.startup().aclfile.empty()) {
      in.users.emplace();
      for (const auto& u : acl::Registry::Global().All()) in.users->push_back(u->name + " " + u->Describe());
    }
    ReplicationSnapshot r = c.server.repl_state().Get();
    if (r.is_replica) in.replicaof = r.master_host + " " + std::to_string(r.master_port);
    if (auto err = RewriteConfigFile(path, in)) {
      LOG_WARNING("CONFIG REWRITE failed: %s", err->c_str());
      c.reply.Error("ERR " + *err);
      return;
    }
    LOG_NOTICE("CONFIG REWRITE executed with success.");
    c.reply.Ok();
  } else if (sub == "help") {
    ReplyHelp(c, {"CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                  "GET <pattern>", "    Return parameters matching the glob-like <pattern> and their values.",
                  "SET <directive> <value>", "    Set the configuration <directive> to <value>.", "RESETSTAT",
                  "    Reset statistics reported by the INFO command.", "REWRITE",
                  "    Rewrite the configuration file.", "HELP", "    Print this help."});
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try CONFIG HELP.");
  }
}

// ---- COMMAND ----

// One row of COMMAND / COMMAND INFO in Redis 7.0's shape: name, arity, flags, first key,
// last key, step, ACL categories, tips, key specs, subcommands (each a row of the same
// shape, named "container|sub"). Darter reports no tips and no key specs.
void ReplyCommandRow(resp::ReplyBuilder& rb, std::string_view name, int arity, uint32_t flag_bits,
                     const int (&keys)[3], uint32_t acl_categories, const store::CommandSpec* container) {
  rb.ArrayHeader(10);
  rb.Bulk(name);
  rb.Integer(arity);
  std::vector<const char*> flags;
  if (flag_bits & store::kCmdWrite) flags.push_back("write");
  if (flag_bits & store::kCmdReadOnly) flags.push_back("readonly");
  if (flag_bits & store::kCmdDenyOom) flags.push_back("denyoom");
  if (flag_bits & store::kCmdAdmin) flags.push_back("admin");
  if (flag_bits & store::kCmdPubSub) flags.push_back("pubsub");
  if (flag_bits & store::kCmdNoScript) flags.push_back("noscript");
  if (flag_bits & store::kCmdBlocking) flags.push_back("blocking");
  if (flag_bits & store::kCmdLoading) flags.push_back("loading");
  if (flag_bits & store::kCmdStale) flags.push_back("stale");
  if (flag_bits & store::kCmdSkipMonitor) flags.push_back("skip_monitor");
  if (flag_bits & store::kCmdNoAuth) flags.push_back("no_auth");
  if (flag_bits & store::kCmdFast) flags.push_back("fast");
  rb.SetHeader(flags.size());
  for (const char* f : flags) rb.SimpleString(f);
  for (int k : keys) rb.Integer(k);
  std::vector<std::string_view> categories = store::AclCategoryNames(acl_categories);
  rb.SetHeader(categories.size());
  for (std::string_view cat : categories) rb.SimpleString(cat);
  rb.SetHeader(0);    // tips
  rb.ArrayHeader(0);  // key specs
  if (!container) {
    rb.ArrayHeader(0);
    return;
  }
  rb.ArrayHeader(container->subcommands.size());
  for (const store::SubcommandSpec& sub : container->subcommands)
    ReplyCommandRow(rb, container->name + "|" + sub.name, sub.arity, sub.flags,
                    {sub.first_key, sub.last_key, sub.key_step}, sub.acl_categories, nullptr);
}

void ReplyCommandInfo(resp::ReplyBuilder& rb, const store::CommandSpec& s) {
  if (s.container) ReplyCommandRow(rb, s.name, s.arity, 0, {0, 0, 0}, s.acl_categories, &s);
  else ReplyCommandRow(rb, s.name, s.arity, s.flags, {s.first_key, s.last_key, s.key_step}, s.acl_categories, &s);
}

void CommandCommand(ConnectionContext& c) {
  auto& table = store::CommandTable::Global();
  if (c.args.size() == 1) {
    c.reply.ArrayHeader(table.all().size());
    for (auto& s : table.all()) ReplyCommandInfo(c.reply, *s);
    return;
  }
  std::string sub = ToLower(c.args[1]);
  static const std::pair<const char*, int> kArity[] = {{"count", 2}, {"docs", -2}, {"getkeys", -4},
                                                       {"info", -2}, {"list", -2}, {"help", 2}};
  for (auto& [name, arity] : kArity)
    if (sub == name && !SubcommandArityOk(c, "command", arity)) return;
  if (sub == "count") {
    c.reply.Integer(static_cast<int64_t>(table.all().size()));
  } else if (sub == "info") {
    if (c.args.size() == 2) {
      c.reply.ArrayHeader(table.all().size());
      for (auto& s : table.all()) ReplyCommandInfo(c.reply, *s);
      return;
    }
    c.reply.ArrayHeader(c.args.size() - 2);
    for (size_t j = 2; j < c.args.size(); ++j) {
      const store::CommandSpec* s = table.Find(c.args[j]);
      if (s) ReplyCommandInfo(c.reply, *s);
      else c.reply.NullArray();
    }
  } else if (sub == "list") {
    // As Redis 7.0: every command, each container followed by its "container|sub" names
    // (COMMAND COUNT counts only the commands).
    size_t n = 0;
    for (auto& s : table.all()) n += 1 + s->subcommands.size();
    c.reply.ArrayHeader(n);
    for (auto& s : table.all()) {
      c.reply.Bulk(s->name);
      for (const store::SubcommandSpec& su : s->subcommands) c.reply.Bulk(s->name + "|" + su.name);
    }
  } else if (sub == "docs") {
    c.reply.MapHeader(0);
  } else if (sub == "getkeys") {
    const store::CommandSpec* s = table.Find(c.args[2]);
    store::ArgList cmd = c.args.subspan(2);
    if (!s) {
      c.reply.Error("ERR Invalid command specified");
      return;
    }
    if (!s->ArityOk(cmd.size())) {
      c.reply.Error("ERR Invalid number of arguments specified for command");
      return;
    }
    std::vector<size_t> keys = s->KeyIndices(cmd);
    if (keys.empty()) {
      c.reply.Error("ERR The command has no key arguments");
      return;
    }
    c.reply.ArrayHeader(keys.size());
    for (size_t i : keys) c.reply.Bulk(cmd[i]);
  } else if (sub == "help") {
    ReplyHelp(c, {"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "(no subcommand)",
                  "    Return details about all Redis commands.", "COUNT",
                  "    Return the total number of commands in this Redis server.", "LIST",
                  "    Return a list of all commands in this Redis server.", "INFO [<command-name> ...]",
                  "    Return details about multiple Redis commands.", "GETKEYS <full-command>",
                  "    Return the keys from a full Redis command.", "HELP", "    Print this help."});
  } else {
    c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try COMMAND HELP.");
  }
}

// ---- SAVE, LASTSAVE ----

void SaveCommand(ConnectionContext& c) {
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb]() -> awaitable<void> {
    std::string path = RdbPath(srv);
    rdb::Status st = co_await SaveRdbFile(srv, path);
    if (st.ok()) rb.Ok();
    else rb.Error(st.message() == "Background save already in progress" ? "ERR " + st.message() : "ERR");
  };
}

void BgsaveCommand(ConnectionContext& c) {
  if (c.args.size() > 2 || (c.args.size() == 2 && !EqualsIgnoreCase(c.args[1], "schedule"))) {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  if (!c.server.persistence().StartBackgroundSave(RdbPath(c.server))) {
    c.reply.Error("ERR Background save already in progress");
    return;
  }
  c.reply.SimpleString("Background saving started");
}

void LastSaveCommand(ConnectionContext& c) { c.reply.Integer(c.server.last_save_time()); }

// ---- SHUTDOWN ----

// SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], Redis 7.0's flags. Darter does not wait
// for lagging replicas before it stops (Redis 7.0 waits up to shutdown-timeout), so NOW
// changes nothing and ABORT never finds a shutdown in progress. FORCE stops the server
// even when its final save fails.
void ShutdownCommand(ConnectionContext& c) {
  bool save = false, nosave = false, force = false, abort = false;
  for (size_t j = 1; j < c.args.size(); ++j) {
    std::string_view a = c.args[j];
    if (EqualsIgnoreCase(a, "nosave")) nosave = true;
    else if (EqualsIgnoreCase(a, "save")) save = true;
    else if (EqualsIgnoreCase(a, "force")) force = true;
    else if (EqualsIgnoreCase(a, "abort")) abort = true;
    else if (!EqualsIgnoreCase(a, "now")) {
      c.reply.Error(store::errors::kSyntax);
      return;
    }
  }
  if ((abort && c.args.size() != 2) || (save && nosave)) {
    c.reply.Error(store::errors::kSyntax);
    return;
  }
  if (abort) {
    c.reply.Error("ERR No shutdown in progress.");
    return;
  }
  // Like Redis, no reply: the connection closes when the server exits.
  Server& srv = c.server;
  if (!save && !nosave && srv.persistence().save_schedule_set()) save = true;  // Redis's default
  Connection& conn = c.conn;
  resp::ReplyBuilder& rb = c.reply;
  if (!save) {
    srv.persistence().set_shutdown_decided();
    conn.close_after_reply = true;
    srv.RequestShutdown();
    return;
  }
  c.then = [&srv, &conn, &rb, force]() -> awaitable<void> {
    rdb::Status st = co_await SaveRdbFileWhenIdle(srv, RdbPath(srv));
    if (!st.ok()) {
      if (!force) {
        rb.Error("ERR Errors trying to SHUTDOWN. Check logs.");
        co_return;
      }
      LOG_WARNING("Error trying to save the DB: %s; exiting anyway (SHUTDOWN FORCE)", st.message().c_str());
    }
    srv.persistence().set_shutdown_decided();
    conn.close_after_reply = true;
    srv.RequestShutdown();
  };
}

// ---- REPLICAOF, ROLE ----

void ReplicaOfCommand(ConnectionContext& c) {
  if (EqualsIgnoreCase(c.args[1], "no") && EqualsIgnoreCase(c.args[2], "one")) {
    c.server.ReplicaOfNoOne();
    c.reply.Ok();
    return;
  }
  if (c.conn.is_master) {
    c.reply.Error("ERR Command is not valid when client is a replica.");
    return;
  }
  auto port = store::ParseInt64(c.args[2]);
  if (!port || *port < 0 || *port > 65535) {
    c.reply.Error("ERR Invalid master port");
    return;
  }
  ReplicationSnapshot r = c.server.repl_state().Get();
  if (r.is_replica && EqualsIgnoreCase(r.master_host, c.args[1]) && r.master_port == *port) {
    c.reply.SimpleString("OK Already connected to specified master");
    return;
  }
  c.server.ReplicaOf(std::string(c.args[1]), static_cast<int>(*port));
  c.reply.Ok();
}

void RoleCommand(ConnectionContext& c) {
  ReplicationSnapshot r = c.server.repl_state().Get();
  if (r.is_replica) {
    c.reply.ArrayHeader(5);
    c.reply.Bulk("slave");
    c.reply.Bulk(r.master_host);
    c.reply.Integer(r.master_port);
    c.reply.Bulk(r.link_state);
    c.reply.Integer(r.link_up ? r.repl_offset : -1);
  } else {
    c.server.repl_master().RoleReply(c.reply);
  }
}

// ---- INFO ----

struct ShardInfo {
  store::ShardStats stats;
  std::vector<std::pair<size_t, size_t>> keys_expires;  // per db
  std::vector<int64_t> avg_ttl_ms;                      // per db
  ThreadStats thread;
  ThreadMemory memory;  // INFO memory's per-thread figures (memory_family.h)
  CommandStatsSet commands;  // commandstats / errorstats / latencystats (command_stats.h)
};

// What the INFO sections read, gathered once after every shard thread reported.
struct InfoInputs {
  Server& srv;
  std::vector<ShardInfo> shards;  // per shard thread
  store::ShardStats total;        // the shards' counters, summed
  ThreadStats threads;            // the threads' counters, summed
  int64_t now;
  ServerOptions opts;
  CommandStatsSet commands;       // the threads' command counters, merged
};

void InfoServer(std::ostringstream& o, const InfoInputs& in) {
  Server& srv = in.srv;
  utsname u;
  uname(&u);
  o << "redis_version:" << kRedisVersion << "\r\n"
    << "redis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\n"
    << "os:" << u.sysname << " " << u.release << " " << u.machine << "\r\n"
    << "arch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\n"
    << "atomicvar_api:c11-builtin\r\ngcc_version:" << __GNUC__ << "." << __GNUC_MINOR__ << "."
    << __GNUC_PATCHLEVEL__ << "\r\n"
    << "process_id:" << getpid() << "\r\nprocess_supervised:no\r\n"
    << "run_id:" << srv.run_id() << "\r\n"
    << "tcp_port:" << srv.bound_port() << "\r\n"
    << "server_time_usec:" << in.now * 1000 << "\r\n"
    << "uptime_in_seconds:" << (in.now - srv.start_time_ms()) / 1000 << "\r\n"
    << "uptime_in_days:" << (in.now - srv.start_time_ms()) / 86400000 << "\r\n"
    << "hz:10\r\nconfigured_hz:10\r\nlru_clock:" << (store::LruClock() & 0xFFFFFF) << "\r\n"
    << "executable:\r\nconfig_file:\r\nio_threads_active:0\r\n"
    << "darter_version:" << kDarterVersion << "\r\n"
    << "thread_count:" << in.shards.size() << "\r\n";
}

void InfoClients(std::ostringstream& o, const InfoInputs& in) {
  o << "connected_clients:" << in.srv.connected_clients().load() << "\r\n"
    << "cluster_connections:0\r\nmaxclients:" << in.opts.maxclients << "\r\n"
    << "client_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\n"
    << "blocked_clients:" << BlockedClientCount() << "\r\ntracking_clients:" << TrackingClientCount(in.srv)
    << "\r\nclients_in_timeout_table:0\r\n";
}

void InfoMemory(std::ostringstream& o, const InfoInputs& in) {
  std::vector<ThreadMemory> threads;
  for (const ShardInfo& i : in.shards) threads.push_back(i.memory);
  o << InfoMemoryLines(ComputeMemoryOverhead(in.srv, threads), in.opts);
}

void InfoPersistence(std::ostringstream& o, const InfoInputs& in) { o << in.srv.persistence().InfoLines(); }

void InfoStats(std::ostringstream& o, const InfoInputs& in) {
  Server& srv = in.srv;
  o << "total_connections_received:" << srv.total_connections() << "\r\n"
    << "total_commands_processed:" << in.threads.commands_processed << "\r\n"
    << "instantaneous_ops_per_sec:0\r\n"
    << "total_net_input_bytes:" << in.threads.net_input_bytes << "\r\n"
    << "total_net_output_bytes:" << in.threads.net_output_bytes << "\r\n"
    << "rejected_connections:" << srv.rejected_connections() << "\r\n"
    << srv.repl_master().SyncStats()
    << "replica_full_syncs:" << srv.repl_state().Get().full_syncs << "\r\n"
    << "replica_partial_syncs:" << srv.repl_state().Get().partial_syncs << "\r\n"
    << "expired_keys:" << in.total.expired_keys << "\r\nexpired_stale_perc:0.00\r\n"
    << "expired_time_cap_reached_count:0\r\n"
    << "evicted_keys:" << in.total.evicted_keys << "\r\n"
    << "keyspace_hits:" << in.total.keyspace_hits << "\r\nkeyspace_misses:" << in.total.keyspace_misses << "\r\n"
    << PubSubInfoStats(srv) << "latest_fork_usec:0\r\ntotal_forks:0\r\n" << TrackingInfoStats(srv)
    // Darter has no AOF or replica-side error replies, Redis's "unexpected" ones.
    << "unexpected_error_replies:0\r\ntotal_error_replies:" << in.commands.total_error_replies << "\r\n";
}

// The replica's side of the Replication section: its link to its master.
void InfoReplicaLink(std::ostringstream& o, const ReplicationSnapshot& r, const InfoInputs& in) {
  int64_t now = in.now;
  o << "role:slave\r\nmaster_host:" << r.master_host << "\r\nmaster_port:" << r.master_port << "\r\n"
    << "master_link_status:" << (r.link_up ? "up" : "down") << "\r\n"
    << "master_last_io_seconds_ago:" << (r.last_io_ms ? (now - r.last_io_ms) / 1000 : -1) << "\r\n"
    << "master_sync_in_progress:" << (r.sync_in_progress ? 1 : 0) << "\r\n"
    << "master_link_state:" << r.link_state << "\r\n"
    << "master_sync_protocol:" << r.protocol << "\r\n";
  if (r.protocol == "multi-flow")
    o << "master_flows:" << r.flows << "\r\nmaster_flow_compression:" << r.flow_compression << "\r\n";
  o << "slave_read_repl_offset:" << r.read_offset << "\r\n"
    << "slave_repl_offset:" << r.repl_offset << "\r\n";
  if (r.sync_in_progress) {
    int64_t left = r.sync_total_bytes >= 0 ? r.sync_total_bytes - r.sync_read_bytes : -1;
    double perc = r.sync_total_bytes > 0 ? 100.0 * r.sync_read_bytes / r.sync_total_bytes : 0.0;
    char pbuf[32];
    snprintf(pbuf, sizeof pbuf, "%.2f", perc);
    o << "master_sync_total_bytes:" << r.sync_total_bytes << "\r\n"
      << "master_sync_read_bytes:" << r.sync_read_bytes << "\r\n"
      << "master_sync_left_bytes:" << left << "\r\n"
      << "master_sync_perc:" << pbuf << "\r\n"
      << "master_sync_last_io_seconds_ago:" << (r.sync_last_io_ms ? (now - r.sync_last_io_ms) / 1000 : 0)
      << "\r\n"
      << "master_sync_keys:" << r.sync_keys << "\r\n";
  }
  if (r.full_syncs)
    o << "master_sync_last_keys:" << r.last_sync_keys << "\r\nmaster_sync_last_bytes:" << r.last_sync_bytes
      << "\r\nmaster_sync_last_ms:" << r.last_sync_ms << "\r\n";
  if (!r.link_up)
    o << "master_link_down_since_seconds:" << (r.link_down_since_ms ? (now - r.link_down_since_ms) / 1000 : -1)
      << "\r\n";
  o << "slave_priority:" << in.opts.replica_priority << "\r\nslave_read_only:" << (in.opts.replica_read_only ? 1 : 0)
    << "\r\nreplica_announced:1\r\n";
  if (!r.last_error.empty()) o << "master_last_error:" << r.last_error << "\r\n";
}

void InfoReplication(std::ostringstream& o, const InfoInputs& in) {
  ReplicationSnapshot r = in.srv.repl_state().Get();
  if (r.is_replica) InfoReplicaLink(o, r, in);
  else o << "role:master\r\n";
  // This server's replicas, stream and backlog (a replica lists its own replicas too).
  o << in.srv.repl_master().InfoFields();
}

void InfoCpu(std::ostringstream& o, const InfoInputs&) {
  rusage self;
  getrusage(RUSAGE_SELF, &self);
  char buf[256];
  snprintf(buf, sizeof buf, "used_cpu_sys:%.6f\r\nused_cpu_user:%.6f\r\n",
           self.ru_stime.tv_sec + self.ru_stime.tv_usec / 1e6, self.ru_utime.tv_sec + self.ru_utime.tv_usec / 1e6);
  o << buf;
}

void InfoKeyspace(std::ostringstream& o, const InfoInputs& in) {
  for (unsigned d = 0; d < in.srv.db_count(); ++d) {
    size_t keys = 0, expires = 0;
    // avg_ttl: each shard's estimate weighted by how many keys with a TTL it holds.
    long double ttl_weighted = 0;
    size_t ttl_weight = 0;
    for (auto& i : in.shards) {
      keys += i.keys_expires[d].first;
      expires += i.keys_expires[d].second;
      if (i.avg_ttl_ms[d] > 0) {
        ttl_weighted += static_cast<long double>(i.avg_ttl_ms[d]) * i.keys_expires[d].second;
        ttl_weight += i.keys_expires[d].second;
      }
    }
    const int64_t avg_ttl = ttl_weight ? static_cast<int64_t>(ttl_weighted / ttl_weight) : 0;
    if (keys) o << "db" << d << ":keys=" << keys << ",expires=" << expires << ",avg_ttl=" << avg_ttl << "\r\n";
  }
}

void InfoCommandstats(std::ostringstream& o, const InfoInputs& in) { o << InfoCommandStats(in.commands); }
void InfoErrorstats(std::ostringstream& o, const InfoInputs& in) { o << InfoErrorStats(in.commands); }
void InfoLatencystats(std::ostringstream& o, const InfoInputs& in) { o << InfoLatencyStats(in.commands); }

struct InfoSection {
  const char* name;   // as INFO's arguments name it
  const char* title;  // its "# Title" line
  void (*write)(std::ostringstream&, const InfoInputs&);
  bool in_default = true;  // false: only when named, or with "all" / "everything"
};

// In the order INFO prints them.
constexpr InfoSection kInfoSections[] = {
    {"server", "Server", InfoServer},
    {"clients", "Clients", InfoClients},
    {"memory", "Memory", InfoMemory},
    {"persistence", "Persistence", InfoPersistence},
    {"stats", "Stats", InfoStats},
    {"replication", "Replication", InfoReplication},
    {"cpu", "CPU", InfoCpu},
    {"commandstats", "Commandstats", InfoCommandstats, false},
    {"errorstats", "Errorstats", InfoErrorstats},
    {"latencystats", "Latencystats", InfoLatencystats, false},
    {"keyspace", "Keyspace", InfoKeyspace},
};

// The INFO text for `sections` (lower-cased arguments), as Redis 7.0 selects them: none
// or "default" the default sections, "all" and "everything" every section, plus any
// section named.
std::string RenderInfo(const std::vector<std::string>& sections, const InfoInputs& in) {
  auto named = [&](const char* s) { return std::find(sections.begin(), sections.end(), s) != sections.end(); };
  const bool all = named("all") || named("everything");
  const bool defaults = sections.empty() || named("default");
  std::ostringstream o;
  for (const InfoSection& s : kInfoSections) {
    if (!all && !(defaults && s.in_default) && !named(s.name)) continue;
    if (o.tellp() > 0) o << "\r\n";
    o << "# " << s.title << "\r\n";
    s.write(o, in);
  }
  return o.str();
}

void InfoCommand(ConnectionContext& c) {
  std::vector<std::string> sections;
  for (size_t j = 1; j < c.args.size(); ++j) sections.push_back(ToLower(c.args[j]));
  Server& srv = c.server;
  resp::ReplyBuilder& rb = c.reply;
  c.then = [&srv, &rb, sections]() -> awaitable<void> { rb.Verbatim(co_await CollectInfo(srv, sections)); };
}

}  // namespace

awaitable<std::string> CollectInfo(Server& srv, std::vector<std::string> sections) {
  unsigned n = srv.shards().size();
  std::vector<ShardInfo> infos(n);
  std::vector<asio::io_context*> ctxs;
  for (unsigned t = 0; t < n; ++t) ctxs.push_back(&srv.shards().at(t).ctx());
  co_await AwaitAll(ctxs, [&](size_t t) {
    store::Shard& shard = srv.shards().at(static_cast<unsigned>(t)).shard();
    infos[t].stats = shard.stats();
    infos[t].thread = srv.thread_stats(static_cast<unsigned>(t));
    infos[t].memory = CollectThreadMemory(srv, static_cast<unsigned>(t));
    infos[t].commands = SnapshotLocalStats(/*include_shared=*/t == 0);
    for (unsigned d = 0; d < shard.db_count(); ++d) {
      infos[t].keys_expires.emplace_back(shard.db(d).size(), shard.db(d).expire_count());
      infos[t].avg_ttl_ms.push_back(shard.db(d).avg_ttl_ms());
    }
  });
  InfoInputs in{srv, std::move(infos), {}, {}, store::UnixTimeMs(), srv.config().Snapshot(), {}};
  for (auto& i : in.shards) {
    in.commands.MergeFrom(i.commands);
    in.total.expired_keys += i.stats.expired_keys;
    in.total.keyspace_hits += i.stats.keyspace_hits;
    in.total.keyspace_misses += i.stats.keyspace_misses;
    in.total.evicted_keys += i.stats.evicted_keys;
    in.threads.commands_processed += i.thread.commands_processed;
    in.threads.net_input_bytes += i.thread.net_input_bytes;
    in.threads.net_output_bytes += i.thread.net_output_bytes;
  }
  co_return RenderInfo(sections, in);
}

void RegisterServerFamily(store::CommandTable& t) {
  using namespace store;
  GetObserverHooks().dataset_frozen = DatasetFrozenByPause;  // CLIENT PAUSE (client_pause.h)
  InstallMetricsHttp();                                      // GET /metrics on the client ports
  constexpr uint32_t kAnyState = kCmdLoading | kCmdStale;  // also while loading or with a broken link
  constexpr uint32_t kAdmin = kCmdAdmin | kCmdNoScript;
  CommandFamily family(t, 0);
  // PING is not a stale command in Redis (a replica that must not serve stale data
  // answers it -MASTERDOWN); unlike Redis it answers while loading, which health checks
  // and darter-migrate's target probe rely on.
  family << CommandRow("ping", -1, kCmdFast | kCmdLoading).Connection(PingCommand).Acl(kAclConnection)
         << CommandRow("echo", 2, kCmdFast | kAnyState).Connection(EchoCommand).Acl(kAclConnection)
         << CommandRow("quit", -1, kCmdNoAuth | kCmdFast | kAnyState).Connection(QuitCommand).Acl(kAclConnection)
         << CommandRow("time", 1, kCmdFast | kAnyState | kCmdRandom).Connection(TimeCommand)
         << CommandRow("auth", -2, kCmdNoAuth | kCmdNoScript | kAnyState | kCmdFast)
                .Connection(AuthCommand)
                .Acl(kAclConnection)
         << CommandRow("hello", -1, kCmdNoAuth | kCmdNoScript | kAnyState | kCmdFast)
                .Connection(HelloCommand)
                .Acl(kAclConnection)
         << CommandRow("select", 2, kAnyState | kCmdFast).Connection(SelectCommand).Acl(kAclConnection)
         << CommandRow("client", -2, kCmdNoScript | kAnyState)
                .Connection(ClientCommand)
                .Acl(kAclConnection)
                .Container()
                .Subcommands({Sub("id", 2, kCmdNoScript | kAnyState), Sub("getname", 2, kCmdNoScript | kAnyState),
                              Sub("setname", 3, kCmdNoScript | kAnyState), Sub("info", 2, kCmdNoScript | kAnyState),
                              Sub("list", -2, kAdmin | kAnyState), Sub("kill", -3, kAdmin | kAnyState),
                              Sub("no-evict", 3, kAdmin | kAnyState), Sub("help", 2, kAnyState),
                              Sub("unblock", -3, kAdmin | kAnyState), Sub("tracking", -3, kCmdNoScript | kAnyState),
                              Sub("caching", 3, kCmdNoScript | kAnyState),
                              Sub("getredir", 2, kCmdNoScript | kAnyState),
                              Sub("trackinginfo", 2, kCmdNoScript | kAnyState),
                              Sub("reply", 3, kCmdNoScript | kAnyState), Sub("pause", -3, kAdmin | kAnyState),
                              Sub("unpause", 2, kAdmin | kAnyState)})
         << CommandRow("config", -2, kAdmin | kAnyState)
                .Connection(ConfigCommand)
                .Container()
                .Subcommands({Sub("get", -3, kAdmin | kAnyState), Sub("set", -4, kAdmin | kAnyState),
                              Sub("resetstat", 2, kAdmin | kAnyState), Sub("rewrite", 2, kAdmin | kAnyState),
                              Sub("help", 2, kAnyState)})
         // COMMAND runs without a subcommand too, so it keeps its own categories.
         << CommandRow("command", -1, kAnyState)
                .Connection(CommandCommand)
                .Acl(kAclConnection)
                .Subcommands({Sub("count", 2, kAnyState), Sub("docs", -2, kAnyState), Sub("getkeys", -4, kAnyState),
                              Sub("info", -2, kAnyState), Sub("list", -2, kAnyState), Sub("help", 2, kAnyState)})
         << CommandRow("info", -1, kAnyState).Connection(InfoCommand).Acl(kAclDangerous)
         << CommandRow("save", 1, kAdmin | kCmdNoMulti).Connection(SaveCommand)
         << CommandRow("bgsave", -1, kAdmin).Connection(BgsaveCommand)
         << CommandRow("lastsave", 1, kAnyState | kCmdFast | kCmdRandom)
                .Connection(LastSaveCommand)
                .Acl(kAclAdmin | kAclDangerous)
         << CommandRow("replicaof", 3, kAdmin | kCmdStale).Connection(ReplicaOfCommand)
         << CommandRow("slaveof", 3, kAdmin | kCmdStale).Connection(ReplicaOfCommand)
         << CommandRow("role", 1, kCmdNoScript | kAnyState | kCmdFast)
                .Connection(RoleCommand)
                .Acl(kAclAdmin | kAclDangerous)
         << CommandRow("shutdown", -1, kAdmin | kAnyState | kCmdNoMulti).Connection(ShutdownCommand);
}

}  // namespace darter::server
