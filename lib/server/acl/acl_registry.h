// The table of ACL users, the ACL log, and the ACL file.
//
// Users are immutable values behind shared_ptrs (acl_user.h). A change (SETUSER, DELUSER,
// LOAD, CONFIG SET requirepass) builds new values and publishes them under the
// registry's mutex, then bumps a global version counter. A connection keeps the User it
// is authenticated as and the version it read it at (ClientAcl below); before a command
// it compares the counter — one relaxed-then-acquire atomic load — and only when it moved
// looks its user up again, by name and identity. So a change applies to every client
// authenticated as the user from its next command on, and the check for a user allowed
// everything costs one load and one flag test.
//
// Thread-safety: every Registry method may be called from any thread (the mutex guards
// the table and the log). ClientAcl belongs to its connection's thread, except Snapshot(),
// which a script's thread may read while the connection awaits the script.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/acl/acl_user.h"
#include "store/thread_annotations.h"

namespace darter::server::acl {

// Bumped after every change to the table.
extern std::atomic<uint64_t> g_version;

struct LogEntry {
  uint64_t count = 1;
  Denied reason = Denied::kCommand;
  std::string context;  // toplevel, multi, lua
  std::string object;
  std::string username;
  int64_t ctime_ms = 0;
  std::string client_info;
};

class Registry {
 public:
  static Registry& Global();
  Registry();

  std::shared_ptr<const User> Find(std::string_view name) const;
  std::shared_ptr<const User> Default() const { return Find("default"); }
  // Whether a new client is authenticated at once: the default user is on and nopass
  // (Redis's authRequired() is false).
  // Read on every client read (the parser's unauthenticated caps): an atomic.
  bool DefaultUserOpen() const { return default_open_.load(std::memory_order_acquire); }
  // Whether the default user has a password (protected-mode's "password set").
  bool DefaultUserHasPassword() const { return default_has_password_.load(std::memory_order_acquire); }

  // ACL SETUSER: applies `ops` (selectors already merged) to a copy of the user (or a fresh
  // one) and publishes it; on error returns the reply without "ERR " and changes nothing.
  // `*before` / `*after` (when given) get the user as it was (null: new) and as published.
  std::optional<std::string> SetUser(std::string_view name, std::span<const std::string> ops,
                                     std::shared_ptr<const User>* before = nullptr,
                                     std::shared_ptr<const User>* after = nullptr);
  // ACL DELUSER: removes the users (not "default"); returns the identities removed.
  std::vector<uint64_t> DelUsers(std::span<const std::string_view> names);
  std::vector<std::shared_ptr<const User>> All() const;  // by name
  // requirepass: resetpass, then >password, or nopass when empty.
  void SetDefaultPassword(std::string_view password);

  // The credentials check of AUTH / HELLO AUTH: the user when `name` exists, is on and
  // `password` matches; null otherwise.
  std::shared_ptr<const User> Authenticate(std::string_view name, std::string_view password) const;

  // ACL file. Load replaces the whole table (keeping the default user's identity) only
  // when every line is valid, else returns Redis's error text and changes nothing; on
  // success `*dropped` gets the identities of the users it replaced (their clients are
  // disconnected, as Redis frees every old user). `label` names the file in errors.
  std::optional<std::string> LoadFile(const std::string& path, std::vector<uint64_t>* dropped);
  bool SaveFile(const std::string& path, std::string* error) const;
  // Users from start-up flags (--user "<name> <rules>"): the same rules, each line
  // validated; returns the error text.
  std::optional<std::string> AddConfiguredUser(std::string_view line);

  // The ACL log (ACL LOG): newest first, at most max_len entries.
  void AddLogEntry(LogEntry entry);
  std::vector<LogEntry> Log(size_t count) const;
  void ResetLog();
  void SetLogMaxLen(uint64_t n);

 private:
  uint64_t NextIdentity() REQUIRES(mu_) { return ++next_identity_; }
  void Publish(std::shared_ptr<const User> u) REQUIRES(mu_);
  void DefaultChanged() REQUIRES(mu_);

  mutable Mutex mu_;
  std::map<std::string, std::shared_ptr<const User>> users_ GUARDED_BY(mu_);
  uint64_t next_identity_ GUARDED_BY(mu_) = 0;
  std::deque<LogEntry> log_ GUARDED_BY(mu_);
  uint64_t log_max_len_ GUARDED_BY(mu_) = 128;
  std::atomic<bool> default_open_{true};
  std::atomic<bool> default_has_password_{false};
};

// The user a connection is authenticated as (Redis's c->user), cached per connection.
class ClientAcl {
 public:
  ClientAcl() { SetDefault(); }
  // The connection's user, looked up again when the table changed. Own thread only.
  const User& Current() {
    if (!user_ || version_ != g_version.load(std::memory_order_acquire)) Refresh();
    return *user_;
  }
  // The user as of the last Current() (a script's thread reads this).
  const User& Snapshot() const { return *user_; }
  const std::string& name() const;
  uint64_t identity() const { return user_ ? user_->identity : 0; }
  void Set(std::shared_ptr<const User> user);
  // Back to the default user (RESET, a deleted user).
  void SetDefault();

 private:
  void Refresh();
  std::shared_ptr<const User> user_;
  uint64_t version_ = 0;
};

// ACL SETUSER's argument merging (Redis's ACLMergeSelectorArguments): a selector "(...)"
// spread over several arguments is joined with spaces. nullopt with *bad_index set to the
// argument that opens an unmatched parenthesis.
std::optional<std::vector<std::string>> MergeSelectorArguments(std::span<const std::string_view> args,
                                                               size_t* bad_index);

}  // namespace darter::server::acl
