#include "server/acl/acl_registry.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "store/shard.h"
#include "store/string_util.h"

namespace darter::server::acl {

std::atomic<uint64_t> g_version{1};

namespace {

// Redis's ACLCreateDefaultUser.
User MakeDefaultUser(uint64_t identity) {
  User u = User::Fresh("default", identity);
  for (std::string_view op : {"+@all", "~*", "&*", "on", "nopass"}) u.Apply(op);
  u.Finish();
  return u;
}

bool HasSpaces(std::string_view s) {
  for (char c : s)
    if (std::isspace(static_cast<unsigned char>(c)) || c == 0) return true;
  return false;
}

std::string_view Trim(std::string_view s, std::string_view chars) {
  while (!s.empty() && chars.find(s.front()) != std::string_view::npos) s.remove_prefix(1);
  while (!s.empty() && chars.find(s.back()) != std::string_view::npos) s.remove_suffix(1);
  return s;
}

// Splits at every single space, as Redis's sdssplitlen: doubled spaces give empty words.
std::vector<std::string_view> SplitSpaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t sp = s.find(' ', start);
    out.push_back(s.substr(start, sp == std::string_view::npos ? std::string_view::npos : sp - start));
    if (sp == std::string_view::npos) break;
    start = sp + 1;
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::string>> MergeSelectorArguments(std::span<const std::string_view> args,
                                                               size_t* bad_index) {
  std::vector<std::string> out;
  std::string selector;
  std::optional<size_t> open;
  for (size_t j = 0; j < args.size(); ++j) {
    std::string_view op = args[j];
    if (!op.empty() && op.front() == '(' && op.back() != ')') {
      selector = op;
      open = j;
      continue;
    }
    if (open) {
      selector += " ";
      selector += op;
      if (!op.empty() && op.back() == ')') {
        open.reset();
        out.push_back(std::move(selector));
        selector.clear();
      }
      continue;
    }
    out.emplace_back(op);
  }
  if (open) {
    if (bad_index) *bad_index = *open;
    return std::nullopt;
  }
  return out;
}

Registry& Registry::Global() {
  static Registry* registry = new Registry();  // never destroyed: read by threads until exit
  return *registry;
}

Registry::Registry() {
  MutexLock lk(&mu_);
  users_["default"] = std::make_shared<const User>(MakeDefaultUser(NextIdentity()));
}

void Registry::Publish(std::shared_ptr<const User> u) {
  const bool is_default = u->name == "default";
  users_[u->name] = std::move(u);
  if (is_default) DefaultChanged();
  g_version.fetch_add(1, std::memory_order_acq_rel);
}

std::shared_ptr<const User> Registry::Find(std::string_view name) const {
  MutexLock lk(&mu_);
  auto it = users_.find(std::string(name));
  return it == users_.end() ? nullptr : it->second;
}

void Registry::DefaultChanged() {
  const User& d = *users_["default"];
  default_open_.store(d.nopass && d.enabled, std::memory_order_release);
  default_has_password_.store(!d.nopass, std::memory_order_release);
}

std::optional<std::string> Registry::SetUser(std::string_view name, std::span<const std::string> ops,
                                             std::shared_ptr<const User>* before,
                                             std::shared_ptr<const User>* after) {
  MutexLock lk(&mu_);
  auto it = users_.find(std::string(name));
  if (before) *before = it != users_.end() ? it->second : nullptr;
  User u = it != users_.end() ? *it->second : User::Fresh(std::string(name), 0);
  for (const std::string& op : ops) {
    if (auto err = u.Apply(op)) return "Error in ACL SETUSER modifier '" + op + "': " + *err;
  }
  if (u.identity == 0) u.identity = NextIdentity();
  u.Finish();
  auto published = std::make_shared<const User>(std::move(u));
  if (after) *after = published;
  Publish(std::move(published));
  return std::nullopt;
}

std::vector<uint64_t> Registry::DelUsers(std::span<const std::string_view> names) {
  MutexLock lk(&mu_);
  std::vector<uint64_t> removed;
  for (std::string_view n : names) {
    auto it = users_.find(std::string(n));
    if (it == users_.end() || n == "default") continue;
    removed.push_back(it->second->identity);
    users_.erase(it);
  }
  if (!removed.empty()) g_version.fetch_add(1, std::memory_order_acq_rel);
  return removed;
}

std::vector<std::shared_ptr<const User>> Registry::All() const {
  MutexLock lk(&mu_);
  std::vector<std::shared_ptr<const User>> out;
  for (auto& [name, u] : users_) out.push_back(u);
  return out;
}

void Registry::SetDefaultPassword(std::string_view password) {
  MutexLock lk(&mu_);
  User u = *users_["default"];
  u.Apply("resetpass");
  if (password.empty()) u.Apply("nopass");
  else u.Apply(">" + std::string(password));
  u.Finish();
  Publish(std::make_shared<const User>(std::move(u)));
}

std::shared_ptr<const User> Registry::Authenticate(std::string_view name, std::string_view password) const {
  auto u = Find(name);
  if (!u || !u->enabled || !u->PasswordMatches(password)) return nullptr;
  return u;
}

std::optional<std::string> Registry::LoadFile(const std::string& path, std::vector<uint64_t>* dropped) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "Error loading ACLs, opening file '" + path + "': " + std::strerror(errno);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();

