// The ACL command. Runs on the connection's thread; the user table is the registry's
// (acl_registry.h), whose every call is thread-safe.
#include "server/access/acl_family.h"

#include <sys/random.h>

#include <algorithm>
#include <cinttypes>

#include "server/access/acl_admission.h"
#include "server/acl/acl_commands.h"
#include "server/acl/acl_registry.h"
#include "server/core/connection.h"
#include "server/core/cross_thread.h"
#include "server/core/log.h"
#include "server/core/server.h"
#include "server/core/shard_set.h"
#include "server/pubsub/pubsub_registry.h"
#include "store/errors.h"
#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server {

namespace {

using store::ConnectionContext;
using store::EqualsIgnoreCase;

constexpr const char* kNoAclFile =
    "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER "
    "command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store "
    "users in the Redis configuration.";

// Closes the clients authenticated as one of `identities`, each on its own thread; the
// calling client after its reply (Redis's ACLFreeUserAndKillClients).
void DisconnectUsers(ConnectionContext& c, std::vector<uint64_t> identities) {
  if (identities.empty()) return;
  Server& srv = c.server;
  Connection* self = &c.conn;
  auto prev = std::move(c.then);
  c.then = [&srv, self, ids = std::move(identities), prev]() -> awaitable<void> {
    if (prev) co_await prev();
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < srv.shards().size(); ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    bool close_self = false;
    co_await AwaitAll(ctxs, [&](size_t t) {
      for (auto& [id, conn] : srv.connections(static_cast<unsigned>(t))) {
        if (std::find(ids.begin(), ids.end(), conn->acl.identity()) == ids.end()) continue;
        if (conn.get() == self) close_self = true;
        else conn->Close();
      }
    });
    if (close_self) self->close_after_reply = true;
  };
}

// Redis's ACLKillPubsubClientsIfNeeded: when SETUSER takes channels away from a user,
// its subscribed clients whose channels or patterns the new rules no longer allow are
// disconnected. Nothing is checked when some selector allows every channel, or when every
// channel pattern the user had is still there (so, as in Redis, going from allchannels
// to fewer channels disconnects nobody: the old user had no patterns to lose).
void DisconnectRevokedSubscribers(ConnectionContext& c, const acl::User& before, const acl::User& after) {
  std::vector<std::string> upcoming;
  for (const acl::Selector& s : after.selectors) {
    if (s.all_channels) return;
    upcoming.insert(upcoming.end(), s.channels.begin(), s.channels.end());
  }
  bool kept = true;
  for (const acl::Selector& s : before.selectors)
    for (const std::string& ch : s.channels) kept = kept && std::find(upcoming.begin(), upcoming.end(), ch) != upcoming.end();
  if (kept) return;
  Server& srv = c.server;
  Connection* self = &c.conn;
  const uint64_t identity = after.identity;
  auto prev = std::move(c.then);
  c.then = [&srv, self, identity, upcoming = std::move(upcoming), prev]() -> awaitable<void> {
    if (prev) co_await prev();
    auto allowed = [&](std::string_view channel, bool literal) {
      for (const std::string& p : upcoming)
        if (literal ? p == channel : store::GlobMatch(p, channel)) return true;
      return false;
    };
    std::vector<asio::io_context*> ctxs;
    for (unsigned t = 0; t < srv.shards().size(); ++t) ctxs.push_back(&srv.shards().at(t).ctx());
    bool close_self = false;
    co_await AwaitAll(ctxs, [&](size_t t) {
      for (auto& [id, conn] : srv.connections(static_cast<unsigned>(t))) {
        if (conn->acl.identity() != identity || !conn->subscriber || !conn->subscriber->Active()) continue;
        const Subscriber& sub = *conn->subscriber;
        bool revoked = false;
        for (const std::string& p : sub.patterns) revoked = revoked || !allowed(p, true);
        for (const std::string& ch : sub.channels) revoked = revoked || !allowed(ch, false);
        for (const std::string& ch : sub.shard_channels) revoked = revoked || !allowed(ch, false);
        if (!revoked) continue;
        if (conn.get() == self) close_self = true;
        else conn->Close();
      }
    });
    if (close_self) self->close_after_reply = true;
  };
}

void ReplySubcommandSyntax(ConnectionContext& c) {
  c.reply.Error("ERR unknown subcommand or wrong number of arguments for '" + std::string(c.args[1].substr(0, 128)) +
                "'. Try ACL HELP.");
}

void AclSetUser(ConnectionContext& c) {
  std::string_view name = c.args[2];
  for (char ch : name) {
    if (std::isspace(static_cast<unsigned char>(ch)) || ch == 0) {
      c.reply.Error("ERR Usernames can't contain spaces or null characters");
      return;
    }
  }
  size_t bad = 0;
  auto ops = acl::MergeSelectorArguments(c.args.subspan(3), &bad);
  if (!ops) {
    c.reply.Error("ERR Unmatched parenthesis in acl selector starting at '" + std::string(c.args[3 + bad]) + "'.");
    return;
  }
  std::shared_ptr<const acl::User> before, after;
  if (auto err = acl::Registry::Global().SetUser(name, *ops, &before, &after)) {
    c.reply.Error("ERR " + *err);
    return;
  }
  c.reply.Ok();
  if (before) DisconnectRevokedSubscribers(c, *before, *after);
}

void AclDelUser(ConnectionContext& c) {
  std::vector<std::string_view> names(c.args.begin() + 2, c.args.end());
  if (std::find(names.begin(), names.end(), "default") != names.end()) {
    c.reply.Error("ERR The 'default' user cannot be removed");
    return;
  }
  std::vector<uint64_t> removed = acl::Registry::Global().DelUsers(names);
  c.reply.Integer(static_cast<int64_t>(removed.size()));
  DisconnectUsers(c, std::move(removed));
}

void ReplySelector(resp::ReplyBuilder& rb, const acl::Selector& s) {
  rb.Bulk("commands");
  rb.Bulk(acl::DescribeCommandRules(s));
  rb.Bulk("keys");
  rb.Bulk(acl::DescribeKeys(s));
  rb.Bulk("channels");
  rb.Bulk(acl::DescribeChannels(s));
}

void AclGetUser(ConnectionContext& c) {
  auto u = acl::Registry::Global().Find(c.args[2]);
  if (!u) {
    c.reply.Null();
    return;
  }
  resp::ReplyBuilder& rb = c.reply;
  rb.MapHeader(6);
  rb.Bulk("flags");
  std::vector<const char*> flags;
  flags.push_back(u->enabled ? "on" : "off");
  if (u->nopass) flags.push_back("nopass");
  if (u->skip_sanitize_payload) flags.push_back("skip-sanitize-payload");
  if (u->sanitize_payload) flags.push_back("sanitize-payload");
  rb.SetHeader(flags.size());
  for (const char* f : flags) rb.Bulk(f);
  rb.Bulk("passwords");
  rb.ArrayHeader(u->passwords.size());
  for (const std::string& p : u->passwords) rb.Bulk(p);
  ReplySelector(rb, u->selectors[0]);
  rb.Bulk("selectors");
  rb.ArrayHeader(u->selectors.size() - 1);
  for (size_t i = 1; i < u->selectors.size(); ++i) {
    rb.MapHeader(3);
    ReplySelector(rb, u->selectors[i]);
  }
}

void AclList(ConnectionContext& c, bool names_only) {
  auto users = acl::Registry::Global().All();
  c.reply.ArrayHeader(users.size());
  for (const auto& u : users) c.reply.Bulk(names_only ? u->name : "user " + u->name + " " + u->Describe());
}

void AclCat(ConnectionContext& c) {
  static constexpr const char* kNames[] = {"keyspace", "read",  "write", "set",       "sortedset",  "list",
                                           "hash",     "string", "bitmap", "hyperloglog", "geo",     "stream",
                                           "pubsub",   "admin", "fast",  "slow",      "blocking",   "dangerous",
                                           "connection", "transaction", "scripting"};
  if (c.args.size() == 2) {
    c.reply.ArrayHeader(std::size(kNames));
    for (const char* n : kNames) c.reply.Bulk(n);
    return;
  }
  uint32_t flag = 0;
  for (size_t i = 0; i < std::size(kNames); ++i)
    if (EqualsIgnoreCase(c.args[2], kNames[i])) flag = 1u << i;
  if (!flag) {
    c.reply.Error("ERR Unknown category '" + std::string(c.args[2].substr(0, 128)) + "'");
    return;
  }
  const acl::AclCommandIndex& index = acl::AclCommandIndex::Get();
  std::vector<std::string_view> names;
  for (size_t id = 0; id < index.size(); ++id)
    if (index.at(id).categories & flag) names.push_back(index.at(id).fullname);
  c.reply.ArrayHeader(names.size());
  for (std::string_view n : names) c.reply.Bulk(n);
}

void AclGenPass(ConnectionContext& c) {
  int64_t bits = 256;
  if (c.args.size() == 3) {
    auto v = store::ParseInt64(c.args[2]);
    if (!v) {
      c.reply.Error(store::errors::kNotInteger);
      return;
    }
    bits = *v;
  }
  if (bits <= 0 || bits > 4096) {
    c.reply.Error(
        "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
    return;
  }
  const size_t chars = static_cast<size_t>((bits + 3) / 4);
  std::string raw((chars + 1) / 2, '\0');
  size_t got = 0;
  while (got < raw.size()) {
    ssize_t n = getrandom(raw.data() + got, raw.size() - got, 0);
    if (n > 0) got += static_cast<size_t>(n);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string pass;
  for (unsigned char b : raw) {
    pass += kHex[b >> 4];
    pass += kHex[b & 0xf];
  }
  pass.resize(chars);
  c.reply.Bulk(pass);
}

void AclLog(ConnectionContext& c) {
  int64_t count = 10;
  if (c.args.size() == 3) {
    if (EqualsIgnoreCase(c.args[2], "reset")) {
      acl::Registry::Global().ResetLog();
      c.reply.Ok();
      return;
    }
    auto v = store::ParseInt64(c.args[2]);
    if (!v) {
      c.reply.Error(store::errors::kNotInteger);
      return;
    }
    count = std::max<int64_t>(*v, 0);
  }
  const int64_t now = store::UnixTimeMs();
  std::vector<acl::LogEntry> entries = acl::Registry::Global().Log(static_cast<size_t>(count));
  c.reply.ArrayHeader(entries.size());
  for (const acl::LogEntry& e : entries) {
    c.reply.MapHeader(7);
    c.reply.Bulk("count");
    c.reply.Integer(static_cast<int64_t>(e.count));
    c.reply.Bulk("reason");
    c.reply.Bulk(e.reason == acl::Denied::kCommand ? "command"
                 : e.reason == acl::Denied::kKey   ? "key"
                 : e.reason == acl::Denied::kChannel ? "channel"
                 : e.reason == acl::Denied::kAuth  ? "auth"
                                                   : "unknown");
    c.reply.Bulk("context");
    c.reply.Bulk(e.context);
    c.reply.Bulk("object");
    c.reply.Bulk(e.object);
    c.reply.Bulk("username");
    c.reply.Bulk(e.username);
    c.reply.Bulk("age-seconds");
    c.reply.Double(static_cast<double>(now - e.ctime_ms) / 1000);
    c.reply.Bulk("client-info");
    c.reply.Bulk(e.client_info);
  }
}

void AclDryRun(ConnectionContext& c) {
  auto u = acl::Registry::Global().Find(c.args[2]);
  if (!u) {
    c.reply.Error("ERR User '" + std::string(c.args[2]) + "' not found");
    return;
  }
  const store::CommandSpec* spec = store::CommandTable::Global().Find(c.args[3]);
  if (!spec) {
    c.reply.Error("ERR Command '" + std::string(c.args[3]) + "' not found");
    return;
  }
  store::ArgList args = c.args.subspan(3);
  if (!spec->ArityOk(args.size())) {
    c.reply.Error(store::errors::WrongArity(spec->name));
    return;
  }
  acl::CheckResult r = acl::CheckCommand(*u, *spec, args);
  switch (r.denied) {
    case acl::Denied::kNone: c.reply.Ok(); return;
    case acl::Denied::kCommand:
      c.reply.Bulk("This user has no permissions to run the '" + acl::AclCommandIndex::Get().at(r.command_id).fullname +
                   "' command");
      return;
    case acl::Denied::kKey:
      c.reply.Bulk("This user has no permissions to access the '" + std::string(args[r.pos]) + "' key");
      return;
    default:
      c.reply.Bulk("This user has no permissions to access the '" + std::string(args[r.pos]) + "' channel");
      return;
  }
}

void AclLoad(ConnectionContext& c, const std::string& path) {
  std::vector<uint64_t> dropped;
  if (auto err = acl::Registry::Global().LoadFile(path, &dropped)) {
    c.reply.Error("ERR " + *err);
    return;
  }
  c.reply.Ok();
  DisconnectUsers(c, std::move(dropped));
}

void AclSave(ConnectionContext& c, const std::string& path) {
  std::string error;
  if (!acl::Registry::Global().SaveFile(path, &error)) {
    LOG_WARNING("%s", error.c_str());
    c.reply.Error("ERR There was an error trying to save the ACLs. Please check the server logs for more information");
    return;
  }
  c.reply.Ok();
}

void AclHelp(ConnectionContext& c) {
  c.reply.SimpleStringArray(std::initializer_list<const char*>{
      "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "CAT [<category>]",
      "    List all commands that belong to <category>, or all command categories",
      "    when no category is specified.", "DELUSER <username> [<username> ...]", "    Delete a list of users.",
      "DRYRUN <username> <command> [<arg> ...]",
      "    Returns whether the user can execute the given command without executing the command.",
      "GETUSER <username>", "    Get the user's details.", "GENPASS [<bits>]",
      "    Generate a secure 256-bit user password. The optional `bits` argument can",
      "    be used to specify a different size.", "LIST", "    Show users details in config file format.", "LOAD",
      "    Reload users from the ACL file.", "LOG [<count> | RESET]", "    Show the ACL log entries.", "SAVE",
      "    Save the current config to the ACL file.", "SETUSER <username> <attribute> [<attribute> ...]",
      "    Create or modify a user with the specified attributes.", "USERS",
      "    List all the registered usernames.", "WHOAMI", "    Return the current connection username.", "HELP",
      "    Prints this help."});
}

struct AclSubcommand {
  const char* name;
  int arity;  // of the whole command, as Redis 7.0's acl|<sub>
};
constexpr AclSubcommand kAclSubcommands[] = {
    {"cat", -2},  {"deluser", -3}, {"dryrun", -4}, {"genpass", -2}, {"getuser", 3}, {"help", 2},     {"list", 2},
    {"load", 2},  {"log", -2},     {"save", 2},    {"setuser", -3}, {"users", 2},   {"whoami", 2},
};

void AclCommand(ConnectionContext& c) {
  const std::string sub = store::ToLower(c.args[1]);
  const AclSubcommand* found = nullptr;
  for (const AclSubcommand& s : kAclSubcommands)
    if (sub == s.name) found = &s;
  if (!found) {
    c.reply.Error("ERR unknown subcommand '" + std::string(c.args[1].substr(0, 128)) + "'. Try ACL HELP.");
    return;
  }
  if (!store::CommandSpec::ArityAllows(found->arity, c.args.size())) {
    c.reply.Error(store::errors::WrongArity("acl|" + sub));
    return;
  }
  const size_t argc = c.args.size();
  if (sub == "setuser") return AclSetUser(c);
  if (sub == "deluser") return AclDelUser(c);
  if (sub == "getuser") return AclGetUser(c);
  if (sub == "list" || sub == "users") return AclList(c, sub == "users");
  if (sub == "whoami") {
    c.reply.Bulk(c.conn.acl.name());
    return;
  }
  const std::string aclfile = c.server.config().Snapshot().aclfile;
  if (aclfile.empty() && (sub == "load" || sub == "save")) {
    c.reply.Error(kNoAclFile);
    return;
  }
  if (sub == "load") return AclLoad(c, aclfile);
  if (sub == "save") return AclSave(c, aclfile);
  if (sub == "cat" && argc <= 3) return AclCat(c);
  if (sub == "genpass" && argc <= 3) return AclGenPass(c);
  if (sub == "log" && argc <= 3) return AclLog(c);
  if (sub == "dryrun") return AclDryRun(c);
  if (sub == "help") return AclHelp(c);
  ReplySubcommandSyntax(c);
}

}  // namespace

void RegisterAclFamily(store::CommandTable& t) {
  using namespace store;
  constexpr uint32_t kAnyState = kCmdLoading | kCmdStale;
  constexpr uint32_t kAdmin = kCmdAdmin | kCmdNoScript | kAnyState;
  CommandFamily(t, 0) << CommandRow("acl", -2, kAdmin)
                             .Connection(AclCommand)
                             .Container()
                             .Subcommands({Sub("cat", -2, kCmdNoScript | kAnyState), Sub("deluser", -3, kAdmin),
                                           Sub("dryrun", -4, kAdmin), Sub("genpass", -2, kCmdNoScript | kAnyState),
                                           Sub("getuser", 3, kAdmin), Sub("help", 2, kAnyState), Sub("list", 2, kAdmin),
                                           Sub("load", 2, kAdmin), Sub("log", -2, kAdmin), Sub("save", 2, kAdmin),
                                           Sub("setuser", -3, kAdmin), Sub("users", 2, kAdmin),
                                           Sub("whoami", 2, kCmdNoScript | kAnyState)});
}

std::optional<std::string> LoadAclAtStartup(const std::string& aclfile, const std::vector<std::string>& users) {
  if (!aclfile.empty() && !users.empty())
    return "Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. "
           "This setup is very likely to lead to configuration errors and security holes, please define either an "
           "ACL file or declare users directly in your redis.conf, but not both.";
  for (const std::string& line : users)
    if (auto err = acl::Registry::Global().AddConfiguredUser(line)) return *err;
  if (!aclfile.empty()) {
    std::vector<uint64_t> dropped;
    if (auto err = acl::Registry::Global().LoadFile(aclfile, &dropped))
      return "Aborting Redis startup because of ACL errors: " + *err;
  }
  return std::nullopt;
}

}  // namespace darter::server
