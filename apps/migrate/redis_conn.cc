#include "migrate/redis_conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdlib>
#include <cstring>

namespace darter::migrate {

std::string ReplyText(const redisReply* r) {
  if (!r) return "";
  switch (r->type) {
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
      return std::string(r->str, r->len);
    case REDIS_REPLY_INTEGER:
      return std::to_string(r->integer);
    case REDIS_REPLY_NIL:
      return "(nil)";
    default:
      return "";
  }
}

bool IsError(const redisReply* r) { return r == nullptr || r->type == REDIS_REPLY_ERROR; }

RedisConn::~RedisConn() {
  if (ctx_) redisFree(ctx_);
}

std::optional<std::string> RedisConn::Connect(const std::string& what, const std::string& host, int port,
                                              const std::string& user, const std::string& password,
                                              std::chrono::milliseconds timeout) {
  what_ = what;
  error_.clear();
  if (ctx_) redisFree(ctx_);
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
  ctx_ = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!ctx_ || ctx_->err) {
    error_ = "cannot connect to " + what + ": " + (ctx_ ? std::string(ctx_->errstr) : "out of memory");
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
    return error_;
  }
  redisSetTimeout(ctx_, tv);
  if (!password.empty()) {
    ReplyPtr r = user.empty() ? Cmd({"AUTH", password}) : Cmd({"AUTH", user, password});
    if (!r) return error_;
    if (r->type == REDIS_REPLY_ERROR) {
      error_ = what + " refused AUTH" + (user.empty() ? "" : " for user '" + user + "'") + ": " + ReplyText(r.get());
      return error_;
    }
  }
  ReplyPtr pong = Cmd({"PING"});
  if (!pong) return error_;
  if (pong->type == REDIS_REPLY_ERROR) {
    std::string msg = ReplyText(pong.get());
    error_ = what + " answered PING with -" + msg +
             (msg.rfind("NOAUTH", 0) == 0 ? " (give the password: redis://[user:]password@host:port)" : "");
    return error_;
  }
  return std::nullopt;
}

ReplyPtr RedisConn::Cmd(const std::vector<std::string>& argv) {
  if (!ctx_ || !error_.empty()) {
    if (error_.empty()) error_ = "not connected to " + what_;
    return nullptr;
  }
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (auto& a : argv) {
    ptrs.push_back(a.data());
    lens.push_back(a.size());
  }
  void* r = redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  if (!r) {
    error_ = "lost the connection to " + what_ + ": " + std::string(ctx_->errstr);
    return nullptr;
  }
  return ReplyPtr(static_cast<redisReply*>(r));
}

std::vector<ReplyPtr> RedisConn::Pipeline(const std::vector<std::vector<std::string>>& cmds) {
  std::vector<ReplyPtr> out;
  if (!ctx_ || !error_.empty()) return out;
  std::vector<const char*> ptrs;
  std::vector<size_t> lens;
  for (auto& argv : cmds) {
    ptrs.clear();
    lens.clear();
    for (auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data());
  }
  for (size_t i = 0; i < cmds.size(); ++i) {
    void* r = nullptr;
    if (redisGetReply(ctx_, &r) != REDIS_OK || !r) {
      error_ = "lost the connection to " + what_ + ": " + std::string(ctx_->errstr);
      break;
    }
    out.emplace_back(static_cast<redisReply*>(r));
  }
  return out;
}

std::string RedisConn::LocalAddress() const {
  if (!ctx_) return "";
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getsockname(ctx_->fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr, buf, sizeof buf);
  return buf;
}

std::map<std::string, std::string> RedisConn::Info(const std::string& section) {
  std::map<std::string, std::string> out;
  ReplyPtr r = Cmd({"INFO", section});
  if (!r || r->type != REDIS_REPLY_STRING) return out;
  std::string text(r->str, r->len);
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string line = text.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    out[line.substr(0, colon)] = line.substr(colon + 1);
  }
  return out;
}

long long InfoInt(const std::map<std::string, std::string>& info, const std::string& field, long long dflt) {
  auto it = info.find(field);
  if (it == info.end() || it->second.empty()) return dflt;
  char* end = nullptr;
  long long v = std::strtoll(it->second.c_str(), &end, 10);
  return end == it->second.c_str() ? dflt : v;
}

std::string InfoStr(const std::map<std::string, std::string>& info, const std::string& field) {
  auto it = info.find(field);
  return it == info.end() ? std::string() : it->second;
}

}  // namespace darter::migrate