  std::string errors;
  std::map<std::string, User> loaded;
  size_t linenum = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t nl = text.find('\n', start);
    std::string_view line(text.data() + start, (nl == std::string::npos ? text.size() : nl) - start);
    start = nl == std::string::npos ? text.size() + 1 : nl + 1;
    ++linenum;
    const std::string where = path + ":" + std::to_string(linenum);
    line = Trim(line, " \t\r\n");
    if (line.empty()) continue;
    std::vector<std::string_view> argv = SplitSpaces(line);
    if (argv[0] != "user" || argv.size() < 2) {
      errors += where + " should start with user keyword followed by the username. ";
      continue;
    }
    if (HasSpaces(argv[1])) {
      errors += "'" + where + ": username '" + std::string(argv[1]) + "' contains invalid characters. ";
      continue;
    }
    std::string name(argv[1]);
    if (loaded.count(name)) {
      errors += "WARNING: Duplicate user '" + name + "' found on line " + std::to_string(linenum) + ". ";
      continue;
    }
    User u = User::Fresh(name, 0);
    auto merged = MergeSelectorArguments(std::span(argv).subspan(2), nullptr);
    if (!merged) {
      errors += where + ": Unmatched parenthesis in selector definition.";
      continue;
    }
    for (std::string& op : *merged) {
      std::string_view rule = Trim(op, "\t\r\n");
      if (auto err = u.Apply(rule))
        errors += where + ": Error in applying operation '" + std::string(rule) + "': " + *err + ". ";
    }
    u.Finish();
    loaded.emplace(name, std::move(u));
  }
  if (!errors.empty())
    return errors + "WARNING: ACL errors detected, no change to the previously active ACL rules was performed";

  MutexLock lk(&mu_);
  // The default user keeps its identity (Redis copies the new rules into it); every other
  // user is new, and the clients of the old ones are disconnected.
  const uint64_t default_identity = users_["default"]->identity;
  for (auto& [name, u] : users_)
    if (name != "default") dropped->push_back(u->identity);
  users_.clear();
  if (!loaded.count("default")) loaded.emplace("default", MakeDefaultUser(0));
  for (auto& [name, u] : loaded) {
    u.identity = name == "default" ? default_identity : NextIdentity();
    users_[name] = std::make_shared<const User>(std::move(u));
  }
  DefaultChanged();
  g_version.fetch_add(1, std::memory_order_acq_rel);
  return std::nullopt;
}

bool Registry::SaveFile(const std::string& path, std::string* error) const {
  std::string text;
  for (const auto& u : All()) text += "user " + u->name + " " + u->Describe() + "\n";
  const std::string tmp = path + ".tmp-" + std::to_string(getpid()) + "-" + std::to_string(store::UnixTimeMs());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd == -1) {
    *error = std::string("Opening temp ACL file for ACL SAVE: ") + std::strerror(errno);
    return false;
  }
  ssize_t n = write(fd, text.data(), text.size());
  int write_errno = errno;
  close(fd);
  if (n != static_cast<ssize_t>(text.size())) {
    *error = std::string("Writing ACL file for ACL SAVE: ") + std::strerror(write_errno);
    unlink(tmp.c_str());
    return false;
  }
  if (rename(tmp.c_str(), path.c_str()) == -1) {
    *error = std::string("Renaming ACL file for ACL SAVE: ") + std::strerror(errno);
    unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::optional<std::string> Registry::AddConfiguredUser(std::string_view line) {
  std::vector<std::string_view> argv;
  for (std::string_view w : SplitSpaces(line))
    if (!w.empty()) argv.push_back(w);
  if (argv.empty()) return "Error in user declaration '': Syntax error";
  std::string name(argv[0]);
  size_t bad = 0;
  auto merged = MergeSelectorArguments(std::span(argv).subspan(1), &bad);
  if (!merged) return "Error in user declaration '" + std::string(argv[1 + bad]) + "': Unmatched parenthesis";
  MutexLock lk(&mu_);
  auto it = users_.find(name);
  // A configured user is defined once; "default" starts from reset (Redis's
  // ACLLoadConfiguredUsers).
  User u = it != users_.end() ? *it->second : User::Fresh(name, 0);
  if (name == "default") u.Apply("reset");
  // Redis validates the rules when it reads the configuration (all but unknown commands,
  // which modules could add later) and applies them at start-up: two messages.
  for (const std::string& op : *merged) {
    auto err = u.Apply(op);
    if (!err) continue;
    if (*err == "Unknown command or category name in ACL")
      return "Error loading ACL rule '" + op + "' for the user named '" + name + "': " + *err;
    return "Error in user declaration '" + op + "': " + *err;
  }
  if (u.identity == 0) u.identity = NextIdentity();
  u.Finish();
  Publish(std::make_shared<const User>(std::move(u)));
  return std::nullopt;
}

void Registry::AddLogEntry(LogEntry e) {
  MutexLock lk(&mu_);
  // Redis groups an event with one of the 10 newest entries of the same reason, context,
  // object and user within 60 s: that entry moves to the front and counts one more.
  for (size_t i = 0; i < log_.size() && i < 10; ++i) {
    LogEntry& cur = log_[i];
    if (cur.reason != e.reason || cur.context != e.context || cur.object != e.object ||
        cur.username != e.username || std::llabs(cur.ctime_ms - e.ctime_ms) > 60000)
      continue;
    LogEntry match = std::move(cur);
    log_.erase(log_.begin() + static_cast<std::ptrdiff_t>(i));
    match.count++;
    match.ctime_ms = e.ctime_ms;
    match.client_info = std::move(e.client_info);
    log_.push_front(std::move(match));
    return;
  }
  log_.push_front(std::move(e));
  while (log_.size() > log_max_len_) log_.pop_back();
}

std::vector<LogEntry> Registry::Log(size_t count) const {
  MutexLock lk(&mu_);
  return std::vector<LogEntry>(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(std::min(count, log_.size())));
}

void Registry::ResetLog() {
  MutexLock lk(&mu_);
  log_.clear();
}

void Registry::SetLogMaxLen(uint64_t n) {
  MutexLock lk(&mu_);
  log_max_len_ = n;
  while (log_.size() > log_max_len_) log_.pop_back();
}

const std::string& ClientAcl::name() const {
  static const std::string kDefault = "default";
  return user_ ? user_->name : kDefault;
}

void ClientAcl::Set(std::shared_ptr<const User> user) {
  version_ = g_version.load(std::memory_order_acquire);
  user_ = std::move(user);
}

void ClientAcl::SetDefault() { Set(Registry::Global().Default()); }

void ClientAcl::Refresh() {
  const uint64_t v = g_version.load(std::memory_order_acquire);
  if (!user_) {
    user_ = Registry::Global().Default();
  } else {
    auto u = Registry::Global().Find(user_->name);
    if (u && u->identity == user_->identity) {
      user_ = std::move(u);
    } else {
      // The user was deleted (its clients are being disconnected): until then the
      // connection may do nothing.
      User none = User::Fresh(user_->name, user_->identity);
      none.selectors[0].all_channels = false;
      none.Finish();
      user_ = std::make_shared<const User>(std::move(none));
    }
  }
  version_ = v;
}

}  // namespace darter::server::acl
